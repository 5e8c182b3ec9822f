"""Legacy Vietnamese encodings, detection and mojibake repair."""
from __future__ import annotations

import shutil
import subprocess
import unicodedata

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaxlib.vn.encodings import (
    decode_bytes,
    decode_cp1258,
    decode_tcvn3,
    decode_vni,
    detect_text_encoding,
    encode_cp1258,
    encode_tcvn3,
    encode_vni,
    repair_text,
    repair_texts,
    text_encoding_of,
    vietnamese_score,
)

TONES = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]
BASES = ["a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y"]
LOWER = [unicodedata.normalize("NFC", b + t) for b in BASES for t in TONES] + ["đ"]
UPPER = [c.upper() for c in LOWER]
ALL_LETTERS = LOWER + UPPER
assert len(set(ALL_LETTERS)) == 2 * (12 * 6 + 1)

NAMES = [
    "Nguyễn Thị Hồng", "Trần Văn Đức", "Lê Thị Hoà", "Phạm Minh Tuấn", "Đặng Quốc Khánh",
    "Huỳnh Thị Thuỷ", "Võ Văn Kiệt", "Bùi Thị Xuân", "Trương Mỹ Lan", "Ngô Bảo Châu",
    "Đỗ Thị Quỳnh Như", "Dương Văn Minh", "Hồ Xuân Hương", "Lý Thường Kiệt", "Phan Bội Châu",
    "Vũ Trọng Phụng", "Đinh Tiên Hoàng", "Nguyễn Ánh Tuyết", "Trịnh Công Sơn", "Lương Thế Vinh",
]
FAMILIES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Vũ", "Đặng", "Bùi", "Đỗ",
            "Hồ", "Ngô", "Dương", "Lý", "Trương"]
GIVEN = ["Văn", "Thị", "Hữu", "Đức", "Ngọc", "Thuỷ", "Hòa", "Khoẻ", "Quý", "Tuấn", "Yến",
         "Uyên", "Dũng", "Ánh", "Hương", "Thắng", "Phượng", "Nhật", "Kiều", "Trinh"]
names = st.builds(lambda f, g: " ".join([f, *g]), st.sampled_from(FAMILIES),
                  st.lists(st.sampled_from(GIVEN), min_size=1, max_size=3))


def tcvn3_expected(text: str) -> str:
    """What TCVN3 (VN3) gives back: a capital with a tone comes back lower-case."""
    out = []
    for ch in text:
        tone = any(m in unicodedata.normalize("NFD", ch) for m in TONES[1:])
        out.append(ch.lower() if ch.isupper() and tone else ch)
    return "".join(out)


# ------------------------------------------------------------------- TCVN3
@pytest.mark.parametrize(
    "text, data",
    [
        ("Nguyễn", b"Nguy\xd4n"),  # libiconv tcvn.h: U+1EC5 -> 0xD4
        ("Thị", b"Th\xde"),
        ("Hồng", b"H\xe5ng"),
        ("Đặng", b"\xa7\xc6ng"),
        ("Trương", b"Tr\xad\xacng"),  # ư = 0xAD (soft hyphen in cp1252), ơ = 0xAC
        ("Ă Â Ê Ô Ơ Ư Đ", b"\xa1 \xa2 \xa3 \xa4 \xa5 \xa6 \xa7"),
    ],
)
def test_tcvn3_known_bytes(text, data):
    assert encode_tcvn3(text) == data
    assert decode_tcvn3(data) == text


@pytest.mark.parametrize("letter", ALL_LETTERS)
def test_tcvn3_round_trips_every_letter(letter):
    assert decode_tcvn3(encode_tcvn3(letter)) == tcvn3_expected(letter)
    assert decode_tcvn3(encode_tcvn3(letter, variant="vn1")) == letter


