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


# --------------------------------------------------------------------------- no user-facing words outside i18n

#: modules that put words on a screen, a report or a terminal: their wording must come from vaxlib.i18n
#: command modules whose print()/error calls must not hold literal sentences
CLI_MODULES = ("vaxlib/cli.py", "vaxlib/review/cli.py", "vaxlib/demo.py", "vaxlib/synth.py", "vaxlib/feedback.py",
               "vaxlib/match/cli.py", "vaxlib/sign/cli.py", "vaxlib/review/app.py", "vaxlib/runs.py")
USER_FACING = ("vaxlib/report.py", "vaxlib/plots.py", "vaxlib/widgets.py", "vaxlib/review/labels.py",
               "vaxlib/review/clusters.py", "vaxlib/sign/keys.py", "vaxlib/sign/gateway.py", *CLI_MODULES)
#: (module, literal) allowed, with the reason; keep it short
ALLOWED: dict[tuple[str, str], str] = {
    ("vaxlib/sign/keys.py", "Bộ Y tế"): "the issuer's name inside the CSCA/DSC certificates (data, not wording)",
    ("vaxlib/sign/gateway.py", "Bộ Y tế"): "the issuer's name inside the gateway's CMS signer certificate (data)",
    ("vaxlib/feedback.py", "a narrowed register is only matched through its candidates (prefilter)"):
        "a guard against a wrong call of link_feedback (a programming error), never shown to a user",
}

_VI_LETTERS = re.compile("[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]", re.I)
_TWO_WORDS = re.compile(r"[A-Za-z]{2,} [A-Za-z]{2,}")


def _literals(node):
    """String constants of an expression, f-strings' literal parts included."""
    import ast

    for n in ast.walk(node):
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            yield n


def _tree(path):
    import ast

    from vaxlib.config import PROJECT_ROOT

    tree = ast.parse((PROJECT_ROOT / path).read_text(encoding="utf-8"))
    docstrings = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.body:
            first = n.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return tree, docstrings


def _is_lang_test(test) -> bool:
    import ast

    return isinstance(test, ast.Compare) and any(
        isinstance(c, ast.Constant) and c.value in i18n.LANGS for c in [test.left, *test.comparators])


def user_facing_words_outside_i18n(path: str) -> list[str]:
    """Vietnamese literals, ``"…" if lang == "vi" else "…"`` sentences, and (CLI) printed sentences in ``path``."""
    import ast

    tree, docstrings = _tree(path)
    # argparse's own chrome ("usage:", "options:") is English: its help texts stay English with it
    for n in ast.walk(tree):
        if isinstance(n, ast.keyword) and n.arg in ("help", "description", "epilog"):
            docstrings.update(id(c) for c in _literals(n.value))
    found = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings \
                and _VI_LETTERS.search(n.value) and (path, n.value) not in ALLOWED:
            found.append(f"{path}:{n.lineno}: Vietnamese text {n.value[:50]!r}")
        if isinstance(n, ast.IfExp) and _is_lang_test(n.test):
            for branch in (n.body, n.orelse):
                if any(" " in c.value for c in _literals(branch)) and (path, ast.unparse(branch)) not in ALLOWED:
                    found.append(f"{path}:{n.lineno}: wording chosen by language {ast.unparse(n)[:60]!r}")
                    break
        if path in CLI_MODULES and isinstance(n, ast.Call):
            name = getattr(n.func, "id", getattr(n.func, "attr", ""))
            if name == "print" or name.endswith("Error"):
                for arg in n.args:
                    for c in _literals(arg):
                        if _TWO_WORDS.search(c.value) and (path, c.value) not in ALLOWED:
                            found.append(f"{path}:{n.lineno}: printed sentence {c.value[:50]!r}")
    return found


@pytest.mark.parametrize("path", USER_FACING)
def test_no_user_facing_words_outside_i18n(path):
    """Every word a user reads comes from vaxlib.i18n (docstrings and argparse help texts aside)."""
    assert user_facing_words_outside_i18n(path) == []


def test_the_scan_finds_words_outside_i18n(tmp_path, monkeypatch):
    """The scan itself catches each kind (so the test above can fail)."""
    import vaxlib.config as config

    (tmp_path / "vaxlib").mkdir()
    (tmp_path / "vaxlib" / "cli.py").write_text(
        '"""Tài liệu: a docstring may say Duyệt."""\n'
        'def f(lang, n):\n'
        '    """Dùng t()."""\n'
        '    x = "Đã lưu"\n'
        '    y = "saved it" if lang == "en" else "ok"\n'
        '    z = "description_vi" if lang == "vi" else "description_en"\n'
        '    print(f"{n} events written")\n'
        '    raise ValueError("bad thing happened")\n', encoding="utf-8")
    monkeypatch.setattr(config, "PROJECT_ROOT", tmp_path)
    found = user_facing_words_outside_i18n("vaxlib/cli.py")
    assert [f.split(": ", 1)[1].split(" ", 1)[0] for f in found] == ["Vietnamese", "wording", "printed", "printed"], found


