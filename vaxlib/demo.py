"""`vax demo`: the main job end to end on embedded synthetic demo data.

generate (``vax synth``) → match (``vax match``) → evaluate against the truth
→ apply fixes (``vax apply``) → match the corrected table again → create demo
keys, sign verified people and verify them (``vax keys init``, ``vax sign``,
``vax verify``) → link citizens' feedback (``vax feedback``) → render the
province reports and the national summary (``vax report``).

Every step calls the real command, so the demo shows exactly what a user gets.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

from vaxlib.config import DEMO_DIR, PARAMETERS_DIR

DEMO_PROVINCES = "79,01,48"  # Hồ Chí Minh, Hà Nội, Đà Nẵng
DEMO_PERSONS = 4000
#: the default error profile with more records needing a person's judgement, so the review queue has work
DEMO_ERRORS = PARAMETERS_DIR / "errors-demo.yaml"
# The demo's signing keys are throw-away keys under outputs/ (git-ignored); a
# real deployment sets VAX_KEY_PASSPHRASE from its secret store.
_DEMO_PASSPHRASE = "demo-keys-only-not-a-secret"


def _available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _run(title: str, argv: list[str]) -> None:
    from vaxlib.cli import main

    print(f"\n== {title}\n$ vax {' '.join(argv)}", flush=True)
    t = time.perf_counter()
    code = main(argv)
    print(f"   ({time.perf_counter() - t:.1f} s)", flush=True)
    if code != 0:
        raise SystemExit(f"vax demo: step '{title}' failed with exit code {code}")


def cmd_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    data, match, applied, match2, keys, certs = (out / n for n in ("data", "match", "apply", "match-corrected",
                                                                    "keys", "certificates"))
    _run("1. Generate the synthetic demo population", [
        "synth", "--persons", str(args.persons), "--seed", str(args.seed), "--out", str(data),
        "--provinces", args.provinces, "--errors", str(args.errors)])
    registry, vacc = str(data / "registry.parquet"), str(data / "vaccinations.parquet")
    if not _available("vaxlib.match.pipeline"):
        return 0
    _run("2. Match dose records against the registry", [
        "match", "--registry", registry, "--vaccinations", vacc, "--out", str(match), "--quiet"])
    _run("3. Evaluate the matching against the known truth", [
        "evaluate", "--truth", str(data), "--matches", str(match), "--vaccinations", vacc, "--out",
        str(out / "evaluation")])
    signable_matches = match
    corrected = vacc
    if _available("vaxlib.review.apply"):
        _run("4. Apply automatic fixes", [
            "apply", "--vaccinations", vacc, "--matches", str(match / "matches.parquet"), "--out", str(applied)])
        corrected = str(applied / "vaccinations_corrected.parquet")
        _run("5. Match the corrected records again", [
            "match", "--registry", registry, "--vaccinations", corrected, "--out", str(match2), "--quiet"])
        signable_matches = match2
    if _available("vaxlib.sign.cli"):
        os.environ.setdefault("VAX_KEY_PASSPHRASE", _DEMO_PASSPHRASE)
        _run("6. Create demo signing keys (CSCA + document signer)", ["keys", "init", "--out", str(keys)])
        _run("7. Sign certificates for verified people", [
            "sign", "--registry", registry, "--vaccinations", corrected,
            "--matches", str(signable_matches / "matches.parquet"), "--keys", str(keys), "--out", str(certs)])
        _run("8. Verify the signed certificates", [
            "verify", "--quiet", "--trust", str(keys / "trust"), str(certs / "certificates.parquet")])
    if _available("vaxlib.feedback"):
        _run("9. Link citizens' feedback (phản ánh) and resolve what the data answers", [
            "feedback", "--data", str(out), "--as-of", "2022-04-30"])
    if _available("vaxlib.report"):
        _run("10. Render the province reports", [
            "report", "--data", str(out), "--provinces", args.provinces, "--out", str(out / "reports")])
    print(f"\nvax demo: done; everything is under {out}")
    print(_next_steps(out), flush=True)
    return 0


def _next_steps(out: Path) -> str:
    """What to open after the demo, with the paths this run wrote."""
    reports = out / "reports"
    lines = ["", "Mở tiếp / What to open next:",
             "  make lab   → notebooks/02-review-queue.ipynb (hàng đợi xem xét / review queue),",
             "               01-explore-errors.ipynb (cụm lỗi / error clusters), 03-tune-thresholds.ipynb",
             f"  {reports / 'national-summary.html'}  (báo cáo toàn quốc / national summary)"]
    provinces = sorted(p for p in reports.glob("*.html") if p.name != "national-summary.html")
    if provinces:
        lines.append(f"  {provinces[0]}  (báo cáo tỉnh / a province report)")
    lines.append(f"  {out / 'apply' / 'vaccinations_reimport.xlsx'}  (bản ghi đã sửa để nhập lại / corrected records)")
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job end to end on synthetic demo data")
    p.add_argument("--out", default=str(DEMO_DIR), help="output folder (replaced)")
    p.add_argument("--persons", type=int, default=DEMO_PERSONS)
    p.add_argument("--seed", type=int, default=2022)
    p.add_argument("--provinces", default=DEMO_PROVINCES)
    p.add_argument("--errors", default=str(DEMO_ERRORS), help="error profile YAML (default parameters/errors-demo.yaml)")
    p.set_defaults(func=cmd_demo)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(cmd_demo(argparse.Namespace(out=str(DEMO_DIR), persons=DEMO_PERSONS, seed=2022,
                                         provinces=DEMO_PROVINCES, errors=str(DEMO_ERRORS))))
