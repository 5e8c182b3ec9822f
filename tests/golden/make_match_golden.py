"""Write the golden `vax match` outputs that tests/test_match_golden.py pins.

Run with the *reference* code on PYTHONPATH (the commit before an engine
change), never with the code under test::

    git worktree add /tmp/ref <commit>
    PYTHONPATH=/tmp/ref python tests/golden/make_match_golden.py

Each set is generated with ``vaxlib.synth.generate`` (deterministic), matched
with the shipped ``parameters/matching.yaml`` and stored as a gzipped CSV of
the columns that must not change, with a fingerprint of the inputs so that a
change of the generator is told apart from a change of the matcher.

When the *generator* changed since the reference commit, generate the inputs
with the current code and match them with the reference code, in two steps::

    PYTHONPATH=$PWD python tests/golden/make_match_golden.py inputs /tmp/golden-in
    PYTHONPATH=/tmp/ref python tests/golden/make_match_golden.py match /tmp/golden-in

Where the current matcher deliberately answers otherwise than the reference
(a later fix, checked against the synthetic truth), the record is listed with
its reason in ``match-exceptions.csv``; ``tests/test_match_golden.py`` then
pins the new value for that record and column only.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
#: name -> (persons, seed, error profile file name or None)
SETS = {"default-s11": (1500, 11, None), "harsh-s3": (1500, 3, "errors-harsh.yaml")}
PINNED = ["record_id", "status", "person_id", "person_key", "error_codes", "corrected_full_name",
          "corrected_dob", "corrected_sex", "corrected_id_number"]


def inputs(name: str) -> dict[str, pd.DataFrame]:
    from vaxlib import config
    from vaxlib.synth import generate

    persons, seed, errors = SETS[name]
    return generate(persons, seed, errors=config.PARAMETERS_DIR / errors if errors else None)


def fingerprint(tables: dict[str, pd.DataFrame]) -> str:
    h = hashlib.sha256()
    for key in ("registry", "vaccinations"):
        h.update(pd.util.hash_pandas_object(tables[key], index=False).to_numpy().tobytes())
    return h.hexdigest()


def run(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    from vaxlib.config import PARAMETERS_DIR, load_yaml
    from vaxlib.match.pipeline import MatchSettings, run_match

    settings = MatchSettings.from_dict(load_yaml(PARAMETERS_DIR / "matching.yaml"))
    settings.workers = 1
    return run_match(tables["registry"], tables["vaccinations"], settings).matches[PINNED]


def save_inputs(folder: Path) -> None:
    """Generate every set with the code on the path and pickle it into *folder*."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in SETS:
        tables = inputs(name)
        pd.to_pickle({k: tables[k] for k in ("registry", "vaccinations")}, folder / f"{name}.pkl")


def main(argv: list[str] | None = None) -> int:
    import vaxlib

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["inputs"]:
        print("generator code:", vaxlib.__file__, file=sys.stderr)
        save_inputs(Path(argv[1]))
        return 0
    saved = Path(argv[1]) if argv[:1] == ["match"] else None
    print("reference code:", vaxlib.__file__, file=sys.stderr)
    meta = {}
    for name in SETS:
        tables = pd.read_pickle(saved / f"{name}.pkl") if saved else inputs(name)
        m = run(tables)
        # mtime 0: the same outputs give the same bytes
        m.to_csv(HERE / f"match-{name}.csv.gz", index=False, compression={"method": "gzip", "mtime": 0})
        meta[name] = {"inputs_sha256": fingerprint(tables), "rows": len(m)}
    (HERE / "match-golden.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
