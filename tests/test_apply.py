"""vax apply: which values a record gets, the change log, idempotency, crash safety, formula safety."""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaxlib.review import apply as apply_mod
from vaxlib.review.apply import (
    OUTPUT_FILES,
    ApplyError,
    apply_decisions,
    neutralise_csv_value,
    run_apply,
)
from vaxlib.review.ledger import Ledger
from vaxlib.runs import atomic_run, check_run
from vaxlib.schema import columns, vi_headers

from vaxlib.cli import main as vax_main  # noqa: E402  (one broken part no longer breaks the CLI)


VAX_COLS = columns("vaccinations")


def vax_row(rid, name, dob, sex, id_number, phone="0912345678", facility="CS-79-0001"):
    return dict(record_id=rid, full_name=name, dob=dob, sex=sex, id_number=id_number, phone=phone,
                province_code="79", facility_id=facility, facility_province="79", dose_number="1",
                vaccination_date="2021-10-05", vaccine="AstraZeneca", lot_number="A123")


def match_row(rid, status, person_id=None, codes="", name=None, dob=None, sex=None, idn=None, p=0.99):
    return dict(record_id=rid, status=status, person_id=person_id, match_probability=p, error_codes=codes,
                corrected_full_name=name, corrected_dob=dob, corrected_sex=sex, corrected_id_number=idn,
                person_key=person_id or f"k-{rid}")


@pytest.fixture
def tables():
    v = pd.DataFrame([
        vax_row("R1", "Nguyễn Văn An", "1990-01-02", "Nam", "079090000001"),          # verified
        vax_row("R2", "Tran Thi Binh", "03/12/1985", "Nữ", "079185000002"),           # fix: name + dob
        vax_row("R3", "Lê Văn Cường", "1970-07-07", "1", "79070000003"),              # review: id
        vax_row("R4", "Phạm Thị Dung", "1999-09-09", "", "079199000004"),             # fix: sex missing
        vax_row("R5", "Hoàng Văn Em", "2000-02-02", "Nam", ""),                       # unmatched
        vax_row("R6", "Võ Thị Hoa", "1960", "Nữ", "079160000006"),                    # review: dob
        vax_row("R7", "=HYPERLINK(\"http://x\")", "1980-01-01", "Nam", "079080000007"),  # fix: formula name
    ], columns=VAX_COLS)
    m = pd.DataFrame([
        match_row("R1", "verified", "079090000001"),
        match_row("R2", "fix", "079185000002", "dob:format;name:no_diacritics", name="Trần Thị Bình",
                  dob="1985-12-03"),
        match_row("R3", "review", "079070000003", "id:lost_leading_zero", idn="079070000003", p=0.7),
        match_row("R4", "fix", "079199000004", "sex:missing", sex="F"),
        match_row("R5", "unmatched", None, "id:missing", p=0.01),
        match_row("R6", "review", "079160000006", "dob:year_only_default", dob="1960-05-17", p=0.6),
        match_row("R7", "fix", "079080000007", "name:other", idn="+84 bad", name="@Lê Văn Tám"),
    ])
    return v, m


def decisions(rows):
    return pd.DataFrame(rows, columns=["record_id", "decision_id", "action", "values"])


def changes_of(result):
    return sorted(map(tuple, result.changes[["record_id", "field", "new_value", "source"]].to_numpy().tolist()))


