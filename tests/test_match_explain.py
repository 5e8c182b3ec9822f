"""The waterfall explanation of a record–candidate pair."""
import pytest

from vaxlib.match.compare import FIELDS
from vaxlib.match.explain import waterfall_data, waterfall_figure

BF = {"name": 14.0, "dob": 2.25, "id": 0.0, "sex": 1.0, "province": 4.5, "phone": 6.5, "dose": 1.75}
LEVEL = {"name": "exact", "dob": "one_digit", "id": "null", "sex": "same", "province": "same", "phone": "same",
         "dose": "compatible"}


def _candidate(**extra):
    c = {"prior_weight": -20.5, "match_probability": 0.9854}
    c.update({f"bf_{f}": v for f, v in BF.items()})
    c.update({f"level_{f}": v for f, v in LEVEL.items()})
    c.update(extra)
    return c


def test_waterfall_adds_up_from_the_prior_through_every_field_and_the_namesake_discount():
    data = waterfall_data(_candidate(bf_namesake=-0.75))
    assert data["field"].tolist() == ["prior", *FIELDS, "namesake"]
    assert data["log2_bf"].tolist() == [-20.5, *BF.values(), -0.75]
    assert data["cumulative"].iloc[-1] == pytest.approx(-20.5 + sum(BF.values()) - 0.75)
    assert data.loc[data["field"] == "dob", "level"].item() == "one_digit"


def test_candidates_written_before_the_namesake_calibration_still_explain():
    data = waterfall_data(_candidate())
    assert data["field"].tolist() == ["prior", *FIELDS]


def test_candidates_written_before_the_province_field_still_explain():
    c = _candidate(bf_namesake=-0.75)
    del c["bf_province"], c["level_province"]
    data = waterfall_data(c)
    assert "province" not in data["field"].tolist()
    assert data["cumulative"].iloc[-1] == pytest.approx(-20.5 + sum(BF.values()) - 4.5 - 0.75)


@pytest.mark.parametrize("lang, bar, total", [("vi", "Người trùng tên ngoài sổ", "Tổng trọng số"),
                                              ("en", "Namesakes outside the register", "Final weight")])
def test_waterfall_figure_labels_every_bar_in_the_chosen_language(lang, bar, total):
    fig = waterfall_figure(_candidate(bf_namesake=-0.75), lang=lang)
    x = list(fig.data[0].x)
    assert x[-2] == bar and x[-1] == total
    assert ("p = 0,9854" if lang == "vi" else "p = 0.9854") in fig.layout.title.text
    assert list(fig.data[0].y)[-1] == pytest.approx(-20.5 + sum(BF.values()) - 0.75)


def test_every_comparison_level_has_words_in_both_languages():
    from vaxlib.match.compare import LEVELS
    from vaxlib.match.explain import LEVEL_LABELS

    for lang in ("vi", "en"):
        for f in FIELDS:
            assert set(LEVEL_LABELS[lang][f]) == set(LEVELS[f]), (lang, f)
    import unicodedata
    for f in FIELDS:
        for text in LEVEL_LABELS["vi"][f].values():
            assert unicodedata.is_normalized("NFC", text)


@pytest.mark.parametrize("lang, dob_bar, id_bar", [("vi", "Ngày sinh (sai một chữ số)", "Số CMND/CCCD (không có)"),
                                                   ("en", "Date of birth (one digit off)", "ID number (missing)")])
def test_waterfall_bars_name_the_level_in_words(lang, dob_bar, id_bar):
    x = list(waterfall_figure(_candidate(), lang=lang).data[0].x)
    assert dob_bar in x and id_bar in x


@pytest.mark.parametrize("lang, word", [("vi", "hậu nghiệm"), ("en", "posterior")])
def test_waterfall_says_that_p_is_the_posterior_not_the_bar_total(lang, word):
    fig = waterfall_figure(_candidate(bf_namesake=-0.75), lang=lang)
    assert any(word in a.text for a in fig.layout.annotations)
