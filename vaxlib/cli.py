"""The ``vax`` command.

Each sub-command lives beside the code it drives: a module listed in
:data:`COMMANDS` exposes ``register(subparsers)``, which adds its parser and
sets ``func`` to a callable taking the parsed arguments and returning an exit
code.  Modules are imported lazily so that ``vax --help`` stays fast and a
broken optional part never stops the others.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

#: sub-command name -> module exposing ``register(subparsers)``
COMMANDS: dict[str, str] = {
    "synth": "vaxlib.synth",
    "match": "vaxlib.match.cli",
    "evaluate": "vaxlib.match.cli",
    "apply": "vaxlib.review.cli",
    "ledger": "vaxlib.review.cli",
    "keys": "vaxlib.sign.cli",
    "sign": "vaxlib.sign.cli",
    "verify": "vaxlib.sign.cli",
    "feedback": "vaxlib.feedback",
    "report": "vaxlib.report",
    "demo": "vaxlib.demo",
}


class CommandError(Exception):
    """An error the user can act on; printed without a traceback."""


def _unavailable(name: str, exc: Exception):
    def run(args: argparse.Namespace) -> int:
        raise CommandError(f"this command cannot run here: {type(exc).__name__}: {exc}")
    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vax", description="vaxlib: clean, match, sign and report vaccination records"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    done: set[str] = set()
    for module_name in dict.fromkeys(COMMANDS.values()):
        if module_name in done:
            continue
        done.add(module_name)
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - one broken part must not take down the others
            for name, mod in COMMANDS.items():
                if mod == module_name:
                    broken = sub.add_parser(name, help=f"(unavailable: {type(exc).__name__})")
                    broken.set_defaults(func=_unavailable(name, exc))
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"vax {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