@pytest.mark.parametrize(
    "decs, expected",
    [
        # no decisions: only fix records change, automatically
        ([], [("R2", "dob", "1985-12-03", "automatic"), ("R2", "full_name", "Trần Thị Bình", "automatic"),
              ("R4", "sex", "Nữ", "automatic"), ("R7", "full_name", "@Lê Văn Tám", "automatic"),
              ("R7", "id_number", "+84 bad", "automatic")]),
        # accept a review record: its suggestion applies with the decision id as source
        ([("R3", 11, "accept", {})],
         [("R2", "dob", "1985-12-03", "automatic"), ("R2", "full_name", "Trần Thị Bình", "automatic"),
          ("R3", "id_number", "079070000003", "11"), ("R4", "sex", "Nữ", "automatic"),
          ("R7", "full_name", "@Lê Văn Tám", "automatic"), ("R7", "id_number", "+84 bad", "automatic")]),
        # reject vetoes an automatic fix; defer keeps it; bulk_accept applies like accept
        ([("R2", 3, "reject", {}), ("R4", 4, "defer", {}), ("R6", 5, "bulk_accept", {"cluster_id": "c"}),
          ("R7", 6, "reject", {})],
         [("R4", "sex", "Nữ", "automatic"), ("R6", "dob", "1960-05-17", "5")]),
        # edit overrides the suggestion with the analyst's fields only; edit works on unmatched too
        ([("R2", 7, "edit", {"full_name": "Trần Thị Bính"}), ("R5", 8, "edit", {"id_number": "079000000005"})],
         [("R2", "full_name", "Trần Thị Bính", "7"), ("R4", "sex", "Nữ", "automatic"),
          ("R5", "id_number", "079000000005", "8"), ("R7", "full_name", "@Lê Văn Tám", "automatic"),
          ("R7", "id_number", "+84 bad", "automatic")]),
        # reject/defer on review records: unchanged; accept on verified/unmatched: nothing to apply
        ([("R3", 9, "reject", {}), ("R6", 10, "defer", {}), ("R1", 12, "accept", {}), ("R5", 13, "accept", {})],
         [("R2", "dob", "1985-12-03", "automatic"), ("R2", "full_name", "Trần Thị Bình", "automatic"),
          ("R4", "sex", "Nữ", "automatic"), ("R7", "full_name", "@Lê Văn Tám", "automatic"),
          ("R7", "id_number", "+84 bad", "automatic")]),
        # a stale accept (the suggestion now points at another person) is not applied
        ([("R3", 14, "accept", {"person_id": "079999999999"})],
         [("R2", "dob", "1985-12-03", "automatic"), ("R2", "full_name", "Trần Thị Bình", "automatic"),
          ("R4", "sex", "Nữ", "automatic"), ("R7", "full_name", "@Lê Văn Tám", "automatic"),
          ("R7", "id_number", "+84 bad", "automatic")]),
    ],
    ids=["automatic-only", "accept-review", "reject-defer-bulk", "edit", "no-op-decisions", "stale-accept"],
)
def test_apply_rules(tables, decs, expected):
    v, m = tables
    result = apply_decisions(v, m, decisions(decs) if decs else None)
    assert changes_of(result) == sorted(expected)
    s = result.summary
    assert s["records_in"] == s["records_out"] == len(v) == s["records_changed"] + s["records_unchanged"]
    assert s["records_changed"] == len({e[0] for e in expected})
    # the table carries exactly the new values, and nothing else moved
    for rid, field, new, _ in expected:
        assert result.table.loc[result.table["record_id"] == rid, field].item() == new
    untouched = set(v["record_id"]) - {e[0] for e in expected}
    pd.testing.assert_frame_equal(
        result.table[result.table["record_id"].isin(untouched)].reset_index(drop=True),
        v[v["record_id"].isin(untouched)].reset_index(drop=True))


def test_change_log_old_values_and_stale_count(tables):
    v, m = tables
    result = apply_decisions(v, m, decisions([("R3", 14, "accept", {"person_id": "079999999999"})]))
    log = result.changes.set_index(["record_id", "field"])
    assert log.loc[("R2", "full_name"), "old_value"] == "Tran Thi Binh"
    assert log.loc[("R2", "dob"), "old_value"] == "03/12/1985"
    assert log.loc[("R4", "sex"), "old_value"] == ""
    assert result.summary["decisions"]["decisions_stale"] == 1


def test_sex_compared_by_meaning(tables):
    v, m = tables
    # R3 typed "1" (= Nam); a correction to M is no change
    m.loc[m["record_id"] == "R3", "corrected_sex"] = "M"
    result = apply_decisions(v, m, decisions([("R3", 1, "accept", {})]))
    assert ("R3", "sex") not in set(zip(result.changes["record_id"], result.changes["field"]))


def test_duplicate_record_ids_refused(tables):
    v, m = tables
    with pytest.raises(ApplyError, match="row 8"):
        apply_decisions(pd.concat([v, v.iloc[[0]]], ignore_index=True), m)


def read_outputs(out: Path) -> dict:
    check_run(out, command="apply")
    wb = openpyxl.load_workbook(out / OUTPUT_FILES["xlsx"])
    ws = wb.active
    return {
        "table": (out / OUTPUT_FILES["table"]).read_bytes(),
        "changes": (out / OUTPUT_FILES["changes"]).read_bytes(),
        "changes_csv": (out / OUTPUT_FILES["changes_csv"]).read_bytes(),
        "summary": (out / OUTPUT_FILES["summary"]).read_text(encoding="utf-8"),
        "quarantine": (out / OUTPUT_FILES["quarantine"]).read_bytes(),
        "xlsx": [[c.value for c in row] for row in ws.iter_rows()],
    }