def test_tcvn3_capitals_with_tones_use_lower_case_codes():
    assert encode_tcvn3("Ễ") == encode_tcvn3("ễ")
    assert decode_tcvn3(encode_tcvn3("NGUYỄN THỊ")) == "NGUYễN THị"
    assert encode_tcvn3("Ễ", variant="vn1") != encode_tcvn3("ễ")


def test_tcvn3_combining_marks_in_input_are_composed():
    # TCVN 5712 also has separate tone marks 0xB0-0xB4; decoding composes them.
    assert decode_tcvn3(b"Nguy\xaa\xb2n") == "Nguyễn"


@pytest.mark.skipif(shutil.which("iconv") is None, reason="no iconv")
def test_tcvn3_table_agrees_with_glibc_iconv():
    data = bytes(range(0x80, 0x100)) + bytes(range(0x20, 0x7F))
    proc = subprocess.run(["iconv", "-f", "TCVN5712-1", "-t", "UTF-8"], input=data,
                          capture_output=True, check=False)
    if proc.returncode != 0:
        pytest.skip("iconv has no TCVN5712-1")
    assert unicodedata.normalize("NFC", proc.stdout.decode("utf-8")) == decode_tcvn3(data)


@given(st.text(alphabet=st.sampled_from(ALL_LETTERS + list("abcdghklmnpqrstvx ,.-0123456789"))))
def test_tcvn3_round_trip_property(text):
    assert decode_tcvn3(encode_tcvn3(text)) == tcvn3_expected(text)
    assert decode_tcvn3(encode_tcvn3(text, variant="vn1")) == text


def test_tcvn3_unencodable():
    with pytest.raises(UnicodeEncodeError):
        encode_tcvn3("東京")
    assert encode_tcvn3("東", errors="replace") == b"?"


# --------------------------------------------------------------------- VNI
@pytest.mark.parametrize(
    "text, shown",
    [
        ("Nguyễn", "Nguyeãn"),
        ("Thị", "Thò"),
        ("Hồng", "Hoàng"),
        ("Đức", "Ñöùc"),
        ("Trương", "Tröông"),
        ("Văn", "Vaên"),
        ("Quỳnh", "Quyønh"),
        ("Kỵ", "Kî"),
        ("NGUYỄN", "NGUYEÃN"),
    ],
)
def test_vni_known_sequences(text, shown):
    assert encode_vni(text) == shown.encode("cp1252")
    assert decode_vni(shown.encode("cp1252")) == text


@pytest.mark.parametrize("letter", ALL_LETTERS)
def test_vni_round_trips_every_letter(letter):
    assert decode_vni(encode_vni(letter)) == letter


@given(st.text(alphabet=st.sampled_from(ALL_LETTERS + list("bcdghklmnpqrstvxBCDGHKLMNPQRSTVX ,.-0189"))))
def test_vni_round_trip_property(text):
    assert decode_vni(encode_vni(text)) == text


# ------------------------------------------------------------ Windows-1258
@pytest.mark.parametrize("name", NAMES)
def test_cp1258_decodes_to_nfc(name):
    data = encode_cp1258(name)
    assert decode_cp1258(data) == name
    assert unicodedata.is_normalized("NFC", decode_cp1258(data))


def test_cp1258_stores_tones_decomposed():
    # ễ = ê (0xEA) + combining tilde (0xDE) in Windows-1258
    assert encode_cp1258("ễ") == b"\xea\xde"
    assert decode_cp1258(b"Nguy\xea\xden") == "Nguyễn"


# ------------------------------------------------------------ decode_bytes
def csv_of(names_: list[str]) -> str:
    rows = ["Họ và tên,Ngày sinh,Giới tính,Số CMND/CCCD"]
    for i, n in enumerate(names_):
        rows.append(f"{n},{1 + i % 28:02d}/0{1 + i % 9}/19{50 + i % 50},{'Nữ' if ' Thị ' in n else 'Nam'},"
                    f"0790{i:08d}")
    return "\n".join(rows) + "\n"


def sloppy_cp1252(data: bytes) -> str:
    return "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in data)


