"""How right is ``vax feedback``? Scores it against the synthetic truth, before and after.

A synthetic campaign (``vax synth`` with about 2 000 complaints of the
seventeen kinds of :mod:`vaxlib.complaints.generate`, some submitted as
``2022-04-20`` or ``20/04/2022``) goes through ``match -> apply -> match``
once; then ``vax feedback`` runs on that same folder twice: with the code of
``--before`` (a git ref, default the main commit this work started from) and
with the code of this checkout.  Both are scored against ``truth_feedback``:

* automatic-closure precision: of the complaints closed automatically, the
  share the data really answers (every record concerned and every record of
  the person verified to its true person after the fixes -- for "someone
  else's dose is on my ID", that dose verified to its owner -- and the complaint
  is of a kind the data can answer at all: not a question, an account
  problem, a dose never uploaded, a duplicate, a wrong product, an outsider);
* automatic-closure recall: of those the data answers, the share closed;
* person link accuracy: the register person given (none for outsiders) is
  the true one, overall and for complaints typed without a usable ID;
* category accuracy: the system category is the true problem;
* records concerned linked: the records the complaint is about are among
  the records linked to it;
* lost / duplicated / invented complaints (a quarantined complaint, with its
  reason, is not lost).

Both runs' output tables are also compared (rows, values, dtypes): the
tables that differ, and per report the columns that differ, with the truth.

``--run DIR`` scores an existing folder instead (``DIR/data`` as ``vax synth`` writes it, with the
truth, and ``DIR/match`` from ``vax match``; ``match-corrected``/``apply`` when there): the same-answers
sets and the 1M set, matched once, without generating anything.

Usage: python bench/feedback_accuracy.py [--persons 20000] [--rate 0.1] [--seed 7] [--before REF]
       [--errors parameters/errors-harsh.yaml] [--by-kind] [--keep DIR] [--run DIR]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
#: main when issue #18 was taken up (the "before" figures)
BEFORE_REF = "c7c4056"
TARGETS = {"closure_precision": 0.995, "closure_recall": 0.85, "link_accuracy": 0.98,
           "link_accuracy_no_id": 0.98, "category_accuracy": 0.90, "records_linked": 0.95}


def build(root: Path, persons: int, seed: int, rate: float, errors: str | None = None) -> dict[str, pd.DataFrame]:
    from vaxlib import config
    from vaxlib.match.pipeline import run_match
    from vaxlib.review.apply import apply_decisions
    from vaxlib.runs import atomic_run
    from vaxlib.synth import generate, write_dataset

    prof = config.load_yaml(errors or config.PARAMETERS_DIR / "errors.yaml")
    prof["feedback"] = {**(prof.get("feedback") or {}), "complaints_per_person": rate,
                        "timestamp_forms": {"iso_zone": 0.8, "iso_utc": 0.04, "iso_local": 0.04,
                                            "date_only": 0.04, "dmy": 0.04, "dmy_time": 0.04}}
    t = generate(persons, seed, provinces=["79", "01", "48", "31"], errors=prof)
    write_dataset(t, root / "data")
    first = run_match(t["registry"], t["vaccinations"])
    # complete runs (with their manifests), as vax match and vax apply write them
    with atomic_run(root / "match", command="match") as run:
        first.matches.to_parquet(run / "matches.parquet", index=False)
        first.candidates.to_parquet(run / "candidates.parquet", index=False)
        first.model.save(run / "model.json")
    applied = apply_decisions(t["vaccinations"], first.matches)
    with atomic_run(root / "apply", command="apply") as run:
        applied.changes.to_parquet(run / "changes.parquet", index=False)
        applied.table.to_parquet(run / "vaccinations_corrected.parquet", index=False)
    second = run_match(t["registry"], applied.table)
    with atomic_run(root / "match-corrected", command="match") as run:
        second.matches.to_parquet(run / "matches.parquet", index=False)
        second.candidates.to_parquet(run / "candidates.parquet", index=False)
        second.model.save(run / "model.json")
    return {**t, "matches_current": second.matches}


def existing(run: Path) -> dict[str, pd.DataFrame]:
    """The tables :func:`score` needs from a folder matched already (``--run``)."""
    from vaxlib.io import read_output

    data = run / "data"
    t = {k: pd.read_parquet(data / f"{k}.parquet") for k in ("feedback", "truth_feedback", "truth_vaccinations")}
    cur = run / "match-corrected" if (run / "match-corrected").exists() else run / "match"
    t["matches_current"] = read_output(cur / "matches.parquet", "matches", columns=["record_id", "status", "person_id"])
    return t


def checkout(ref: str, dest: Path) -> Path:
    """The package and parameters of ``ref`` (git archive), to run the "before" code."""
    dest.mkdir(parents=True)
    arc = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "vaxlib", "parameters", "pyproject.toml"],
                         check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=arc, check=True)
    return dest


def run_feedback(src: Path, data: Path, out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vaxlib.cli", "feedback", "--data", str(data), "--out", str(out),
                    "--as-of", "2022-04-30"], check=True, env=env, capture_output=True, cwd=src)
    return time.perf_counter() - t


def score(out: Path, t: dict[str, pd.DataFrame]) -> dict[str, float]:
    from vaxlib.feedback import usable_ids

    items = pd.read_parquet(out / "feedback_status.parquet")
    links = pd.read_parquet(out / "feedback_links.parquet")
    quar = pd.read_parquet(out / "quarantine.parquet") if (out / "quarantine.parquet").exists() else None
    fb, truth = t["feedback"], t["truth_feedback"]
    ids_in = set(fb["feedback_id"])
    ids_out = list(items["feedback_id"]) + (list(quar["feedback_id"].dropna()) if quar is not None else [])
    n_quar_import = int(quar["feedback_id"].isna().sum()) if quar is not None else 0
    res: dict[str, float] = {
        "complaints": len(fb),
        "lost": len(ids_in - set(ids_out)) - n_quar_import,
        "duplicated": len(ids_out) - len(set(ids_out)),
        "invented": len(set(ids_out) - ids_in),
        "quarantined": 0 if quar is None else len(quar),
    }
    m = items.merge(truth, on="feedback_id", how="inner", suffixes=("", "_true"))
    m = m.merge(fb[["feedback_id", "id_number"]], on="feedback_id", how="left")
    # what the data says now: each record verified to its true person?
    cur = t["matches_current"].set_index("record_id")
    tv = t["truth_vaccinations"].set_index("record_id")
    ok_rec = (cur["status"].eq("verified") & (cur["person_id"].astype(object) == tv["person_id"].reindex(cur.index)
                                              .astype(object)))
    recs_of = tv.reset_index().groupby("human_id")["record_id"].apply(list)

    def solved(row) -> bool:
        if row["closable"] != "if_verified":
            return False
        concerned = row["record_ids_true"].split(";") if isinstance(row["record_ids_true"], str) else []
        # "a dose on my ID is not mine" is answered by that dose; the others by the person's whole history
        own = recs_of.get(row["human_id"], []) if row["kind"] != "not_my_dose" else []
        return all(bool(ok_rec.get(r, False)) for r in concerned + list(own))

    m["solved"] = m.apply(solved, axis=1)
    closed = m["status"].eq("resolved") & m["resolution"].isin(["applied_fix", "consolidated_history", "already_recorded"])
    res["closed"] = int(closed.sum())
    res["solvable"] = int(m["solved"].sum())
    res["closure_precision"] = float((closed & m["solved"]).sum() / max(1, closed.sum()))
    res["closure_recall"] = float((closed & m["solved"]).sum() / max(1, m["solved"].sum()))
    res["wrongly_closed"] = int((closed & ~m["solved"]).sum())
    got = m["person_id"].astype(object).where(m["person_id"].notna(), None)
    want = m["person_id_true"].astype(object).where(m["person_id_true"].notna(), None)
    right = pd.Series([a == b for a, b in zip(got, want)], index=m.index)
    no_id = usable_ids(m["id_number"]).eq("")
    res["link_accuracy"] = float(right.mean())
    res["link_accuracy_no_id"] = float(right[no_id].mean()) if no_id.any() else float("nan")
    res["link_accuracy_outsiders"] = float(right[m["kind"].str.startswith("outsider")].mean())
    res["category_accuracy"] = float((m["category_system"] == m["problem"]).mean())
    if "resubmission_of_true" in m:  # a complaint sent again is recognised as such (only the 'after' code says)
        re_true = m["resubmission_of_true"].notna()
        res["resubmissions_found"] = float((m.loc[re_true, "resubmission_of"] == m.loc[re_true,
                                                                                   "resubmission_of_true"]).mean())
    linked = links.groupby("feedback_id")["record_id"].apply(set)
    need = m[m["record_ids_true"].notna()]
    cov = [set(r.split(";")) <= linked.get(f, set()) for f, r in zip(need["feedback_id"], need["record_ids_true"])]
    res["records_linked"] = float(sum(cov) / max(1, len(cov)))
    res["_by_kind"] = m.assign(closed=closed, right=right).groupby("kind").agg(
        n=("feedback_id", "size"), closed=("closed", "sum"), solved=("solved", "sum"), link_ok=("right", "mean"))
    return res


TABLES = ("feedback_status", "queue", "feedback_links", "quarantine", "replies", "review_records",
          "overdue_by_facility")


def compare(before: Path, after: Path, truth: pd.DataFrame) -> list[str]:
    """Lines telling which output tables differ and, per report whose status row differs, how."""
    lines = []
    for name in TABLES:
        a, b = pd.read_parquet(before / f"{name}.parquet"), pd.read_parquet(after / f"{name}.parquet")
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
            lines.append(f"{name}: equal ({len(a):,} rows)")
        except AssertionError as exc:
            lines.append(f"{name}: differs ({len(a):,} -> {len(b):,} rows; {str(exc).splitlines()[0]})")
    a = pd.read_parquet(before / "feedback_status.parquet").set_index("feedback_id")
    b = pd.read_parquet(after / "feedback_status.parquet").set_index("feedback_id").reindex(a.index)
    same = pd.DataFrame({c: [x == y or (pd.isna(x) and pd.isna(y)) if not isinstance(x, (list, tuple)) else x == y
                             for x, y in zip(a[c].astype(object), b[c].astype(object))] for c in a.columns}, index=a.index)
    cols = [c for c in a.columns if c != "match_probability" and not same[c].all()]
    rows = ~same[cols].all(axis=1) if cols else pd.Series(False, index=a.index)
    lines.append(f"reports whose status row differs beyond match_probability: {int(rows.sum())} "
                 f"(match_probability differs on {int((~same['match_probability']).sum())})")
    t = truth.set_index("feedback_id")
    show = ["link_status", "person_id", "candidate_person_id", "status", "resolution", "reason"]
    for fid in a.index[rows.to_numpy()]:
        was = "/".join(str(a.at[fid, c]) for c in show)
        now = "/".join(str(b.at[fid, c]) for c in show)
        true = f"true person {t.at[fid, 'person_id']}, {t.at[fid, 'kind']}, {t.at[fid, 'closable']}" \
            if fid in t.index else "no truth"
        lines.append(f"  {fid}: {was} -> {now} ({true})")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--persons", type=int, default=20000)
    ap.add_argument("--rate", type=float, default=0.1, help="complaints per register person")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--before", default=BEFORE_REF, help="git ref of the 'before' code")
    ap.add_argument("--errors", default=None, help="error profile YAML (default parameters/errors.yaml)")
    ap.add_argument("--by-kind", action="store_true", help="also print the figures per kind")
    ap.add_argument("--keep", default=None, help="work in this new folder and keep it (data and both outputs)")
    ap.add_argument("--run", default=None, help="score this folder (data/ with the truth, match/) as it is")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fbbench-") as tmp:
        root = Path(a.keep) if a.keep else Path(tmp)
        t0 = time.perf_counter()
        if a.run:
            run = Path(a.run).resolve()
            tables = existing(run)
            print(f"data: {run}, {len(tables['feedback']):,} complaints")
        else:
            run = root / "run"
            tables = build(run, a.persons, a.seed, a.rate, a.errors)
            print(f"data: {a.persons:,} persons, {len(tables['feedback']):,} complaints "
                  f"({time.perf_counter() - t0:.0f} s to generate and match)")
        before_src = checkout(a.before, root / "before")
        results = {}
        for label, src in (("before", before_src), ("after", ROOT)):
            secs = run_feedback(src, run, root / f"fb-{label}")
            results[label] = score(root / f"fb-{label}", tables)
            results[label]["seconds"] = secs
        diffs = compare(root / "fb-before", root / "fb-after", tables["truth_feedback"])
    rows = ["complaints", "quarantined", "lost", "duplicated", "invented", "closed", "solvable", "wrongly_closed",
            "closure_precision", "closure_recall", "link_accuracy", "link_accuracy_no_id", "link_accuracy_outsiders",
            "category_accuracy", "records_linked", "resubmissions_found", "seconds"]
    print(f"{'metric':26s} {'before (' + a.before + ')':>18s} {'after':>10s} {'target':>8s}")
    for k in rows:
        b, f = results["before"].get(k), results["after"].get(k)
        fmt = (lambda x: "-" if x is None else f"{x:.3f}") if isinstance(f, float) else (
            lambda x: "-" if x is None else f"{x:,}")
        tgt = f"{TARGETS[k]:.3f}" if k in TARGETS else ("0" if k in ("lost", "duplicated", "invented") else "")
        print(f"{k:26s} {fmt(b):>18s} {fmt(f):>10s} {tgt:>8s}")
    print("\nbefore -> after, the output tables:")
    print("\n".join(diffs))
    if a.by_kind:
        for label in ("before", "after"):
            print(f"\n{label}, per kind:\n{results[label]['_by_kind'].to_string()}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
