"""``vax apply`` and ``vax ledger`` (``init``, ``add-user``, ``publish``, ``pending``, ``confirm-bulk``, ``verify``,
``export``).

Every command here needs an existing ledger except ``vax ledger init``: a
missing file, an unknown URL scheme or an unreadable database is a one-line
error and exit 2, and nothing is created.
"""
from __future__ import annotations

import argparse
import logging
import sys

from vaxlib.errors import CommandError
from vaxlib.i18n import LANGS, fmt_int, t

log = logging.getLogger(__name__)

DEFAULT_LEDGER_HELP = "ledger database URL (sqlite:///path.db) or SQLite file path"


def cli_lang(args: argparse.Namespace) -> str:
    from vaxlib.cli import cli_lang as lang

    return lang(args)


def _command_error(exc: Exception) -> CommandError:
    """``exc`` as a :class:`CommandError`, keeping its :mod:`vaxlib.i18n` wording (so ``--lang`` applies)."""
    err = CommandError(str(exc))
    err.key, err.params = getattr(exc, "key", None), getattr(exc, "params", {})
    return err


def _cmd_apply(args: argparse.Namespace) -> int:
    from vaxlib.review.apply import ApplyError, run_apply
    from vaxlib.review.ledger import Ledger, LedgerError

    try:
        # the ledger is opened (and must exist) before the inputs are read
        ledger = Ledger.open(args.ledger, readonly=True) if args.ledger else None
    except LedgerError as exc:
        raise _command_error(exc) from exc
    try:
        result = run_apply(args.vaccinations, args.matches, args.out, ledger=ledger,
                           xlsx_scope=args.xlsx,
                           run_args={k: v for k, v in vars(args).items() if k != "func"})
    except (ApplyError, LedgerError) as exc:
        raise _command_error(exc) from exc
    finally:
        if ledger is not None:
            ledger.close()
    s, L = result.summary, cli_lang(args)
    n = lambda v: fmt_int(v, L)  # noqa: E731
    see = t("cli.apply_see", L, path=f"{args.out}/quarantine.parquet") if s["rows_quarantined"] else ""
    print(t("cli.apply_summary", L, rows_in=n(s["rows_in"]), records_out=n(s["records_out"]),
            quarantined=n(s["rows_quarantined"]), see=see, changed=n(s["records_changed"]),
            unchanged=n(s["records_unchanged"]), changes=n(s["field_changes"]),
            automatic=n(s["field_changes_by_source"]["automatic"]),
            decision=n(s["field_changes_by_source"]["decision"]), out=args.out))
    waiting = (s.get("ledger") or {}).get("pending_bulk") or {}
    if waiting.get("bulks"):
        print(t("cli.apply_pending_bulk", L, bulks=n(waiting["bulks"]), records=n(waiting["records"])))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from vaxlib.review.ledger import Ledger, LedgerError

    expected = None
    if args.expect_head:
        try:
            hid, hhash = args.expect_head.split(":", 1)
            expected = (int(hid), hhash)
        except ValueError as exc:
            raise CommandError.say("expect_head") from exc
    try:
        with Ledger.open(args.ledger, readonly=True) as ledger:
            from vaxlib.review.ledger import heads_recorded_in_runs

            recorded = heads_recorded_in_runs(args.runs, ledger.backend.location()) if args.runs else []
            result = ledger.verify(expected_head=expected, recorded=recorded)
    except LedgerError as exc:
        raise _command_error(exc) from exc
    print(result.describe(cli_lang(args)), file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1


def _cmd_export(args: argparse.Namespace) -> int:
    from vaxlib.review.ledger import Ledger, LedgerError

    try:
        with Ledger.open(args.ledger, readonly=True) as ledger:
            path = ledger.export(args.out)
            n = ledger.head()[0]
    except LedgerError as exc:
        raise _command_error(exc) from exc
    print(t("cli.ledger_exported", cli_lang(args), n=fmt_int(n, cli_lang(args)), path=path))
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    from vaxlib.review.ledger import Ledger, LedgerError

    try:
        with Ledger.open(args.ledger, create=True) as ledger:
            created = getattr(ledger.backend, "created", False)
            n = ledger.head()[0]
            where = ledger.backend.location() or ledger.url
    except LedgerError as exc:
        raise _command_error(exc) from exc
    L = cli_lang(args)
    print(t("cli.ledger_created", L, where=where) if created
          else t("cli.ledger_exists", L, where=where, n=fmt_int(n, L)))
    return 0


def _cmd_add_user(args: argparse.Namespace) -> int:
    import getpass
    import os

    from vaxlib.review.ledger import Ledger, LedgerError

    password = os.environ.get(args.password_env) if args.password_env else None
    if args.password_env and not password:
        raise CommandError.say("env_empty", name=args.password_env)
    if password is None and sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.name}: ")
    provinces = [p.strip() for p in (args.provinces or "").split(",") if p.strip()]
    try:
        with Ledger.open(args.ledger) as ledger:
            if not hasattr(ledger.backend, "conn") or ledger.backend.url.startswith("sqlite"):
                raise CommandError.say("users_pg_only")
            from vaxlib.review.pg import add_user

            add_user(ledger.backend.conn, args.name, args.role, provinces, password=password)
    except LedgerError as exc:
        raise _command_error(exc) from exc
    L = cli_lang(args)
    scope = ", ".join(provinces) if args.role != "national" else t("cli.scope_all", L)
    print(t("cli.user_added", L, name=args.name, role=args.role, scope=scope)
          + ("" if password else t("cli.user_no_password", L)))
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    from vaxlib.review.ledger import Ledger, LedgerError
    from vaxlib.review.published import publish

    try:
        with Ledger.open(args.ledger) as ledger:
            result = publish(args.run, ledger, match_dir=args.match, register=args.register)
            where = ledger.backend.location() or ledger.url
    except LedgerError as exc:
        raise _command_error(exc) from exc
    L = cli_lang(args)
    rows = ", ".join(f"{k} {fmt_int(v, L)}" for k, v in result.rows.items())
    replaced = t("cli.published_first", L) if result.replaced is None else \
        t("cli.published_replaced", L, old=result.replaced)
    print(t("cli.published", L, version=result.version, replaced=replaced, records=fmt_int(result.records, L),
            provinces=fmt_int(result.provinces, L), rows=rows, where=where))
    return 0