ENCODERS = {
    "utf-8": lambda s: s.encode("utf-8"),
    "utf-8-sig": lambda s: s.encode("utf-8-sig"),
    "utf-16": lambda s: s.encode("utf-16"),
    "cp1258": encode_cp1258,
    "vni-windows": encode_vni,
    "tcvn3": encode_tcvn3,
    "cp1252-mojibake-utf8": lambda s: sloppy_cp1252(s.encode("utf-8")).encode("utf-8"),
    "tcvn3-as-cp1252": lambda s: sloppy_cp1252(encode_tcvn3(s)).encode("utf-8"),
    "vni-as-cp1252": lambda s: sloppy_cp1252(encode_vni(s)).encode("utf-8"),
}


@pytest.mark.parametrize("label", list(ENCODERS))
@pytest.mark.parametrize("n", [3, 20])
def test_decode_bytes_recognises_encoding(label, n):
    text = csv_of(NAMES[:n])
    decoded = decode_bytes(ENCODERS[label](text))
    assert decoded.encoding == label
    expected = tcvn3_expected(text) if label.startswith("tcvn3") else text
    assert decoded.text == expected
    assert 0.0 <= decoded.confidence <= 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(names, min_size=5, max_size=30), st.sampled_from(["cp1258", "vni-windows", "tcvn3"]))
def test_decode_bytes_legacy_property(name_list, label):
    text = csv_of(name_list)
    decoded = decode_bytes(ENCODERS[label](text))
    assert decoded.encoding == label
    expected = tcvn3_expected(text) if label == "tcvn3" else text
    assert decoded.text == expected


def test_decode_bytes_ascii_and_non_vietnamese():
    assert decode_bytes(b"ho_ten,ngay_sinh\nNguyen Van An,01/01/1990\n") == (
        "ho_ten,ngay_sinh\nNguyen Van An,01/01/1990\n", "utf-8", 1.0)
    western = "Café crème, naïve résumé déjà vu\nMüller, Straße, Köln\n"
    d = decode_bytes(western.encode("cp1252"))
    assert (d.text, d.encoding) == (western, "cp1252")
    russian = "Привет мир, как дела? Всё хорошо, спасибо.\n"
    d = decode_bytes(russian.encode("cp1251"))
    assert d.text == russian


def test_decode_bytes_utf16_without_bom():
    text = csv_of(NAMES[:5])
    d = decode_bytes(text.encode("utf-16-le"))
    assert (d.text, d.encoding) == (text, "utf-16")


# -------------------------------------------------------------- repair_text
@pytest.mark.parametrize(
    "garbled, fixed, label",
    [
        ("Nguyá»…n Thá»‹ Há»“ng", "Nguyễn Thị Hồng", "utf8-as-cp1252"),
        ("Nguyá»\x85n Thá»\x8b Há»\x93ng", "Nguyễn Thị Hồng", "utf8-as-cp1252"),  # via Latin-1
        ("Tráº§n VÄƒn Ä\x90á»©c", "Trần Văn Đức", "utf8-as-cp1252"),
        ("NguyÔn ThÞ Hång", "Nguyễn Thị Hồng", "tcvn3-as-cp1252"),
        ("§Æng Quèc Kh¸nh", "Đặng Quốc Khánh", "tcvn3-as-cp1252"),
        ("Tr\xad¬ng Mü Lan", "Trương Mỹ Lan", "tcvn3-as-cp1252"),
        ("Lª Hµ", "Lê Hà", "tcvn3-as-cp1252"),
        ("Nguyeãn Thò Hoàng", "Nguyễn Thị Hồng", "vni-as-cp1252"),
        ("Ñaëng Quoác Khaùnh", "Đặng Quốc Khánh", "vni-as-cp1252"),
        ("Tröông Myõ Lan", "Trương Mỹ Lan", "vni-as-cp1252"),
    ],
)
def test_repair_text(garbled, fixed, label):
    assert repair_text(garbled) == fixed
    assert text_encoding_of(garbled) == label