@pytest.fixture
def files(tmp_path, tables):
    v, m = tables
    vp, mp = tmp_path / "vaccinations.parquet", tmp_path / "match" / "matches.parquet"
    v.to_parquet(vp, index=False)
    with atomic_run(mp.parent, command="match") as run:
        m.to_parquet(run / mp.name, index=False)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.open(url, create=True) as led:
        led.accept("R3", analyst="lan", values={"person_id": "079070000003"})
        led.edit("R6", {"dob": "17/05/1960"}, reason_code="document_checked", analyst="minh", reason="giấy khai sinh")
    return vp, mp, url


def test_outputs_and_idempotency(tmp_path, files):
    vp, mp, url = files
    out1 = tmp_path / "out1"
    r1 = run_apply(vp, mp, out1, ledger=url)
    assert r1.summary["field_changes"] == 7
    assert r1.summary["ledger"]["head_id"] == 2
    # a second run on the same inputs writes the same files
    run_apply(vp, mp, tmp_path / "out2", ledger=url)
    assert read_outputs(out1) == read_outputs(tmp_path / "out2")
    # a run on its own output changes nothing
    r3 = run_apply(out1 / OUTPUT_FILES["table"], mp, tmp_path / "out3", ledger=url)
    assert r3.summary["field_changes"] == 0 and len(r3.changes) == 0
    pd.testing.assert_frame_equal(r3.table, r1.table)
    assert (tmp_path / "out3" / OUTPUT_FILES["table"]).read_bytes() == (out1 / OUTPUT_FILES["table"]).read_bytes()


