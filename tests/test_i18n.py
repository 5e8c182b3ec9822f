"""vaxlib.i18n: one table of words, Vietnamese number/date conventions."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vaxlib import i18n


def test_every_key_has_both_languages_and_nfc_text():
    import unicodedata

    for key, entry in i18n.STRINGS.items():
        assert set(entry) == {"vi", "en"}, key
        for text in entry.values():
            assert text and unicodedata.normalize("NFC", text) == text, key


def test_vietnamese_is_the_default_and_unknown_keys_fail():
    assert i18n.t("review.save") == "Lưu"
    assert i18n.t("review.save", "en") == "Save"
    with pytest.raises(KeyError):
        i18n.t("review.no_such_key")
    with pytest.raises(ValueError):
        i18n.t("review.save", "fr")


@pytest.mark.parametrize("fn,value,vi,en", [
    (i18n.fmt_int, 1234567, "1.234.567", "1,234,567"),
    (i18n.fmt_int, None, "—", "—"),
    (i18n.fmt_decimal, 1234.56, "1.234,6", "1,234.6"),
    (i18n.fmt_pct, 0.1234, "12,3%", "12.3%"),
    (i18n.fmt_pct, 1.0, "100,0%", "100.0%"),
    (i18n.fmt_pct, float("nan"), "—", "—"),
    (i18n.fmt_date, "2021-03-17", "17/03/2021", "17 Mar 2021"),
    (i18n.fmt_date, dt.date(2022, 4, 5), "05/04/2022", "05 Apr 2022"),
    (i18n.fmt_date, "1990-03", "03/1990", "03/1990"),
    (i18n.fmt_date, "1990", "1990", "1990"),
    (i18n.fmt_date, "17/3/21", "17/3/21", "17/3/21"),  # typed text is shown as typed
    (i18n.fmt_duration, 1452, "60 ngày 12 giờ", "60 days 12 hours"),
    (i18n.fmt_duration, 5.9, "5 giờ", "5 hours"),
    (i18n.fmt_duration, 25, "1 ngày 1 giờ", "1 day 1 hour"),
])
def test_formats(fn, value, vi, en):
    assert fn(value, "vi") == vi
    assert fn(value, "en") == en


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), st.integers(0, 3))
def test_decimal_comma_round_trips(x, digits):
    vi = i18n.fmt_decimal(x, "vi", digits)
    assert "." not in vi.split(",")[-1] or digits == 0
    back = float(vi.replace(".", "").replace(",", "."))
    assert back == pytest.approx(round(x, digits), abs=10 ** -digits)


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_dates_are_dd_mm_yyyy(d):
    text = i18n.fmt_date(d.isoformat(), "vi")
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", text)
    assert dt.datetime.strptime(text, "%d/%m/%Y").date() == d


def test_labels_module_reexports_the_same_tables():
    from vaxlib.review import labels

    assert labels.ERROR_LABELS is i18n.ERROR_LABELS
    assert labels.error_label("dob:day_month_swap") == "Đảo ngày và tháng sinh"