@pytest.mark.parametrize(
    "good",
    NAMES + ["Lê Hà", "Hà Nội", "Nguyen Van An", "José Müller", "Café", "", "Ngô Bảo Châu (GS)",
             "Trần Thị Thuỷ", "Đà Nẵng", "Hòa Bình", "Phú Thọ"],
)
def test_repair_text_leaves_good_text(good):
    assert repair_text(good) == good
    assert text_encoding_of(good) == "unicode"


@given(names)
def test_repair_text_leaves_valid_vietnamese_unchanged(name):
    assert repair_text(name) == name
    assert repair_text(name.upper()) == name.upper()


@settings(max_examples=60)
@given(names, st.sampled_from(["utf8", "tcvn3", "vni"]))
def test_repair_text_undoes_garbling(name, how):
    garbled = {
        "utf8": sloppy_cp1252(name.encode("utf-8")),
        "tcvn3": sloppy_cp1252(encode_tcvn3(name)),
        "vni": sloppy_cp1252(encode_vni(name)),
    }[how]
    expected = tcvn3_expected(name) if how == "tcvn3" else name
    if vietnamese_score(garbled) >= 1.0:
        # The garbled text is itself good Vietnamese (VNI 'Hồ Thị' reads
        # 'Hoà Thò'): per-string repair must leave it; the column repair fixes it.
        assert repair_text(garbled) == garbled
        label = {"utf8": "utf8-as-cp1252", "tcvn3": "tcvn3-as-cp1252", "vni": "vni-as-cp1252"}[how]
        assert repair_texts(pd.Series([garbled]), assume=label).tolist() == [expected]
    else:
        assert repair_text(garbled) == expected


def test_column_repair_resolves_garbling_that_looks_valid():
    vni = [sloppy_cp1252(encode_vni(n)) for n in NAMES] + ["Hoà Thò"]  # VNI 'Hồ Thị'
    assert repair_text("Hoà Thò") == "Hoà Thò"
    out = repair_texts(pd.Series(vni), assume="auto")
    assert out.tolist() == NAMES + ["Hồ Thị"]
    with pytest.raises(ValueError):
        repair_texts(pd.Series(vni), assume="latin-9")


def test_detect_text_encoding_and_repair_texts():
    good = pd.Series(NAMES + [None, "Nguyen Van An"])
    assert detect_text_encoding(good) == "unicode"
    tcvn = [sloppy_cp1252(encode_tcvn3(n)) for n in NAMES]
    assert detect_text_encoding(tcvn + [None]) == "tcvn3-as-cp1252"
    vni = [sloppy_cp1252(encode_vni(n)) for n in NAMES]
    assert detect_text_encoding(vni) == "vni-as-cp1252"
    moj = [sloppy_cp1252(n.encode()) for n in NAMES]
    assert detect_text_encoding(moj) == "utf8-as-cp1252"
    out = repair_texts(pd.Series(moj + [None], index=range(100, 121)))
    assert out.tolist() == NAMES + [None]
    assert out.index[0] == 100


def test_vietnamese_score_orders_readings():
    good = "Nguyễn Thị Hồng"
    assert vietnamese_score(good) == 1.0
    assert vietnamese_score("NguyÔn ThÞ Hång") < 0
    assert vietnamese_score("Nguyá»…n Thá»‹ Há»“ng") < 0


def test_decode_bytes_repairs_garbled_lines_and_keeps_good_ones():
    # Most lines were garbled (UTF-8 read as cp1252, saved as UTF-8); one
    # line typed later is good Unicode that cp1252 cannot hold.
    good_line = "Trịnh Công Sơn,28/02/1939,Nam,079000000099\n"
    text = csv_of(NAMES)
    garbled = sloppy_cp1252(text.encode("utf-8")) + good_line
    d = decode_bytes(garbled.encode("utf-8"))
    assert d.encoding == "cp1252-mojibake-utf8"
    assert d.text == text + good_line