def test_reimport_xlsx_layout_and_formula_neutralised(tmp_path, files):
    vp, mp, url = files
    out = tmp_path / "out"
    run_apply(vp, mp, out, ledger=url, xlsx_scope="all")
    ws = openpyxl.load_workbook(out / OUTPUT_FILES["xlsx"]).active
    rows = list(ws.iter_rows())
    headers = [c.value for c in rows[0]]
    assert headers == [vi_headers("vaccinations")[c] for c in VAX_COLS]
    assert headers[:3] == ["Mã bản ghi", "Họ và tên", "Ngày sinh"]
    by_id = {r[0].value: r for r in rows[1:]}
    assert len(by_id) == 7
    # IDs stay text with leading zeros
    idcol = VAX_COLS.index("id_number")
    assert by_id["R3"][idcol].value == "079070000003" and by_id["R3"][idcol].data_type == "s"
    assert by_id["R6"][VAX_COLS.index("dob")].value == "1960-05-17"  # the edit, normalised
    # formula-like values: text cells with one leading apostrophe (OWASP), never formulas
    name = by_id["R7"][VAX_COLS.index("full_name")]
    assert (name.value, name.data_type) == ("'@Lê Văn Tám", "s")
    assert (by_id["R7"][idcol].value, by_id["R7"][idcol].data_type) == ("'+84 bad", "s")
    with zipfile.ZipFile(out / OUTPUT_FILES["xlsx"]) as z:
        sheet = next(n for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
        assert "<f>" not in z.read(sheet).decode("utf-8")


def test_xlsx_round_trip_changes_nothing(tmp_path, files):
    """Re-importing the .xlsx (through vaxlib.io) gives the corrected values back: apply is a no-op."""
    pytest.importorskip("vaxlib.io")
    vp, mp, url = files
    out = tmp_path / "out"
    first = run_apply(vp, mp, out, ledger=url, xlsx_scope="all")
    again = run_apply(out / OUTPUT_FILES["xlsx"], mp, tmp_path / "again", ledger=url)
    assert again.summary["field_changes"] == 0
    back = again.table.set_index("record_id")
    want = first.table.set_index("record_id")
    for field in ("full_name", "dob", "sex", "id_number", "phone"):
        assert back[field].fillna("").to_dict() == want[field].fillna("").to_dict(), field


def test_formula_in_untouched_record_is_neutralised(tmp_path, tables):
    v, m = tables
    v.loc[v["record_id"] == "R1", "lot_number"] = "=1+1"
    out = tmp_path / "out"
    run_apply(v, m, out, xlsx_scope="all")
    ws = openpyxl.load_workbook(out / OUTPUT_FILES["xlsx"]).active
    cell = next(r for r in ws.iter_rows(min_row=2) if r[0].value == "R1")[VAX_COLS.index("lot_number")]
    assert (cell.value, cell.data_type) == ("'=1+1", "s")


@pytest.mark.parametrize("value, expected", [
    ("=SUM(A1)", "'=SUM(A1)"), ("+84912345678", "'+84912345678"), ("-1", "'-1"), ("@x", "'@x"),
    ("\tx", "'\tx"), ("'x", "''x"), ("Nguyễn Văn An", "Nguyễn Văn An"), ("079090000001", "079090000001"), (None, None),
])
def test_csv_neutralisation(value, expected):
    assert neutralise_csv_value(value) == expected


def test_changes_csv_is_neutralised(tmp_path, files):
    vp, mp, url = files
    out = tmp_path / "out"
    run_apply(vp, mp, out, ledger=url)
    text = (out / OUTPUT_FILES["changes_csv"]).read_text(encoding="utf-8-sig")
    assert "R7,full_name,\"=HYPERLINK(\"\"http://x\"\")\"" not in text
    assert "'=HYPERLINK" in text and "'@Lê Văn Tám" in text and "'+84 bad" in text


@pytest.mark.parametrize("crash_at", ["changes", "xlsx", "quarantine", "summary"])
def test_crash_mid_apply_then_rerun_equals_uninterrupted(tmp_path, files, monkeypatch, crash_at):
    vp, mp, url = files
    run_apply(vp, mp, tmp_path / "clean", ledger=url)
    out = tmp_path / "crashed"
    # an earlier, different run (no ledger decisions): it must survive the crash untouched
    run_apply(vp, mp, out)
    previous = read_outputs(out)
    monkeypatch.setenv("VAX_FAULT", f"enospc:write:{OUTPUT_FILES[crash_at]}")
    with pytest.raises(OSError, match="No space left"):
        run_apply(vp, mp, out, ledger=url)
    assert read_outputs(out) == previous
    monkeypatch.delenv("VAX_FAULT")
    run_apply(vp, mp, out, ledger=url)
    assert read_outputs(out) == read_outputs(tmp_path / "clean")
    assert sorted(os.listdir(tmp_path)) == ["clean", "crashed", "ledger.db", "match", "vaccinations.parquet"]


@pytest.mark.parametrize("point", ["write:vaccinations_reimport.xlsx", "apply:manifest", "apply:swap"])
def test_killed_subprocess_then_rerun(tmp_path, files, point):
    """A real process killed (SIGKILL) in the middle of writing, then a rerun."""
    import signal
    import subprocess
    import sys

    vp, mp, url = files
    run_apply(vp, mp, tmp_path / "clean", ledger=url)
    out = tmp_path / "killed"
    run_apply(vp, mp, out)
    previous = read_outputs(out)
    proc = subprocess.run([sys.executable, "-m", "vaxlib.cli", "apply", "--vaccinations", str(vp), "--matches",
                           str(mp), "--ledger", url, "--out", str(out)],
                          capture_output=True, timeout=120, env={**os.environ, "VAX_FAULT": f"kill:{point}"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert read_outputs(out) == previous  # readers recover first: the previous result, whole
    rc = vax_main(["apply", "--vaccinations", str(vp), "--matches", str(mp), "--ledger", url, "--out", str(out)])
    assert rc == 0
    assert read_outputs(out) == read_outputs(tmp_path / "clean")
    assert sorted(os.listdir(tmp_path)) == ["clean", "killed", "ledger.db", "match", "vaccinations.parquet"]


def test_cli_refuses_tampered_ledger(tmp_path, files, capsys):
    import sqlite3

    vp, mp, url = files
    db = url.removeprefix("sqlite:///")
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER ledger_events_no_update")
    con.execute("UPDATE ledger_events SET \"values\" = '{\"dob\":\"1961-01-01\"}' WHERE id = 2")
    con.commit()
    con.close()
    rc = vax_main(["apply", "--vaccinations", str(vp), "--matches", str(mp), "--ledger", url,
                   "--out", str(tmp_path / "out")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "sổ quyết định sqlite:///" in err and "BỊ SỬA ĐỔI tại sự kiện 2" in err
    assert "failed verification" not in err and "TAMPERED" not in err  # one language, not half English
    assert vax_main(["--lang", "en", "apply", "--vaccinations", str(vp), "--matches", str(mp), "--ledger", url,
                     "--out", str(tmp_path / "out")]) == 2
    en = capsys.readouterr().err
    assert "failed verification: ledger TAMPERED at event 2" in en and "sự kiện" not in en
    assert not (tmp_path / "out" / OUTPUT_FILES["summary"]).exists()


def test_summary_reconciles(tmp_path, files):
    vp, mp, url = files
    out = tmp_path / "out"
    run_apply(vp, mp, out, ledger=url)
    s = json.loads((out / OUTPUT_FILES["summary"]).read_text(encoding="utf-8"))
    changes = pd.read_parquet(out / OUTPUT_FILES["changes"])
    table = pd.read_parquet(out / OUTPUT_FILES["table"])
    assert s["records_in"] == s["records_out"] == len(table) == 7
    assert s["records_changed"] == changes["record_id"].nunique() == 5
    assert s["records_changed"] + s["records_unchanged"] == s["records_in"]
    assert s["field_changes_by_source"] == {"automatic": 5, "decision": 2}
    assert s["xlsx_rows"] == 5
    assert set(changes.loc[changes["source"] != "automatic", "source"]) == {"1", "2"}


def test_stale_accept_on_fix_record_blocks_the_automatic_fix(tables):
    v, m = tables
    result = apply_decisions(v, m, decisions([("R2", 5, "accept", {"person_id": "079999999999"})]))
    assert "R2" not in set(result.changes["record_id"])
    assert result.summary["decisions"]["decisions_stale"] == 1
    ok = apply_decisions(v, m, decisions([("R2", 5, "accept", {"person_id": "079185000002"})]))
    assert set(ok.changes.loc[ok.changes["record_id"] == "R2", "source"]) == {"5"}


_text_values = st.sampled_from(["Nguyễn Văn An", "Nguyen Van An", "=1+1", "+84912", "", None, "079090000001",
                                "1990-01-02", "02/01/1990"])
_sex_values = st.sampled_from(["Nam", "Nữ", "M", "F", "1", "0", "", None])


@st.composite
def _apply_inputs(draw):
    n = draw(st.integers(min_value=1, max_value=8))
    rows, matches, decs = [], [], []
    for i in range(n):
        rid = f"R{i}"
        rows.append(vax_row(rid, draw(_text_values), draw(_text_values), draw(_sex_values), draw(_text_values)))
        status = draw(st.sampled_from(["verified", "fix", "review", "unmatched", "invalid"]))
        matches.append(match_row(rid, status, "079090000001", name=draw(_text_values), dob=draw(_text_values),
                                 sex=draw(st.sampled_from(["M", "F", None])), idn=draw(_text_values)))
        action = draw(st.sampled_from([None, "accept", "bulk_accept", "reject", "defer", "edit"]))
        if action == "edit":
            decs.append((rid, 100 + i, action, {"full_name": draw(_text_values) or "Lê Văn Tám"}))
        elif action:
            decs.append((rid, 100 + i, action, {}))
    return pd.DataFrame(rows, columns=VAX_COLS), pd.DataFrame(matches), decisions(decs) if decs else None


@settings(max_examples=80, deadline=None)
@given(_apply_inputs())
def test_apply_properties(inputs):
    v, m, d = inputs
    first = apply_decisions(v, m, d)
    s = first.summary
    assert s["records_in"] == s["records_out"] == s["records_changed"] + s["records_unchanged"] == len(v)
    assert first.table["record_id"].tolist() == v["record_id"].tolist()
    for rid, field, _old, new, _src in first.changes.itertuples(index=False):
        assert first.table.loc[first.table["record_id"] == rid, field].item() == new
    # idempotent: applying again to the output changes nothing
    second = apply_decisions(first.table, m, d)
    assert len(second.changes) == 0
    pd.testing.assert_frame_equal(second.table, first.table)


def test_quarantined_rows_are_carried_through(tmp_path, files, capsys):
    """Rows the importer refuses are not lost: they go to apply/quarantine.parquet and the summary reconciles."""
    from vaxlib.io import read_output, write_table

    vp, mp, url = files
    v = pd.read_parquet(vp)
    csv = tmp_path / "vaccinations.csv"
    write_table(v, csv, "vaccinations")
    with open(csv, "a", encoding="utf-8", newline="") as fh:
        fh.write("R99,Nguyễn Văn B\r\n")  # too few fields
        fh.write(",,,,,,,,,,,,\r\n")  # empty row
        fh.write("R1,Trùng mã,01/01/1990,Nam,,,,F1,,1,01/06/2021,AstraZeneca,\r\n")  # duplicate key
    out = tmp_path / "out"
    rc = vax_main(["apply", "--vaccinations", str(csv), "--matches", str(mp), "--ledger", url, "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert f"{len(v) + 3} dòng vào: {len(v)} bản ghi ra, 3 dòng cách ly" in printed
    s = json.loads((out / OUTPUT_FILES["summary"]).read_text(encoding="utf-8"))
    assert s["rows_in"] == s["records_out"] + s["rows_quarantined"] == len(v) + 3
    assert s["quarantine_reasons"] == {"duplicate_key": 1, "empty_row": 1, "field_count": 1}
    q = read_output(out / OUTPUT_FILES["quarantine"], "quarantine")
    assert sorted(q["row"].unique().tolist()) == [len(v) + 2, len(v) + 3, len(v) + 4]
    assert check_run(out)["rows"]["quarantine"] == 3
