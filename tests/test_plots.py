"""vaxlib.plots.wrap_label: chart labels broken for a phone (table-driven)."""
import pytest

from vaxlib.plots import wrap_label

CASES = [
    ("Sai ngày sinh", 24, "Sai ngày sinh"),
    ("Trạm Y tế phường 3 (CS-79-0001)", 22, "Trạm Y tế phường 3<br>(CS-79-0001)"),
    ("a b c d", 3, "a b<br>c d"),
    ("Siêudàikhôngcắtđược x", 5, "Siêudàikhôngcắtđược<br>x"),   # a word longer than the width stays whole
    ("Bệnh viện <Quận 1> & Co", 40, "Bệnh viện &lt;Quận 1&gt; &amp; Co"),  # never read as markup
    ("", 10, ""),
]


@pytest.mark.parametrize("text,width,expected", CASES)
def test_wrap_label(text, width, expected):
    assert wrap_label(text, width) == expected
    assert all(len(line) <= width or " " not in line for line in wrap_label(text, width).split("<br>"))
