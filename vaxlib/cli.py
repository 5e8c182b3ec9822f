"""The ``vax`` command.

Each sub-command lives beside the code it drives: a module listed in
:data:`COMMANDS` exposes ``register(subparsers)``, which adds its parser and
sets ``func`` to a callable taking the parsed arguments and returning an exit
code.  An import error is not hidden: a command is never "(unavailable)".
A :class:`vaxlib.errors.VaxError` is printed as one line with exit code 2.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from vaxlib import i18n as _i18n
from vaxlib.errors import CommandError, RunError, VaxError
from vaxlib.i18n import DEFAULT_LANG, LANGS

__all__ = ["COMMANDS", "CommandError", "VaxError", "build_parser", "cli_lang", "main"]

#: environment variable choosing the language of ``vax`` messages (``vi`` or ``en``)
LANG_ENV = "VAX_LANG"

#: OS errors a user can act on (free space, choose another folder, fix permissions): one line, exit 2
_ACTIONABLE_OS_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})

#: sub-command name -> module exposing ``register(subparsers)``
COMMANDS: dict[str, str] = {
    "synth": "vaxlib.synth",
    "match": "vaxlib.match.cli",
    "index": "vaxlib.match.cli",
    "evaluate": "vaxlib.match.cli",
    "apply": "vaxlib.review.cli",
    "ledger": "vaxlib.review.cli",
    "review-app": "vaxlib.review.cli",
    "keys": "vaxlib.sign.cli",
    "sign": "vaxlib.sign.cli",
    "verify": "vaxlib.sign.cli",
    "feedback": "vaxlib.feedback",
    "report": "vaxlib.report",
    "demo": "vaxlib.demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vax", description="vaxlib: clean, match, sign and report vaccination records"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="more log output")
    parser.add_argument("--lang", dest="ui_lang", choices=LANGS, default=None,
                        help=f"language of messages: vi (default) or en; also ${LANG_ENV}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in dict.fromkeys(COMMANDS.values()):
        # an import error is a bug in vaxlib or its installation: let it raise, never hide a command
        importlib.import_module(module_name).register(sub)
    return parser


#: commands whose --out names a file, not a folder
_OUT_IS_FILE = {"ledger"}


def _check_out_folder(args: argparse.Namespace) -> None:
    """Refuse an --out folder that cannot be written before the command reads or computes anything."""
    out = getattr(args, "out", None)
    if out is None or args.command in _OUT_IS_FILE:
        return
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunError.say("out_is_file", path=out)
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise RunError.say("out_under_file", path=probe, out=out)
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RunError.say("out_not_writable", path=probe)


def cli_lang(args: argparse.Namespace) -> str:
    """The language of a command's messages: ``vax --lang``, else the command's own ``--lang``,
    else ``$VAX_LANG``, else Vietnamese."""
    for lang in (getattr(args, "ui_lang", None), getattr(args, "lang", None), os.environ.get(LANG_ENV)):
        if lang in LANGS:
            return lang
    return DEFAULT_LANG


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # a command's --quiet silences its INFO lines too (the EM sessions, the stages), not only its bar
    quiet = getattr(args, "quiet", False) and not args.verbose
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    lang = cli_lang(args)
    if hasattr(args, "lang"):  # `vax --lang en sign …` and $VAX_LANG also word the command's own output
        args.lang = lang
    try:
        _check_out_folder(args)
        return int(args.func(args) or 0)
    except VaxError as exc:
        # one line, no traceback: the message names the file/row/column (see vaxlib.errors)
        message = " ".join(exc.message(lang).split()) or type(exc).__name__
        print(f"vax {args.command}: {message}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in _ACTIONABLE_OS_ERRORS:
            raise
        # a full disk, a read-only or forbidden folder: the run wrote nothing (vaxlib.runs), say where
        where = f" ({exc.filename})" if exc.filename else ""
        reason = _i18n.t(f"cli.os_{errno.errorcode.get(exc.errno, 'other')}", lang) \
            if _i18n.has(f"cli.os_{errno.errorcode.get(exc.errno, 'other')}") else (exc.strerror or str(exc))
        print(f"vax {args.command}: {_i18n.t('cli.nothing_written', lang, reason=reason, where=where)}",
              file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
