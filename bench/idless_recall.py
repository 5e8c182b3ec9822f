"""Automatic-link recall and precision by kind of typed ID (issue 16 item 6).

Reads a `vax synth` folder and the `vax match` folder made from it, and prints
`vax evaluate`'s headline figures plus, for each kind of typed ID (from the
truth's id codes), how many records of people in the register are linked
automatically and rightly, and how many automatic links of that kind are wrong.
Aggregates only.

    python bench/idless_recall.py --data /tmp/h3 --matches /tmp/h3-match
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from vaxlib.match.evaluate import evaluate

#: the truth's id code -> kind reported (first that applies wins)
KINDS = [("id:missing", "no ID"), ("id:passport", "passport"), ("id:other_person", "someone else's ID"),
         ("id:unknown", "unknown number")]


def kind_of(codes: str) -> str:
    cs = set(str(codes or "").split(";"))
    for code, kind in KINDS:
        if code in cs:
            return kind
    return "own ID (any form)"


def by_kind(matches: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    m = matches.merge(truth[["record_id", "person_id", "error_codes"]].rename(
        columns={"person_id": "true_pid", "error_codes": "true_codes"}), on="record_id", validate="one_to_one")
    m["kind"] = m["true_codes"].map(kind_of)
    in_reg = m["true_pid"].notna() & m["true_pid"].astype(str).ne("")
    auto = m["status"].isin(["verified", "fix"])
    right = m["person_id"].notna() & (m["person_id"].astype(str) == m["true_pid"].astype(str))
    g = pd.DataFrame({"kind": m["kind"], "in_reg": in_reg, "auto": auto, "auto_right": auto & right,
                      "auto_wrong": auto & ~right, "outsider_auto": auto & ~in_reg})
    out = g.groupby("kind").agg(records=("kind", "size"), in_registry=("in_reg", "sum"), auto=("auto", "sum"),
                                auto_right=("auto_right", "sum"), auto_wrong=("auto_wrong", "sum"),
                                outsiders_auto_linked=("outsider_auto", "sum"))
    out.loc["all"] = out.sum()
    out["auto_recall"] = out["auto_right"] / out["in_registry"].clip(lower=1)
    out["auto_precision"] = out["auto_right"] / out["auto"].clip(lower=1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--matches", required=True, type=Path)
    a = ap.parse_args()
    truth = pd.read_parquet(a.data / "truth_vaccinations.parquet")
    matches = pd.read_parquet(a.matches / "matches.parquet")
    ev = evaluate(matches, truth, pd.read_parquet(a.data / "vaccinations.parquet"))
    head = {k: ev[k] for k in ("auto_precision", "auto_recall", "code_recall", "code_precision",
                               "person_key_f1", "review_rate", "nonregistry_auto_linked")}
    print(json.dumps(head, indent=1))
    with pd.option_context("display.width", 200, "display.precision", 5):
        print(by_kind(matches, truth).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
