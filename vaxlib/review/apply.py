"""``vax apply``: turn automatic fixes and approved decisions into a corrected table.

Which value each correctable field (``full_name``, ``dob``, ``sex``,
``id_number``) of a record gets, from its match status and its effective
ledger decision (:meth:`vaxlib.review.ledger.Ledger.current_decisions`):

=================  ========================  ===========================  ==============
status             decision                  result                       source
=================  ========================  ===========================  ==============
fix                none or defer             ``corrected_*`` values       ``automatic``
fix, review        accept / bulk_accept      ``corrected_*`` values       decision id
any                edit                      the analyst's values         decision id
fix                reject                    unchanged (veto)             —
review             reject, defer or none     unchanged                    —
verified,          anything but edit         unchanged                    —
unmatched, invalid
=================  ========================  ===========================  ==============

Only non-empty ``corrected_*`` values are used; an edit changes only the
fields it names.  An accept whose stored ``values["person_id"]`` differs from
the matches table's ``person_id`` is *stale* (the suggestion changed after
the decision): nothing is applied to that record, not even an automatic fix,
until an analyst decides again (counted as ``decisions_stale``).  Sex is written the platform's way
(``Nam``/``Nữ``) and compared by meaning, so ``1`` -> ``Nam`` is no change.

Outputs (in ``--out DIR``), written as one run (:func:`vaxlib.runs.atomic_run`:
all files or none, with ``_manifest.json``):

* ``vaccinations_corrected.parquet`` — every accepted input record, corrected;
* ``quarantine.parquet`` — the input rows the importer could not accept
  (file, row, column, reason), so that rows in = records out + rows quarantined;
* ``changes.parquet`` and ``changes.csv`` — the change log
  (``record_id, field, old_value, new_value, source``);
* ``vaccinations_reimport.xlsx`` — the changed records (or all, with
  ``xlsx_scope="all"``) in the platform's layout with Vietnamese headers,
  every cell text;
* ``apply_summary.json`` — counts that reconcile (``rows_in``, ``records_out``,
  ``rows_quarantined``, ...), and the ledger head used.

The outputs are a pure function of the inputs, so a rerun after a crash at
any point gives the same files as an uninterrupted run, and applying again
to the corrected table changes nothing.

Spreadsheet safety (OWASP "CSV injection",
https://owasp.org/www-community/attacks/CSV_Injection): the .xlsx is written
by :func:`vaxlib.io.write_table` (every cell a text cell, number format
``@``, and a value beginning with ``= + - @``, tab, CR or ``'`` gets one
leading apostrophe, which :func:`vaxlib.io.read_table` removes again on
re-import); ``changes.csv`` uses the same apostrophe rule.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaxlib.cells import cell_text, is_missing
from vaxlib.exports import is_formula_like, neutralise, write_csv  # noqa: F401 - is_formula_like re-exported
from vaxlib.errors import VaxError
from vaxlib.io import QUARANTINE_COLUMNS, read_output, read_table, write_json, write_output, write_table
from vaxlib.runs import (APPLY_SUMMARY, CHANGES, CHANGES_CSV, CORRECTED, MATCHES, QUARANTINE, REIMPORT_XLSX,
                         atomic_run, check_input, run_file)
from vaxlib.vn.sex import parse_sex

__all__ = [
    "FIELD_SOURCES",
    "CHANGE_COLUMNS",
    "OUTPUT_FILES",
    "ApplyError",
    "ApplyResult",
    "apply_decisions",
    "run_apply",
    "read_vaccinations",
    "read_matches",
    "write_reimport_xlsx",
    "neutralise_csv_value",
    "is_formula_like",
]

log = logging.getLogger(__name__)

#: correctable field -> column of the matches table with the suggested value
FIELD_SOURCES: dict[str, str] = {
    "full_name": "corrected_full_name",
    "dob": "corrected_dob",
    "sex": "corrected_sex",
    "id_number": "corrected_id_number",
}
CHANGE_COLUMNS: tuple[str, ...] = ("record_id", "field", "old_value", "new_value", "source")
OUTPUT_FILES = {
    "table": CORRECTED,
    "changes": CHANGES,
    "changes_csv": CHANGES_CSV,
    "xlsx": REIMPORT_XLSX,
    "quarantine": QUARANTINE,
    "summary": APPLY_SUMMARY,
}
AUTOMATIC = "automatic"
_SEX_TEXT = {"M": "Nam", "F": "Nữ"}
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit minus the header row


class ApplyError(VaxError):
    """``vax apply`` cannot produce a consistent result (names the file or the count)."""


@dataclasses.dataclass
class ApplyResult:
    """Result of :func:`apply_decisions`.

    Attributes
    ----------
    table
        The corrected vaccinations (same rows, columns and order as the input).
    changes
        Change log, :data:`CHANGE_COLUMNS`, ordered by record then field.
    summary
        Counts; ``records_in == records_out == records_changed + records_unchanged``.
    """

    table: pd.DataFrame
    changes: pd.DataFrame
    summary: dict[str, Any]


def _sex_meaning(value: Any) -> str | None:
    text = cell_text(value).strip()
    return parse_sex(text) if text else None


def _render(field: str, value: Any) -> str:
    text = cell_text(value)
    if field == "sex":
        meaning = _sex_meaning(text)
        return _SEX_TEXT.get(meaning, text) if meaning else text
    return text


def _same(field: str, old: Any, new: str) -> bool:
    if field == "sex":
        a, b = _sex_meaning(old), _sex_meaning(new)
        if a is not None or b is not None:
            return a == b
    return cell_text(old) == new


def apply_decisions(
    vaccinations: pd.DataFrame,
    matches: pd.DataFrame,
    decisions: pd.DataFrame | None = None,
) -> ApplyResult:
    """Apply automatic fixes and ledger decisions (pure function, no I/O).

    Parameters
    ----------
    vaccinations
        Contract vaccinations table (``record_id`` unique).
    matches
        Contract matches table; records without a row stay unchanged.
    decisions
        :meth:`Ledger.current_decisions` (``record_id, decision_id, action,
        values``); None means no decisions.

    Returns
    -------
    ApplyResult

    Raises
    ------
    ApplyError
        Duplicate record ids, or counts that do not reconcile.
    """
    if vaccinations["record_id"].duplicated().any():
        row = int(vaccinations["record_id"].duplicated().to_numpy().argmax())
        raise ApplyError(f"vaccinations: record_id not unique (row {row + 1})")
    if matches["record_id"].duplicated().any():
        row = int(matches["record_id"].duplicated().to_numpy().argmax())
        raise ApplyError(f"matches: record_id not unique (row {row + 1})")
    table = vaccinations.copy()
    n = len(table)
    record_ids = table["record_id"].astype(str).to_numpy(dtype=object)
    position = pd.Series(np.arange(n), index=record_ids)

    m = matches.copy()
    m["record_id"] = m["record_id"].astype(str)
    for col in (*FIELD_SOURCES.values(), "person_id"):
        if col not in m.columns:
            m[col] = None
    aligned = pd.DataFrame({"record_id": record_ids}).merge(
        m[["record_id", "status", "person_id", *FIELD_SOURCES.values()]], on="record_id", how="left")
    status = aligned["status"].astype(object).where(aligned["status"].notna(), None).to_numpy(dtype=object)

    counts: Counter[str] = Counter()
    source = np.full(n, None, dtype=object)  # who changes the row: "automatic" or a decision id
    suggest = np.zeros(n, dtype=bool)  # the row takes the corrected_* values
    decided = np.zeros(n, dtype=bool)
    edits: list[tuple[int, dict[str, Any], str]] = []
    if decisions is not None and len(decisions):
        for d in decisions.to_dict("records"):
            p = position.get(str(d["record_id"]))
            if p is None:
                counts["decisions_unknown_record"] += 1
                continue
            p = int(p)
            action, st = d["action"], status[p]
            decided[p] = action != "defer"
            if action == "edit":
                edits.append((p, dict(d.get("values") or {}), str(d["decision_id"])))
                source[p] = str(d["decision_id"])
                counts["decisions_applied"] += 1
            elif action in ("accept", "bulk_accept") and st in ("fix", "review"):
                wanted = (d.get("values") or {}).get("person_id")
                if wanted is not None and cell_text(aligned.at[p, "person_id"]) != str(wanted):
                    counts["decisions_stale"] += 1
                    continue
                suggest[p] = True
                source[p] = str(d["decision_id"])
                counts["decisions_applied"] += 1
            elif action == "reject":
                counts["decisions_rejected"] += 1
            elif action == "defer":
                counts["decisions_deferred"] += 1
            else:
                counts["decisions_not_applicable"] += 1
    automatic = (status == "fix") & ~decided
    suggest |= automatic
    source[automatic] = AUTOMATIC

    parts = []
    for order, (field, corrected) in enumerate(FIELD_SOURCES.items()):
        cand = aligned[corrected].astype(object).where(suggest & aligned[corrected].notna().to_numpy(), None)
        cand = cand.to_numpy(dtype=object, copy=True)
        src = np.where(suggest, source, None)
        for p, values, did in edits:
            if field in values and not is_missing(values[field]):
                cand[p], src[p] = values[field], did
        has_new = pd.notna(cand)
        has_new[has_new] = pd.Series(cand[has_new], dtype=object).astype(str).to_numpy() != ""
        if not has_new.any():
            continue
        old = table[field].astype(object) if field in table.columns else pd.Series([None] * n, dtype=object)
        old_text = old.where(old.notna(), "").astype(str).to_numpy(dtype=object)
        idx = np.flatnonzero(has_new)
        new_text = pd.Series(cand[idx], dtype=object).astype(str)
        if field == "sex":  # rendered and compared by meaning, once per distinct value
            new_text = new_text.map({u: _render(field, u) for u in new_text.unique()})
            pairs = pd.Series(list(zip(old_text[idx], new_text)), dtype=object)
            verdict = {pr: _same(field, *pr) for pr in pairs.unique()}
            same = pairs.map(verdict).to_numpy(dtype=bool)
        else:
            same = old_text[idx] == new_text.to_numpy(dtype=object)
        new_text = new_text.to_numpy(dtype=object)
        idx, new_text = idx[~same], new_text[~same]
        if not len(idx):
            continue
        updated = old.to_numpy(dtype=object, copy=True)
        updated[idx] = new_text
        col = pd.Series(updated, index=table.index, dtype=object)
        if field in table.columns and table[field].dtype != object:
            col = col.astype(table[field].dtype)
        table[field] = col
        parts.append(pd.DataFrame({"record_id": record_ids[idx], "field": field, "old_value": old_text[idx],
                                   "new_value": new_text, "source": src[idx], "_order": order}))
    if parts:
        change_df = pd.concat(parts, ignore_index=True).sort_values(
            ["record_id", "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)
        change_df = change_df.astype(object)
    else:
        change_df = pd.DataFrame({c: pd.Series(dtype=object) for c in CHANGE_COLUMNS})
    changed_records = change_df["record_id"].nunique()
    by_source = Counter("automatic" if s == AUTOMATIC else "decision" for s in change_df["source"])
    status_counts = Counter(str(x) for x in status if x is not None)
    summary: dict[str, Any] = {
        "records_in": int(len(vaccinations)),
        "records_out": int(len(table)),
        "records_changed": int(changed_records),
        "records_unchanged": int(len(table) - changed_records),
        "records_without_match_row": int(sum(x is None for x in status)),
        "field_changes": int(len(change_df)),
        "field_changes_by_field": {f: int((change_df["field"] == f).sum()) for f in FIELD_SOURCES},
        "field_changes_by_source": {"automatic": int(by_source["automatic"]),
                                    "decision": int(by_source["decision"])},
        "records_by_status": dict(sorted((k, int(v)) for k, v in status_counts.items())),
        "decisions": {k: int(counts[k]) for k in (
            "decisions_applied", "decisions_rejected", "decisions_deferred", "decisions_stale",
            "decisions_not_applicable", "decisions_unknown_record")},
    }
    if not (summary["records_in"] == summary["records_out"]
            == summary["records_changed"] + summary["records_unchanged"]):
        raise ApplyError(f"counts do not reconcile: {summary}")
    return ApplyResult(table=table, changes=change_df, summary=summary)


# --------------------------------------------------------------------------- files

def _read_vaccinations(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(accepted records, quarantine, data rows in the file), through :func:`vaxlib.io.read_table`."""
    if not path.exists():
        raise ApplyError(f"{path}: file not found")
    check_input(path)
    result = read_table(path, "vaccinations")
    if len(result.quarantine):
        log.warning("%s: %d row(s) quarantined by the importer (carried to %s)",
                    path.name, result.quarantine["row"].nunique(), QUARANTINE)
    return result.table, result.quarantine, int(result.rows_in)