def _cmd_pending(args: argparse.Namespace) -> int:
    from vaxlib.review.ledger import Ledger, LedgerError

    try:
        with Ledger.open(args.ledger, readonly=True) as ledger:
            waiting = ledger.pending_bulks()
    except LedgerError as exc:
        raise _command_error(exc) from exc
    L = cli_lang(args)
    if waiting.empty:
        print(t("cli.pending_none", L))
        return 0
    print(t("cli.pending_head", L, n=fmt_int(len(waiting), L)))
    for r in waiting.itertuples(index=False):
        print("  " + t("cli.pending_item", L, bulk=r.bulk_id, n=fmt_int(r.records, L), province=r.province or "-",
                       analyst=r.analyst, time=r.time))
    return 0


def _cmd_confirm_bulk(args: argparse.Namespace) -> int:
    from vaxlib.review.ledger import Ledger, LedgerError

    try:
        with Ledger.open(args.ledger) as ledger:
            if ledger.identity() is None and not (args.analyst or "").strip():
                raise CommandError.say("confirm_needs_analyst")
            if not ledger.can_confirm():
                raise CommandError.say("confirm_not_allowed", who=ledger.identity())
            bulk_id = ledger.find_pending_bulk(args.bulk_id)
            ev = ledger.confirm_bulk(bulk_id, analyst=args.analyst, reason=args.reason)
    except LedgerError as exc:
        raise _command_error(exc) from exc
    print(t("cli.confirmed", cli_lang(args), bulk=bulk_id, n=ev.values.get("records"), analyst=ev.analyst, eid=ev.id))
    return 0