#: wordings whose languages take different values, and why
DIFFERENT_PLACEHOLDERS = {"review.month": "Vietnamese numbers the month (tháng 10/2021), English names it"}


def test_every_wording_has_the_same_placeholders_in_both_languages():
    """A value shown in one language is shown in the other (a count dropped in translation fails here)."""
    import string

    for key, entry in i18n.STRINGS.items():
        fields = {lang: {f for _, f, _, _ in string.Formatter().parse(text) if f} for lang, text in entry.items()}
        assert fields["vi"] == fields["en"] or key in DIFFERENT_PLACEHOLDERS, (key, fields)


# --------------------------------------------------------------------------- errors in the user's language

def _bad_csv(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    return str(bad)


#: (argv builder, Vietnamese fragment, English fragment): importer, signing CLI and output-folder errors
ERROR_CASES = [
    (lambda d: ["sign", "--registry", "x"], "thiếu --vaccinations, --matches", "missing --vaccinations, --matches"),
    (lambda d: ["apply", "--vaccinations", _bad_csv(d), "--matches", _bad_csv(d), "--out", str(d / "o")],
     "thiếu cột bắt buộc record_id", "missing required column(s) record_id"),
    (lambda d: ["keys", "init", "--out", str(d / "k"), "--eku", "xyz"], "--eku: dùng các chữ", "--eku: use the letters"),
    (lambda d: ["verify", "--trust", str(d), "--csca", _bad_csv(d), "HC1:x"], "không phải chứng thư PEM",
     "not a PEM certificate"),
    # the key store's own errors (vaxlib.sign.keys), worded behind "không ký được" / "cannot sign"
    (lambda d: ["keys", "list", "--keys", str(d / "none")], "none: không có keystore.json (chạy `vax keys init",
     "none: no keystore.json (run `vax keys init"),
    (lambda d: ["keys", "list", "--keys", _damaged_store(d)], "kho khoá bị hỏng (JSONDecodeError); hãy khôi phục",
     "damaged key store (JSONDecodeError); restore it"),
]


def _damaged_store(d) -> str:
    (d / "ks").mkdir(exist_ok=True)
    (d / "ks" / "keystore.json").write_text("{not json", encoding="utf-8")
    return str(d / "ks")


@pytest.mark.parametrize("case", range(len(ERROR_CASES)))
@pytest.mark.parametrize("how", ["default", "flag", "env"])
def test_command_errors_speak_the_chosen_language(tmp_path, capsys, monkeypatch, case, how):
    """Vietnamese by default; ``vax --lang en`` or ``VAX_LANG=en`` gives the whole line in English."""
    from vaxlib.cli import main

    argv, vi, en = ERROR_CASES[case]
    monkeypatch.delenv("VAX_LANG", raising=False)
    if how == "env":
        monkeypatch.setenv("VAX_LANG", "en")
    assert main((["--lang", "en"] if how == "flag" else []) + argv(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    if how == "default":
        assert vi in err and en not in err, err
    else:
        assert en in err and not _VI_LETTERS.search(err.split(": ", 1)[1].split("(")[0]), err


def test_run_folder_errors_are_worded_in_both_languages(tmp_path):
    from vaxlib.errors import ManifestError
    from vaxlib.runs import check_run

    (tmp_path / "r").mkdir()
    with pytest.raises(ManifestError) as e:
        check_run(tmp_path / "r")
    assert "không có _manifest.json" in str(e.value) and "không phải kết quả" in e.value.message("vi")
    assert e.value.message("en").endswith("no _manifest.json (not written by a complete vax run); run the command again")


def test_sign_not_signable_is_worded_in_both_languages():
    """``vax sign --person`` of persons that are not signable (``batch.not_signable``): both languages, counts
    written the reader's way."""
    from vaxlib.sign.batch import not_signable

    e = not_signable({f"{i:012d}" for i in range(1500)}, [f"{i:012d}" for i in range(3)])
    assert e.message("vi").startswith("1.500 người được yêu cầu không ký được (3 bị giữ lại hoặc bị từ chối")
    assert str(e) == e.message("vi")
    assert e.message("en").startswith("1,500 requested person(s) are not signable (3 held or refused")
