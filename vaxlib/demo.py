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
import logging
import os
import sys
import time
from pathlib import Path

from vaxlib.config import DEMO_DIR, PARAMETERS_DIR
from vaxlib.errors import CommandError, VaxError
from vaxlib.i18n import fmt_decimal, t

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
    from vaxlib.cli import build_parser, cli_lang

    ns = build_parser().parse_args(argv)
    if hasattr(ns, "lang"):  # as vaxlib.cli.main passes it on
        ns.lang = cli_lang(ns)
    return {k: v for k, v in vars(ns).items() if k != "func"}


def _run(title: str, argv: list[str], out: Path | None = None, reused: list[str] | None = None,
         lang: str = "vi") -> None:
    """Run one step, or reuse its run folder ``out`` when it is current."""
    from vaxlib.cli import main
    from vaxlib.runs import is_current

    print(f"\n== {title}\n$ vax {' '.join(argv)}", flush=True)
    if out is not None and is_current(out, command=argv[0], args=_args_of(["--lang", lang, *argv])):
        print("   " + t("demo.reused_step", lang, path=out), flush=True)
        if reused is not None:
            reused.append(out.name)
        return
    start = time.perf_counter()
    code = main(["--lang", lang, *argv])
    print(f"   ({fmt_decimal(time.perf_counter() - start, lang)} s)", flush=True)
    if code != 0:
        raise SystemExit(t("demo.step_failed", lang, title=title, code=code))


def _check_out(out: Path, settings: dict) -> None:
    """Refuse a non-empty ``out`` that is not a previous demo run; mark it as a demo folder."""
    if out.exists() and not out.is_dir():
        raise DemoFolderError.say("demo_out_is_file", path=out)
    marker = out / DEMO_MARKER
    if out.is_dir() and any(out.iterdir()) and not marker.is_file():
        entries = sorted(p.name for p in out.iterdir())
        raise DemoFolderError.say("demo_out_foreign", path=out,
                                  holds=", ".join(entries[:3]) + (", ..." if len(entries) > 3 else ""))
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"vaxlib_demo": 1, **settings}, indent=2) + "\n", encoding="utf-8")


def cmd_demo(args: argparse.Namespace) -> int:
    """``vax demo``: every step through the real command (see the module docstring)."""
    root, level = logging.getLogger(), logging.getLogger().level
    if not getattr(args, "verbose", False):
        # every step prints its own worded summary; the library's English INFO lines (rows read,
        # index written, EM sessions) interleaved with it and broke the report's progress bar.
        # Warnings still show; `vax -v demo` shows everything.
        root.setLevel(max(level, logging.WARNING))
    try:
        return _demo(args)
    finally:
        root.setLevel(level)


def _demo(args: argparse.Namespace) -> int:
    from vaxlib.cli import cli_lang
    from vaxlib.runs import RunFolder

    L = cli_lang(args)
    out = Path(args.out)
    _check_out(out, {"persons": args.persons, "seed": args.seed, "provinces": args.provinces,
                     "errors": str(args.errors)})
    rf = RunFolder(out)
    reused: list[str] = []
    kept: list[str] = []
    if rf.ledger.exists():
        kept.append(t("demo.kept_ledger", L, path=rf.ledger))

    def step(n: int, argv: list[str], folder: Path | None = None, key: str | None = None) -> None:
        _run(f"{n}. {t(key or f'demo.step{n}', L)}", argv, folder, reused, L)

    step(1, ["synth", "--persons", str(args.persons), "--seed", str(args.seed), "--out", str(rf.data),
             "--provinces", args.provinces, "--errors", str(args.errors)], rf.data)
    registry, vacc = str(rf.data / "registry.parquet"), str(rf.data / "vaccinations.parquet")
    step(2, ["match", "--registry", registry, "--vaccinations", vacc, "--out", str(rf.match), "--quiet"], rf.match)
    step(3, ["evaluate", "--truth", str(rf.data), "--matches", str(rf.match), "--vaccinations", vacc, "--out",
             str(rf.evaluation)], rf.evaluation)
    ledger = ["--ledger", str(rf.ledger)] if rf.ledger.exists() else []
    step(4, ["apply", "--vaccinations", vacc, "--matches", str(rf.matches), *ledger, "--out", str(rf.apply)],
         rf.apply, "demo.step4_ledger" if ledger else None)
    corrected = str(rf.corrected)
    step(5, ["match", "--registry", registry, "--vaccinations", corrected, "--out", str(rf.match_corrected),
             "--quiet"], rf.match_corrected)
    os.environ.setdefault("VAX_KEY_PASSPHRASE", _DEMO_PASSPHRASE)
    if (rf.keys / "trust").is_dir():
        print(f"\n== 6. {t('demo.step6', L)}\n   {t('demo.reused_keys', L, path=rf.keys)}", flush=True)
        reused.append(rf.keys.name)
    else:
        step(6, ["keys", "init", "--out", str(rf.keys)])
    step(7, ["sign", "--registry", registry, "--vaccinations", corrected, "--matches", str(rf.matches_current),
             "--keys", str(rf.keys), "--out", str(rf.certificates_dir)], rf.certificates_dir)
    step(8, ["verify", "--quiet", "--trust", str(rf.keys / "trust"), str(rf.certificates)])
    step(9, ["feedback", "--data", str(out), "--as-of", "2022-04-30"], rf.feedback_dir)
    step(10, ["report", "--data", str(out), "--provinces", args.provinces, "--out", str(rf.reports)], rf.reports)
    print("\n" + t("demo.done", L, path=out))
    if reused:
        print(t("demo.reused", L, n=len(reused), steps=", ".join(reused)))
    for what in kept:
        print(t("demo.kept", L, what=what))
    print(_next_steps(rf, L), flush=True)
    return 0


def _next_steps(rf, lang: str = "vi") -> str:
    """What to open after the demo, with the paths this run wrote."""
    reports = rf.reports
    lines = ["", t("demo.next", lang), "  " + t("demo.next_lab", lang),
             f"  {reports / 'national-summary.html'}  ({t('demo.next_national', lang)})"]
    provinces = sorted(p for p in reports.glob("*.html") if p.name != "national-summary.html")
    if provinces:
        lines.append(f"  {provinces[0]}  ({t('demo.next_province', lang)})")
    lines.append(f"  {rf.apply / 'vaccinations_reimport.xlsx'}  ({t('demo.next_xlsx', lang)})")
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job end to end on synthetic demo data")
    p.add_argument("--out", default=str(DEMO_DIR),
                   help="output folder: new, empty or a previous demo run (reused; nothing is deleted)")
    p.add_argument("--persons", type=int, default=DEMO_PERSONS)
    p.add_argument("--seed", type=int, default=2022)
    p.add_argument("--provinces", default=DEMO_PROVINCES)
    p.add_argument("--errors", default=str(DEMO_ERRORS), help="error profile YAML (default parameters/errors-demo.yaml)")
    p.add_argument("--lang", choices=("vi", "en"), default=None, help="language of the messages (default vi)")
    p.set_defaults(func=cmd_demo)


if __name__ == "__main__":  # pragma: no cover
    try:
        sys.exit(cmd_demo(argparse.Namespace(out=str(DEMO_DIR), persons=DEMO_PERSONS, seed=2022,
                                             provinces=DEMO_PROVINCES, errors=str(DEMO_ERRORS))))
    except CommandError as exc:
        sys.exit(f"vax demo: {exc}")