def _cmd_review_app(args: argparse.Namespace) -> int:
    from vaxlib.review.app import serve

    return serve(args.ledger, port=args.port, lang=cli_lang(args), status=args.status)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``apply`` and ``ledger`` (idempotent: the CLI may call it once per command name)."""
    if "apply" in subparsers.choices:
        return
    p = subparsers.add_parser("apply", help="apply automatic fixes and approved decisions",
                              description="Write the corrected vaccination table, the change log and "
                                          "the platform re-import .xlsx.")
    p.add_argument("--vaccinations", required=True, help="vaccinations table (.parquet/.csv/.xlsx)")
    p.add_argument("--matches", required=True, help="matches table from vax match")
    p.add_argument("--ledger", default=None, help=DEFAULT_LEDGER_HELP + " (optional; must exist)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--xlsx", choices=("changed", "all"), default="changed",
                   help="records in the re-import .xlsx (default: changed)")
    p.add_argument("--lang", choices=LANGS, default=None, help="language of the messages (default vi)")
    p.set_defaults(func=_cmd_apply)

    r = subparsers.add_parser("review-app", help="serve the review queue as a web app (Voilà, each analyst "
                                                 "signs in)",
                              description="Serve notebooks/02-review-queue.ipynb with Voilà on 127.0.0.1: each "
                                          "analyst signs in with their own PostgreSQL login, sees only their "
                                          "provinces (read from what vax ledger publish put in the database; "
                                          "no run folder is read), and decides under their own name. Put it "
                                          "behind TLS (a "
                                          "reverse proxy or JupyterHub) for a real deployment (README).")
    r.add_argument("--ledger", required=True,
                   help="the team ledger's postgresql:// address WITHOUT a login (e.g. "
                        "postgresql://db.example:5432/vax or postgresql:///vax?host=/var/run/postgresql)")
    r.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1 (default 8866)")
    r.add_argument("--lang", choices=LANGS, default=None, help="language of the app (default vi, or $VAX_LANG)")
    r.add_argument("--status", default="review", help="first queue: review, fix, unmatched or '' (all)")
    r.set_defaults(func=_cmd_review_app)

    lp = subparsers.add_parser("ledger", help="check or export the decision ledger")
    lsub = lp.add_subparsers(dest="ledger_command", metavar="ACTION")
    i = lsub.add_parser("init", help="create a new, empty ledger (the only command that creates one); "
                                     "on PostgreSQL also its tables, triggers, policies and group roles")
    i.add_argument("--ledger", required=True, help=DEFAULT_LEDGER_HELP)
    i.add_argument("--lang", choices=LANGS, default=None, help="language of the messages (default vi)")
    i.set_defaults(func=_cmd_init)
    u = lsub.add_parser("add-user", help="PostgreSQL: a login role for one analyst, supervisor or national user")
    u.add_argument("--ledger", required=True, help="the ledger owner's postgresql:// URL")
    u.add_argument("--name", required=True, help="login name (the role every decision is recorded under)")
    u.add_argument("--role", required=True, choices=("analyst", "supervisor", "national"))
    u.add_argument("--provinces", default="", help="GSO province codes, comma-separated (e.g. 79,74)")
    u.add_argument("--password-env", default=None, metavar="VAR",
                   help="read the password from this environment variable (default: ask)")
    u.add_argument("--lang", choices=LANGS, default=None, help="language of the messages (default vi)")
    u.set_defaults(func=_cmd_add_user)
    pb = lsub.add_parser("publish", help="PostgreSQL: publish a run's review queue into the team database, "
                                         "scoped by province (replaces the previous version in one transaction)",
                         description="Copy what review needs from a run folder (the records to review, their "
                                     "candidates, the register rows of the province's residents and of the "
                                     "suggested persons, the open feedback) into the team database, per province, "
                                     "under the same row-level security as the ledger. In team mode the analysts' "
                                     "notebooks and vax review-app read only this, never the run folder. Run it as "
                                     "the ledger owner after every vax match and vax feedback.")
    pb.add_argument("--run", required=True, help="run folder (data/ and match/, as vax demo writes)")
    pb.add_argument("--match", default=None, help="match run folder when it is not RUN/match")
    pb.add_argument("--register", choices=("residents", "suggested"), default="residents",
                    help="register rows published per province: its residents and the suggested persons "
                         "(default; the register search can link unmatched records), or the suggested "
                         "persons only (less personal data per analyst)")
    pb.add_argument("--ledger", required=True, help="the ledger owner's postgresql:// URL")
    pb.add_argument("--lang", choices=LANGS, default=None, help="language of the messages (default vi)")
    pb.set_defaults(func=_cmd_publish)
    pd_ = lsub.add_parser("pending", help="list bulk acceptances waiting for a supervisor (two-person rule)")
    pd_.add_argument("--ledger", required=True, help=DEFAULT_LEDGER_HELP)
    pd_.set_defaults(func=_cmd_pending)
    c = lsub.add_parser("confirm-bulk", help="confirm another person's bulk acceptance (supervisor; "
                                             "the second person of the two-person rule)")
    c.add_argument("--ledger", required=True,
                   help=DEFAULT_LEDGER_HELP + "; on PostgreSQL the supervisor's own login "
                                              "(password from PGPASSWORD or ~/.pgpass, not the URL)")
    c.add_argument("bulk_id", metavar="BULK_ID", help="id from `vax ledger pending` (the first 8+ characters do)")
    c.add_argument("--analyst", default=None,
                   help="your name (SQLite only; on PostgreSQL the database login is recorded)")
    c.add_argument("--reason", default=None, help="optional note")
    c.set_defaults(func=_cmd_confirm_bulk)
    v = lsub.add_parser("verify", help="walk the hash chain; exit 1 on tampering")
    v.add_argument("--ledger", required=True, help=DEFAULT_LEDGER_HELP)
    v.add_argument("--expect-head", default=None, metavar="ID:HASH",
                   help="head recorded elsewhere (e.g. apply_summary.json) to detect deleted newest events")
    v.add_argument("--runs", nargs="+", default=None, metavar="DIR",
                   help="run folders of vax apply: every ledger head they recorded must still be in the chain")
    v.add_argument("--lang", choices=LANGS, default=None, help="language of the messages (default vi)")
    v.set_defaults(func=_cmd_verify)
    e = lsub.add_parser("export", help="write all events to .jsonl, .csv or .parquet")
    e.add_argument("--ledger", required=True, help=DEFAULT_LEDGER_HELP)
    e.add_argument("--out", required=True, help="output file (.jsonl/.csv/.parquet)")
    e.add_argument("--lang", choices=LANGS, default=None, help="language of the messages (default vi)")
    e.set_defaults(func=_cmd_export)
