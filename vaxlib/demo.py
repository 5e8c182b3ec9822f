"""`vax demo`: the main job end to end on embedded synthetic demo data.

generate (``vax synth``) → match (``vax match``) → evaluate against the truth
→ apply fixes (``vax apply``, with the analysts' ``ledger.db`` when there is
one) → match the corrected table again → create demo keys, sign verified
people and verify them (``vax keys init``, ``vax sign``, ``vax verify``) →
link citizens' feedback (``vax feedback``) → render the province reports and
the national summary (``vax report``).

Every step calls the real command, so the demo shows exactly what a user gets.
The folder is laid out as :class:`vaxlib.runs.RunFolder`.

Nothing is deleted.  ``--out`` must be empty, new, or a previous demo run
(it holds ``_demo.json``); anything else is refused.  Run again, the demo
reuses every step whose run is still current (same arguments, same input
content, same vaxlib source: :func:`vaxlib.runs.is_current`) and says so, keeps
the signing keys, and keeps the analysts' ``ledger.db`` (whose decisions
``vax apply`` then applies).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from vaxlib.config import DEMO_DIR, PARAMETERS_DIR
from vaxlib.errors import CommandError, VaxError

DEMO_PROVINCES = "79,01,48"  # Hồ Chí Minh, Hà Nội, Đà Nẵng
DEMO_PERSONS = 4000
#: the default error profile with more records needing a person's judgement, so the review queue has work
DEMO_ERRORS = PARAMETERS_DIR / "errors-demo.yaml"
DEMO_MARKER = "_demo.json"
# The demo's signing keys are throw-away keys under outputs/ (git-ignored); a
# real deployment sets VAX_KEY_PASSPHRASE from its secret store.
_DEMO_PASSPHRASE = "demo-keys-only-not-a-secret"


class DemoFolderError(VaxError):
    """``--out`` holds something that is not a previous demo run."""


def _args_of(argv: list[str]) -> dict:
    """The arguments a command records in its manifest for ``argv`` (as :mod:`vaxlib.cli` parses them)."""
    from vaxlib.cli import build_parser

    ns = build_parser().parse_args(argv)
    return {k: v for k, v in vars(ns).items() if k != "func"}


def _run(title: str, argv: list[str], out: Path | None = None, reused: list[str] | None = None) -> None:
    """Run one step, or reuse its run folder ``out`` when it is current."""
    from vaxlib.cli import main
    from vaxlib.runs import is_current

    print(f"\n== {title}\n$ vax {' '.join(argv)}", flush=True)
    if out is not None and is_current(out, command=argv[0], args=_args_of(argv)):
        print(f"   reused {out} (same inputs, arguments and vaxlib code)", flush=True)
        if reused is not None:
            reused.append(out.name)
        return
    t = time.perf_counter()
    code = main(argv)
    print(f"   ({time.perf_counter() - t:.1f} s)", flush=True)
    if code != 0:
        raise SystemExit(f"vax demo: step '{title}' failed with exit code {code}")


def _check_out(out: Path, settings: dict) -> None:
    """Refuse a non-empty ``out`` that is not a previous demo run; mark it as a demo folder."""
    if out.exists() and not out.is_dir():
        raise DemoFolderError(f"{out}: is a file; give a folder as --out")
    marker = out / DEMO_MARKER
    if out.is_dir() and any(out.iterdir()) and not marker.is_file():
        entries = sorted(p.name for p in out.iterdir())
        raise DemoFolderError(f"{out}: not empty and not a previous vax demo run (holds {', '.join(entries[:3])}"
                              f"{', ...' if len(entries) > 3 else ''}); choose a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"vaxlib_demo": 1, **settings}, indent=2) + "\n", encoding="utf-8")


def cmd_demo(args: argparse.Namespace) -> int:
    from vaxlib.runs import RunFolder

    out = Path(args.out)
    _check_out(out, {"persons": args.persons, "seed": args.seed, "provinces": args.provinces,
                     "errors": str(args.errors)})
    rf = RunFolder(out)
    reused: list[str] = []
    kept: list[str] = []
    if rf.ledger.exists():
        kept.append(f"the analysts' ledger {rf.ledger}")
    _run("1. Generate the synthetic demo population", [
        "synth", "--persons", str(args.persons), "--seed", str(args.seed), "--out", str(rf.data),
        "--provinces", args.provinces, "--errors", str(args.errors)], rf.data, reused)
    registry, vacc = str(rf.data / "registry.parquet"), str(rf.data / "vaccinations.parquet")
    _run("2. Match dose records against the registry", [
        "match", "--registry", registry, "--vaccinations", vacc, "--out", str(rf.match), "--quiet"], rf.match, reused)
    _run("3. Evaluate the matching against the known truth", [
        "evaluate", "--truth", str(rf.data), "--matches", str(rf.match), "--vaccinations", vacc, "--out",
        str(rf.evaluation)], rf.evaluation, reused)
    ledger = ["--ledger", str(rf.ledger)] if rf.ledger.exists() else []
    _run("4. Apply automatic fixes" + (" and the analysts' decisions" if ledger else ""), [
        "apply", "--vaccinations", vacc, "--matches", str(rf.matches), *ledger, "--out", str(rf.apply)],
        rf.apply, reused)
    corrected = str(rf.corrected)
    _run("5. Match the corrected records again", [
        "match", "--registry", registry, "--vaccinations", corrected, "--out", str(rf.match_corrected), "--quiet"],
        rf.match_corrected, reused)
    os.environ.setdefault("VAX_KEY_PASSPHRASE", _DEMO_PASSPHRASE)
    if (rf.keys / "trust").is_dir():
        print(f"\n== 6. Create demo signing keys (CSCA + document signer)\n   reused {rf.keys} (keys are never "
              "replaced)", flush=True)
        reused.append(rf.keys.name)
    else:
        _run("6. Create demo signing keys (CSCA + document signer)", ["keys", "init", "--out", str(rf.keys)])
    _run("7. Sign certificates for verified people", [
        "sign", "--registry", registry, "--vaccinations", corrected,
        "--matches", str(rf.matches_current), "--keys", str(rf.keys), "--out", str(rf.certificates_dir)],
        rf.certificates_dir, reused)
    _run("8. Verify the signed certificates", [
        "verify", "--quiet", "--trust", str(rf.keys / "trust"), str(rf.certificates)])
    _run("9. Link citizens' feedback (phản ánh) and resolve what the data answers", [
        "feedback", "--data", str(out), "--as-of", "2022-04-30"], rf.feedback_dir, reused)
    _run("10. Render the province reports", [
        "report", "--data", str(out), "--provinces", args.provinces, "--out", str(rf.reports)], rf.reports, reused)
    print(f"\nvax demo: done; everything is under {out}")
    if reused:
        print(f"vax demo: reused {len(reused)} step(s) of the previous run: {', '.join(reused)}")
    for what in kept:
        print(f"vax demo: kept {what}")
    print(_next_steps(rf), flush=True)
    return 0


def _next_steps(rf) -> str:
    """What to open after the demo, with the paths this run wrote."""
    reports = rf.reports
    lines = ["", "Mở tiếp / What to open next:",
             "  make lab   → notebooks/02-review-queue.ipynb (hàng đợi xem xét / review queue),",
             "               01-explore-errors.ipynb (cụm lỗi / error clusters), 03-tune-thresholds.ipynb",
             f"  {reports / 'national-summary.html'}  (báo cáo toàn quốc / national summary)"]
    provinces = sorted(p for p in reports.glob("*.html") if p.name != "national-summary.html")
    if provinces:
        lines.append(f"  {provinces[0]}  (báo cáo tỉnh / a province report)")
    lines.append(f"  {rf.apply / 'vaccinations_reimport.xlsx'}  (bản ghi đã sửa để nhập lại / corrected records)")
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job end to end on synthetic demo data")
    p.add_argument("--out", default=str(DEMO_DIR),
                   help="output folder: new, empty or a previous demo run (reused; nothing is deleted)")
    p.add_argument("--persons", type=int, default=DEMO_PERSONS)
    p.add_argument("--seed", type=int, default=2022)
    p.add_argument("--provinces", default=DEMO_PROVINCES)
    p.add_argument("--errors", default=str(DEMO_ERRORS), help="error profile YAML (default parameters/errors-demo.yaml)")
    p.set_defaults(func=cmd_demo)


if __name__ == "__main__":  # pragma: no cover
    try:
        sys.exit(cmd_demo(argparse.Namespace(out=str(DEMO_DIR), persons=DEMO_PERSONS, seed=2022,
                                             provinces=DEMO_PROVINCES, errors=str(DEMO_ERRORS))))
    except CommandError as exc:
        sys.exit(f"vax demo: {exc}")