def read_vaccinations(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a vaccinations table (:func:`vaxlib.io.read_table`; quarantined rows left out)."""
    return _read_vaccinations(Path(path))[0]


def read_matches(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``matches.parquet`` of a complete ``vax match`` run (the file or its folder).

    Raises
    ------
    vaxlib.errors.ManifestError
        The run folder has no manifest or does not match it.
    vaxlib.io.OutputTableError
        Not a matches table.
    """
    return read_output(run_file(path, MATCHES, command="match"), "matches")


#: OWASP CSV-injection defence, the one implementation (vaxlib.exports); kept under this module's old names
neutralise_csv_value = neutralise


def write_reimport_xlsx(table: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write vaccinations in the platform's re-import layout (.xlsx) with :func:`vaxlib.io.write_table`.

    Vietnamese headers, dates as the platform exports them, every cell text,
    formula-like values neutralised by :mod:`vaxlib.exports`.
    """
    from vaxlib.io import write_table

    path = Path(path)
    if len(table) > XLSX_MAX_ROWS:
        raise ApplyError(f"{path.name}: {len(table)} rows exceed the Excel sheet limit ({XLSX_MAX_ROWS})")
    write_table(table, path, "vaccinations", format="xlsx")
    return path


def run_apply(
    vaccinations: str | os.PathLike[str] | pd.DataFrame,
    matches: str | os.PathLike[str] | pd.DataFrame,
    out_dir: str | os.PathLike[str],
    *,
    ledger: Any = None,
    xlsx_scope: str = "changed",
    run_args: dict[str, Any] | None = None,
) -> ApplyResult:
    """Read inputs, apply, and write every output into ``out_dir`` as one atomic run.

    Parameters
    ----------
    vaccinations, matches
        Paths (or already loaded DataFrames).  A matches path must be a complete
        ``vax match`` run (its manifest is checked).
    out_dir
        Output folder, replaced as a whole when everything is written
        (:func:`vaxlib.runs.atomic_run`); a failed run leaves the previous one.
    ledger
        None, a database URL / SQLite path, or an open :class:`~vaxlib.review.ledger.Ledger`.
        The ledger must verify; a tampered ledger raises :class:`ApplyError`.
    xlsx_scope
        ``"changed"`` (default: the records to re-import) or ``"all"``.
    run_args
        The command's arguments, recorded in the manifest.

    Returns
    -------
    ApplyResult
        ``summary`` reconciles: ``rows_in == records_out + rows_quarantined``.
    """
    from vaxlib.review.ledger import Ledger

    if xlsx_scope not in ("changed", "all"):
        raise ApplyError(f"xlsx_scope must be 'changed' or 'all', not {xlsx_scope!r}")
    inputs = [p for p in (vaccinations, matches) if not isinstance(p, pd.DataFrame)]
    with atomic_run(out_dir, command="apply", args=run_args or {"xlsx_scope": xlsx_scope},
                    inputs=inputs, settings={"xlsx_scope": xlsx_scope}) as staging:
        if isinstance(vaccinations, pd.DataFrame):
            v, quarantine, rows_in = vaccinations, pd.DataFrame(columns=QUARANTINE_COLUMNS), len(vaccinations)
        else:
            v, quarantine, rows_in = _read_vaccinations(Path(vaccinations))
        m = matches if isinstance(matches, pd.DataFrame) else read_matches(matches)

        decisions = None
        ledger_info: dict[str, Any] | None = None
        if ledger is not None:
            own = not isinstance(ledger, Ledger)
            led = Ledger.open(ledger, readonly=True) if own else ledger
            try:
                check = led.verify()
                if not check.ok:
                    raise ApplyError.say("ledger_failed", url=led.url, result=check)
                decisions = led.current_decisions()
                ledger_info = {"url": led.url, "location": led.backend.location(), "uid": led.backend.uid(),
                               "head_id": check.head_id or 0, "head_hash": check.head_hash}
                waiting = led.pending_bulks()  # two-person rule: not applied until a supervisor confirms
                ledger_info["pending_bulk"] = {"bulks": int(len(waiting)), "records": int(waiting["records"].sum())}
            finally:
                if own:
                    led.close()

        result = apply_decisions(v, m, decisions)
        n_quarantined = int(quarantine["row"].nunique()) if len(quarantine) else 0
        result.summary.update({
            "rows_in": int(rows_in),
            "rows_quarantined": n_quarantined,
            "quarantine_reasons": _reason_counts(quarantine),
            "ledger": ledger_info,
        })
        if result.summary["rows_in"] != result.summary["records_out"] + n_quarantined:
            raise ApplyError(f"rows do not reconcile: {rows_in} in, {result.summary['records_out']} out, "
                             f"{n_quarantined} quarantined")

        table = result.table
        write_output(table, staging / CORRECTED, "table")
        write_output(result.changes, staging / CHANGES, "changes")
        write_output(quarantine, staging / QUARANTINE, "quarantine")
        write_csv(result.changes, staging / CHANGES_CSV, encoding="utf-8-sig")
        staging.rows(CHANGES_CSV, len(result.changes))
        xlsx_rows = table if xlsx_scope == "all" else table[
            table["record_id"].astype(str).isin(set(result.changes["record_id"]))]
        write_reimport_xlsx(xlsx_rows, staging / REIMPORT_XLSX)
        staging.rows(REIMPORT_XLSX, len(xlsx_rows))
        result.summary["xlsx_rows"] = int(len(xlsx_rows))
        write_json(result.summary, staging / APPLY_SUMMARY, sort_keys=True)
    log.info("apply: %d rows in, %d records out (%d changed, %d field changes), %d quarantined -> %s",
             result.summary["rows_in"], result.summary["records_out"], result.summary["records_changed"],
             result.summary["field_changes"], n_quarantined, out_dir)
    return result


def _reason_counts(quarantine: pd.DataFrame) -> dict[str, int]:
    counts: Counter = Counter()
    for r in quarantine.drop_duplicates("row")["reason"] if len(quarantine) else []:
        counts.update(str(r).split(";"))
    return dict(sorted(counts.items()))
