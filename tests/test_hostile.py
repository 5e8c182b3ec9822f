"""The hostile-input corpus (``tests/data/hostile/make_corpus.py``), case by case.

Each case gives exactly the documented quarantine (rows in = accepted +
quarantined, reasons counted) or a one-line error naming the file, with no
traceback and no personal data; no accepted value ever holds U+FFFD.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from vaxlib.io import VaxImportError, read_table

_spec = importlib.util.spec_from_file_location("hostile_corpus", Path(__file__).parent / "data/hostile/make_corpus.py")
corpus = sys.modules["hostile_corpus"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return corpus.build(tmp_path_factory.mktemp("hostile"))


READ_CASES = [c for c in corpus.CASES if c.argv is None]
CLI_CASES = [c for c in corpus.CASES if c.argv is not None]
PERSONAL = (corpus.SECRET_NAME, corpus.SECRET_ID, corpus.SECRET_PHONE, "Hoàng", "Duyên")


def run_vax(argv, capsys):
    """``vax ARGV`` in this process: (exit code, stdout, stderr); an uncaught exception fails the test."""
    from vaxlib.cli import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _fill(argv, files, case, out):
    values = {"file": str(files[case.name]), "out": str(out), "dir": str(files[case.name].parent)}
    values.update({name: str(p) for name, p in files.items()})
    return [values[a[1:-1]] if a.startswith("{") else a for a in argv]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # PIL's own, on opening the 144 MP image
@pytest.mark.parametrize("case", CLI_CASES, ids=[c.name for c in CLI_CASES])
def test_corpus_command(files, case, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VAX_KEY_PASSPHRASE", corpus.KEY_PASSPHRASE)
    out = tmp_path / "out"
    code, stdout, stderr = run_vax(_fill(case.argv, files, case, out), capsys)
    if case.expect == "verify":
        assert code == 1, stderr
        assert stdout.splitlines() == [stdout.splitlines()[0]]
        source, verdict, reason = stdout.split("\t")[:3]
        assert source.startswith(case.name) and (verdict, reason) == ("KHÔNG HỢP LỆ", case.fragment)
        assert stderr.strip() == f"0/1 hợp lệ ({case.fragment}=1)"  # the verdict's language, not English
        return
    lines = [ln for ln in stderr.splitlines() if not ln.startswith(("INFO ", "WARNING "))]
    assert code == 2, stderr
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"vax {case.argv[0]}: ")
    assert case.fragment in lines[0]
    assert "Traceback" not in stderr
    shown_path = _fill(["{file}"], files, case, out)[0]
    assert Path(shown_path).name in lines[0]
    for secret in PERSONAL:
        assert secret not in stderr + stdout, secret
    if case.rows_in:  # rows were read and all quarantined: the quarantine is there for the user
        import pandas as pd

        q = pd.read_parquet(out / "quarantine.parquet")
        q = q[q["table"] == "vaccinations"]
        assert len(q) == case.rows_in
        assert q["reason"].value_counts().to_dict() == case.reasons


@pytest.mark.parametrize("case", READ_CASES, ids=[c.name for c in READ_CASES])
def test_corpus_file(files, case):
    path = files[case.name]
    if case.expect == "error":
        with pytest.raises(VaxImportError) as err:
            read_table(path, case.kind)
        msg = str(err.value)
        assert case.fragment in msg or case.fragment in err.value.message_en
        assert path.name in msg and "\n" not in msg
        return
    res = read_table(path, case.kind)
    assert (res.rows_in, len(res.table), len(res.quarantine)) == (
        case.rows_in, case.accepted, case.rows_in - case.accepted)
    assert res.reason_counts() == case.reasons
    for col in res.table.columns:
        assert not res.table[col].dropna().str.contains("\ufffd").any(), col


def test_utf8_garbage_keeps_every_vietnamese_name(files):
    res = read_table(files["utf8-with-binary-garbage.csv"], "vaccinations")
    assert res.encoding == "utf-8"
    assert set(res.table["full_name"]) == set(corpus.NAMES)
    # garbage inserted at 0-based line 20 + 16k: file lines 21, 37, ... (header = line 1)
    assert res.quarantine["row"].tolist() == [21 + 16 * k for k in range(12)]


def test_cp1258_rows_in_a_bom_file_are_read_as_cp1258(files):
    res = read_table(files["bom-with-cp1258-rows.csv"], "vaccinations")
    assert set(res.table["full_name"]) == set(corpus.NAMES)
    assert res.legacy_lines == {6: "cp1258", 31: "cp1258", 56: "cp1258"}


def test_merged_facility_is_filled_down(files):
    res = read_table(files["merged-facility.xlsx"], "vaccinations")
    by_row = dict(zip(res.source_rows, res.table["facility_id"]))
    assert [by_row[r] for r in (3, 7, 8, 12, 13, 17, 18, 22) if r in by_row] == [
        "FAC-79-000", "FAC-79-000", "FAC-79-001", "FAC-79-001", "FAC-79-002", "FAC-79-002",
        "FAC-79-003", "FAC-79-003"]
    assert None not in by_row.values()
    assert res.quarantine["row"].tolist() == [10, 11]
    assert res.quarantine["column"].tolist() == ["vaccination_date;vaccine"] * 2


def test_read_only_out_is_refused_before_any_work(files, tmp_path, capsys, monkeypatch):
    """A read-only --out folder: one line, exit 2, and matching never starts."""
    import os

    import vaxlib.match.pipeline as pipeline

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make the permission check see what a user would
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == ro else real(p, mode, **kw))
    monkeypatch.setattr(pipeline, "run_match", lambda *a, **k: pytest.fail("matching ran before the check"))
    code, _, err = run_vax(["match", "--registry", str(files["registry-ok.csv"]),
                            "--vaccinations", str(files["registry-ok.csv"]), "--out", str(ro / "run")], capsys)
    assert code == 2
    assert "không ghi được" in err and str(ro) in err and "Traceback" not in err


def test_input_file_size_limit(files, monkeypatch):
    """A file over MAX_INPUT_BYTES is refused from its size, before it is read."""
    import vaxlib.io as vio

    path = files["registry-ok.csv"]
    monkeypatch.setattr(vio, "MAX_INPUT_BYTES", path.stat().st_size - 1)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("the file was read"))
    with pytest.raises(vio.TooLargeError, match="tệp quá lớn") as err:
        read_table(path, "registry")
    assert path.name in str(err.value)


def test_long_hc1_argument_is_refused_before_decoding():
    from vaxlib.sign import hc1
    from vaxlib.sign.errors import TooLarge

    with pytest.raises(TooLarge):
        hc1.decode_hc1("HC1:" + "A" * hc1.MAX_HC1_CHARS)
    with pytest.raises(Exception) as err:  # at the limit it is decoded (and fails as Base45, not as too large)
        hc1.decode_hc1("HC1:" + "A" * (hc1.MAX_HC1_CHARS - 4))
    assert err.type is not TooLarge


# --------------------------------------------------------------------------- safe exports

#: text a hostile sender or analyst could type, as it must appear in a spreadsheet cell
INJECTIONS = [
    ("=HYPERLINK(\"http://x\",\"bấm\")", "'=HYPERLINK(\"http://x\",\"bấm\")"),
    ("+84912345678", "'+84912345678"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("'=1", "''=1"),
    ("Nguyễn Văn An", "Nguyễn Văn An"),
]


def _csv_cells(path, encoding="utf-8-sig"):
    import csv

    with open(path, newline="", encoding=encoding) as fh:
        return [c for row in csv.reader(fh) for c in row]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_write_table_neutralises_and_reads_back(tmp_path, fmt):
    import openpyxl
    import pandas as pd

    from vaxlib.io import write_table

    rows = [corpus.vax_row(i) for i in range(len(INJECTIONS))]
    for r, (typed, _) in zip(rows, INJECTIONS):
        r[1] = typed  # full_name
        r[12] = typed  # lot_number
    from vaxlib.schema import columns

    df = pd.DataFrame(rows, columns=columns("vaccinations"), dtype=object)
    df["dob"] = "1985-03-12"
    df["vaccination_date"] = "2021-08-15"
    path = write_table(df, tmp_path / f"t.{fmt}", "vaccinations")
    if fmt == "csv":
        cells = _csv_cells(path)
    else:
        cells = [c.value for row in openpyxl.load_workbook(path).active.iter_rows() for c in row]
    xml = (lambda t: t.replace("\r", "\n")) if fmt == "xlsx" else (lambda t: t)  # XML stores a CR as LF
    for _, shown in INJECTIONS:
        assert cells.count(xml(shown)) == 2, shown
    assert not any(isinstance(c, str) and c[:1] in "=+-@\t\r" for c in cells)
    back = read_table(path, "vaccinations").table
    # read back exactly -- but for a leading CR in xlsx, which XML turns into LF (so the apostrophe stays)
    expected = [t if fmt == "csv" or not t.startswith("\r") else "'\n" + t[1:] for t, _ in INJECTIONS]
    assert back["full_name"].tolist() == expected
    assert back["lot_number"].tolist() == expected


def test_ledger_export_neutralises_record_id_analyst_reason(tmp_path):
    from vaxlib.review.ledger import Ledger

    url = f"sqlite:///{tmp_path / 'l.db'}"
    with Ledger.open(url, create=True) as led:
        for i, (typed, _) in enumerate(INJECTIONS):
            led.accept(f"{typed}" if i % 2 else f"R{i}", analyst=f"{typed} {i}".strip() if typed.strip() else "x",
                       reason=typed)
        led.export(tmp_path / "events.csv")
    cells = _csv_cells(tmp_path / "events.csv", encoding="utf-8")
    assert [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")] == []
    for _, shown in INJECTIONS[:-1]:
        assert shown in cells  # each reason, neutralised


def test_signing_ledger_neutralises_signer(tmp_path):
    from vaxlib.sign.ledger import append_ledger, read_ledger

    signer = "=cmd|' /C calc'!A0"
    append_ledger(tmp_path, [("kid", "URN:UVCI:01:VN:ABC")], signer=signer, signed_at="2026-12-06T00:00:00+00:00")
    cells = _csv_cells(tmp_path / "signing-ledger.csv", encoding="utf-8")
    assert "'" + signer in cells and signer not in cells
    assert read_ledger(tmp_path)[0]["signer"] == signer


def test_apply_uses_the_shared_neutraliser():
    import vaxlib.exports as exports
    import vaxlib.review.apply as apply_mod

    assert apply_mod.neutralise_csv_value is exports.neutralise
    assert not hasattr(apply_mod, "_write_xlsx_minimal")


# --------------------------------------------------------------------------- file modes


@pytest.fixture
def umask_000():
    import os

    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_key_store_modes_under_umask_000(tmp_path, monkeypatch, umask_000):
    """Under umask 000 every default would be world-writable; the key store sets its modes itself."""
    import stat

    from vaxlib.sign.keys import init_keys, rotate
    from vaxlib.sign.ledger import append_ledger, revocation_path, revoke
    from vaxlib.sign.payload import make_uvci  # a UVCI with a valid check character

    monkeypatch.setenv("VAX_KEY_PASSPHRASE", "correct horse battery staple")
    keys = tmp_path / "keys"
    init_keys(keys)
    rotate(keys)
    revoke(keys, [make_uvci()])
    (tmp_path / "certs").mkdir()
    append_ledger(tmp_path / "certs", [("kid", "URN:UVCI:01:VN:X")], signer="analyst")

    def mode(p):
        return stat.S_IMODE(p.stat().st_mode)

    expected = {keys: 0o700, keys / "dsc": 0o700, keys / "trust": 0o755, keys / "csca.key.pem": 0o600,
                keys / "keystore.json": 0o600, keys / "csca.crt.pem": 0o644, revocation_path(keys): 0o644,
                tmp_path / "certs" / "signing-ledger.csv": 0o644}
    for p in (keys / "dsc").iterdir():
        expected[p] = 0o600 if p.name.endswith(".key.pem") else 0o644
    for p in (keys / "trust").iterdir():
        expected[p] = 0o644
    assert len([p for p in expected if p.name.endswith(".key.pem")]) == 3  # CSCA and two DSCs
    assert {str(p.relative_to(tmp_path)): oct(mode(p)) for p in expected} == \
        {str(p.relative_to(tmp_path)): oct(m) for p, m in expected.items()}
    assert not any(mode(p) & 0o002 for p in keys.rglob("*"))  # nothing world-writable
    # the published lists (EU DCC Gateway formats): 0644 files in 0755 folders
    from vaxlib.sign.gateway import export_lists

    trust, batches = export_lists(keys, tmp_path / "published", ledgers=[tmp_path / "certs"])
    published = [tmp_path / "published", *(tmp_path / "published").rglob("*")]
    assert trust in published and len(published) >= 2
    assert {p.name: oct(mode(p)) for p in published} == \
        {p.name: oct(0o755 if p.is_dir() else 0o644) for p in published}


# --------------------------------------------------------------------------- property: garbage lines


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

garbage_line = st.binary(min_size=1, max_size=60).filter(lambda b: b"\n" not in b and b"\r" not in b)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.lists(st.tuples(st.integers(1, 30), garbage_line), max_size=5), bom=st.booleans())
def test_garbage_lines_never_spoil_the_good_ones(tmp_path, junk, bom):
    """Any bytes on a few lines of a UTF-8 file: every good row is read as written, nothing holds U+FFFD,
    and rows in = accepted + quarantined."""
    rows = [corpus.VAX_HEADER] + [corpus.vax_row(i) for i in range(30)]
    lines = corpus.csv_bytes(rows).split(b"\r\n")[:-1]
    for pos, data in sorted(junk, reverse=True):
        lines.insert(pos, data)
    path = tmp_path / f"g{len(junk)}{int(bom)}.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + b"\r\n".join(lines) + b"\r\n")
    try:
        res = read_table(path, "vaccinations")
    except VaxImportError as exc:  # a junk line before the header can make it unreadable: one clear error
        assert path.name in str(exc)
        assert any(pos <= 1 for pos, _ in junk) or "nhị phân" in str(exc)
        return
    assert res.rows_in == len(res.table) + len(res.quarantine)
    good = {r[0]: r[1] for r in rows[1:]}
    got = dict(zip(res.table["record_id"], res.table["full_name"]))
    for rid, name in got.items():
        if rid in good:
            assert name == good[rid]
    for col in res.table.columns:
        assert not res.table[col].dropna().str.contains("\ufffd").any()
    # every well-formed row is accepted, unless a junk line glued itself onto it
    assert len(set(got) & set(good)) >= 30 - len(junk)


def test_merged_cells_also_filled_by_the_openpyxl_fallback(files, monkeypatch):
    """The reader used when the fast one fails sees the same merged ranges (read from the sheet's XML)."""
    import vaxlib.io as vio

    def broken(*a, **k):
        raise RuntimeError("fast reader unavailable")

    monkeypatch.setattr(vio, "_fast_xlsx_rows", broken)
    res = read_table(files["merged-facility.xlsx"], "vaccinations")
    assert (res.rows_in, len(res.table)) == (20, 18)
    assert res.table["facility_id"].notna().all()
    assert res.quarantine["row"].tolist() == [10, 11]


def test_every_spreadsheet_writer_goes_through_exports():
    """No CSV/xlsx writer outside vaxlib.exports and io.write_table (which calls it): a new one must use them."""
    import re

    import vaxlib

    root = Path(vaxlib.__file__).parent
    allowed = {"exports.py", "io.py", "sign/ledger.py"}  # sign/ledger.py writes rows through exports.csv_row
    pattern = re.compile(r"\.to_csv\(|\.to_excel\(|csv\.writer\(|openpyxl\.Workbook\(|xlsxwriter")
    offenders = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py")
                 if p.relative_to(root).as_posix() not in allowed
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if pattern.search(line) and not line.lstrip().startswith("#")]
    assert offenders == []
    assert "csv_row(" in (root / "sign" / "ledger.py").read_text(encoding="utf-8")


def test_require_rows_raises_with_the_quarantine(files):
    from vaxlib.io import NoUsableRowsError

    assert len(read_table(files["header-only.csv"], "vaccinations").table) == 0  # allowed unless asked
    with pytest.raises(NoUsableRowsError, match="chỉ có dòng tiêu đề") as err:
        read_table(files["header-only.csv"], "vaccinations", require_rows=True)
    assert err.value.row == 2
    with pytest.raises(NoUsableRowsError) as err:
        read_table(files["all-quarantined.csv"], "vaccinations", require_rows=True)
    assert err.value.result.rows_in == len(err.value.result.quarantine) == 7
    assert err.value.column == "vaccination_date"
    assert "no usable rows: all 7 rows are quarantined" in err.value.message_en
