"""``vax keys``, ``vax sign`` and ``vax verify``.

User-facing text is Vietnamese by default (``--lang en`` for English).
Nothing personal is printed: signing reports counts, verification reports
the source (file and row), the verdict, the reason, the UVCI and the kid.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys

from vaxlib import i18n
from vaxlib.cli import CommandError
from vaxlib.sign.errors import KeyStoreError, NotVerified, PassphraseMissing, SignError

__all__ = ["register"]


def _parse_at(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        at = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError.say("sign_bad_at", text=repr(text)) from None
    return at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)


def _eku(text: str) -> tuple[str, ...]:
    text = (text or "").strip().lower()
    if text in ("", "none", "all"):
        return ()
    bad = set(text) - set("tvr")
    if bad:
        raise CommandError.say("sign_bad_eku")
    return tuple(text)


# ----------------------------------------------------------------------------- keys

def _keys(args) -> int:
    from vaxlib.cli import cli_lang
    from vaxlib.sign import keys as K
    from vaxlib.sign.ledger import revoke

    L = cli_lang(args)
    try:
        if args.keys_cmd == "init":
            kid = K.init_keys(args.out, alg=args.alg, eku=_eku(args.eku), force=args.force)
            print(i18n.t("cli.keys_created", L, out=args.out, kid=kid.hex()))
        elif args.keys_cmd == "rotate":
            kid = K.rotate(args.keys, alg=args.alg, eku=_eku(args.eku))
            print(i18n.t("cli.keys_rotated", L, kid=kid.hex(), keys=args.keys))
        elif args.keys_cmd == "list":  # column names as in the key store (a table for scripts)
            print("kid_hex           kid_b64       alg    eku  not_before                 not_after                  active")
            for r in K.list_keys(args.keys):
                print(f"{r.kid_hex}  {r.kid_b64:12}  {r.alg:5}  {r.eku:3}  {r.not_before}  {r.not_after}  "
                      f"{'*' if r.active else ''}")
        elif args.keys_cmd == "revoke":
            try:
                n = revoke(args.keys, args.uvci)
            except ValueError as exc:
                raise CommandError.say("sign_failed", error=_worded_error(exc)) from None
            print(i18n.t("cli.uvci_revoked", L, n=i18n.fmt_int(n, L)))
        elif args.keys_cmd == "revoke-signer":
            new = K.revoke_signer(args.keys, args.kid)
            print(i18n.t("cli.dsc_revoked" if new else "cli.dsc_already_revoked", L, kid=args.kid))
        elif args.keys_cmd == "export":
            from vaxlib.sign.gateway import export_lists

            trust, batches = export_lists(args.keys, args.out, ledgers=args.ledger or [])
            print(i18n.t("cli.keys_exported", L, trust=trust, n=i18n.fmt_int(len(batches), L), out=args.out))
        else:
            raise CommandError.say("keys_choose")
    except PassphraseMissing:
        raise CommandError.say("sign_passphrase", name="VAX_KEY_PASSPHRASE") from None
    except (SignError, KeyStoreError) as exc:
        raise CommandError.say("sign_failed", error=_worded_error(exc)) from None
    return 0


def _worded_error(exc: Exception):
    """The error itself when it words itself in the user's language (:class:`vaxlib.errors.Worded`),
    else its text (a ValueError from a parser)."""
    return exc if callable(getattr(exc, "describe", None)) else str(exc)


# ----------------------------------------------------------------------------- sign

def _issuer(args, issuers: dict) -> str:
    """The issuer text of the certificates: the previous run's when it is one of ``issuers``, else the one
    of ``--lang``.  The previous run is ``--previous`` when given (only that run counts: one that is not a
    readable sign run gives ``--lang``'s, and :func:`~vaxlib.sign.batch.sign_tables` says what is wrong with
    it), else ``--out`` when it holds a sign run.

    ``--lang`` chooses the language of messages; re-signing with another one than the previous run
    must not change what every certificate says (that re-issued and revoked every certificate).
    """
    from vaxlib.runs import read_manifest

    folder = args.previous or args.out
    try:
        m = read_manifest(folder) if folder else {}
    except Exception:  # noqa: BLE001 - not a run
        m = {}
    recorded = (m.get("settings") or {}).get("issuer") if m.get("command") == "sign" else None
    return recorded if recorded in issuers.values() else issuers[args.lang]


def _sign(args) -> int:
    from vaxlib.sign.batch import sign_tables
    from vaxlib.sign.ledger import default_signer, revoke
    from vaxlib.sign.payload import ISSUER

    L = args.lang
    if args.revoke:
        if not args.keys:
            raise CommandError.say("sign_revoke_needs_keys")
        try:
            n = revoke(args.keys, args.revoke)
        except ValueError as exc:
            raise CommandError.say("sign_failed", error=_worded_error(exc)) from None
        print(i18n.t("cli.uvci_revoked", L, n=i18n.fmt_int(n, L)))
        if not args.registry:
            return 0
    missing = [f for f in ("registry", "vaccinations", "matches", "keys", "out") if not getattr(args, f)]
    if missing:
        raise CommandError.say("sign_missing", options=", ".join("--" + m for m in missing))
    candidates = _candidates_path(args)
    try:
        stats = sign_tables(args.registry, args.vaccinations, args.matches, args.keys, args.out,
                            signer_name=args.signer or default_signer(), candidates=candidates,
                            previous=args.previous, ledger_dir=args.ledger_dir, qr=args.qr,
                            processes=args.processes, issuer=_issuer(args, ISSUER), only=args.person,
                            args={k: v for k, v in vars(args).items() if k != "func"})
    except PassphraseMissing:
        raise CommandError.say("sign_passphrase", name="VAX_KEY_PASSPHRASE") from None
    except (NotVerified, SignError) as exc:
        raise CommandError.say("sign_failed", error=_worded_error(exc)) from None
    print(stats.summary(L))
    _print_refused(stats.refused, args)
    print(f"-> {args.out}/certificates.parquet")
    return 0


def _candidates_path(args) -> str | None:
    """``--candidates``, else ``candidates.parquet`` beside ``--matches``; required unless ``--no-hold``."""
    from pathlib import Path

    if args.no_hold:
        return None
    from vaxlib.io import table_parts

    path = Path(args.candidates) if args.candidates else Path(args.matches).with_name("candidates.parquet")
    if not table_parts(path):  # one file, or vax match --engine dask's candidates/part-*.parquet
        raise CommandError.say("sign_no_candidates", path=path)
    return str(path)


#: held/refused persons printed one per line (masked); the rest are in the file
SHOW_REFUSED = 20
#: records named on a person's line; the rest are counted
SHOW_RECORDS = 3


def refused_by_person(refused):
    """One row per held or refused person: ``person_id``, ``reasons`` (in order of first appearance) and
    ``records`` (``(record_id, detail)`` pairs), in the order the persons first appear."""
    import pandas as pd

    rows = []
    for pid, group in refused.groupby("person_id", sort=False):
        recs = list(dict.fromkeys(zip(group["record_id"], group["detail"])))
        rows.append({"person_id": pid, "reasons": list(dict.fromkeys(group["reason"])), "records": recs})
    return pd.DataFrame(rows, columns=["person_id", "reasons", "records"])


def _print_refused(refused, args) -> None:
    """The held or refused persons, masked, one line each under their reasons, with the records holding
    them (all in not-signed.parquet): the count in the heading is the number of person lines."""
    from vaxlib.sign.batch import REFUSED_FILE
    from vaxlib.sign.checks import REFUSAL_LABELS
    from vaxlib.widgets import mask_id

    if refused is None or refused.empty:
        return
    L = args.lang
    i = 0 if L == "vi" else 1
    people = refused_by_person(refused)
    print(i18n.t("sign.refused_head", L, n=i18n.fmt_int(len(people), L), path=f"{args.out}/{REFUSED_FILE}"))
    people["group"] = people["reasons"].map(tuple)
    shown_people = 0
    for reasons, group in people.groupby("group", sort=False):
        if shown_people >= SHOW_REFUSED:
            break
        labels = "; ".join(f"{r}: {REFUSAL_LABELS.get(r, (r, r))[i]}" for r in reasons)
        print(f"  {labels} ({i18n.t('sign.refused_persons', L, n=i18n.fmt_int(len(group), L))})")
        for row in group.head(SHOW_REFUSED - shown_people).itertuples(index=False):
            print(f"    {mask_id(row.person_id)}  {_records_text(row.records, L)}")
            shown_people += 1
    if len(people) > shown_people:
        print("  " + i18n.t("sign.refused_more", L, n=i18n.fmt_int(len(people) - shown_people, L)))


def _records_text(records, lang: str) -> str:
    """``hồ sơ VR1, VR2 (unmatched)``: the records holding a person, their detail once when they share it."""
    with_id = [(rid, str(detail)) for rid, detail in records if rid]
    without = [str(detail) for rid, detail in records if not rid]
    if not with_id:
        return ", ".join(without)
    same = len({d for _, d in with_id}) == 1
    ids = ", ".join(rid if same else f"{rid} ({d})" for rid, d in with_id[:SHOW_RECORDS])
    if len(with_id) > SHOW_RECORDS:
        ids += " " + i18n.t("sign.refused_more_records", lang, n=i18n.fmt_int(len(with_id) - SHOW_RECORDS, lang))
    word = i18n.t("sign.refused_record" if len(with_id) == 1 else "sign.refused_records", lang)
    text = f"{word} {ids}" + (f" ({with_id[0][1]})" if same else "")
    return "; ".join([text, *without])


# ----------------------------------------------------------------------------- verify

def _inputs(item: str):
    """:func:`iter_inputs`, with an unreadable certificates table as one line (exit 2) instead of a traceback."""
    from vaxlib.sign.verify import iter_inputs

    try:
        yield from iter_inputs(item)
    except (OSError, ValueError, LookupError) as exc:  # pyarrow's errors derive from these
        raise CommandError.say("verify_unreadable", item=item, error=type(exc).__name__) from None


def _verify(args) -> int:
    from vaxlib.sign.errors import VerificationError
    from vaxlib.sign.verify import Verifier, VerifyResult, iter_inputs

    try:
        csca = None
        if args.csca:
            from cryptography import x509

            try:
                csca = x509.load_pem_x509_certificate(open(args.csca, "rb").read())
            except (OSError, ValueError):
                raise CommandError.say("verify_not_pem", path=args.csca) from None
        verifier = Verifier(args.trust, args.revoked, at=_parse_at(args.at), csca=csca,
                            value_sets=not args.no_value_sets, strict=args.strict, lang=args.lang)
    except KeyStoreError as exc:
        raise CommandError.say("sign_failed", error=_worded_error(exc)) from None
    L = args.lang
    n = ok = findings = 0
    reasons: dict[str, int] = {}
    for item in args.input:
        for source, text in _inputs(item):
            if isinstance(text, VerificationError):
                res = VerifyResult(source, False, text.reason, text.message(args.lang))
            else:
                res = verifier.check(text, source)
            n += 1
            ok += res.valid
            reasons[res.reason] = reasons.get(res.reason, 0) + 1
            if not args.quiet or not res.valid:
                verdict = i18n.t("sign.valid" if res.valid else "sign.invalid", L)
                extra = f" uvci={res.uvci}" if res.uvci else ""
                extra += f" kid={res.kid}" if res.kid else ""
                extra += f" exp={res.expires_at}" if res.expires_at else ""
                print(f"{source}\t{verdict}\t{res.reason}\t{res.message}{extra}")
                if res.holder is not None and not args.quiet:
                    holder = res.holder if args.show_holder else res.holder.masked()
                    print("    " + holder.line(res.expires_at, args.lang))
                if res.findings:
                    print(f"    {i18n.t('sign.findings', L)}: {', '.join(res.findings)}")
                    findings += 1
    summary = ", ".join(f"{k}={v}" for k, v in sorted(reasons.items()))
    print(i18n.t("cli.verify_summary", L, ok=i18n.fmt_int(ok, L), n=i18n.fmt_int(n, L), reasons=summary)
          + (i18n.t("cli.verify_findings", L, n=i18n.fmt_int(findings, L)) if findings else ""), file=sys.stderr)
    return 0 if n and ok == n else 1


def register(subparsers) -> None:
    """Add ``keys``, ``sign`` and ``verify`` to the ``vax`` command."""
    k = subparsers.add_parser("keys", help="signing keys: init, rotate, list, revoke")
    ks = k.add_subparsers(dest="keys_cmd", metavar="ACTION")
    p = ks.add_parser("init", help="create the signing CA (CSCA) and a document signer (DSC)")
    p.add_argument("--out", required=True, help="key folder (private keys encrypted with $VAX_KEY_PASSPHRASE)")
    p.add_argument("--alg", choices=["ES256", "PS256"], default="ES256")
    p.add_argument("--eku", default="v", help="certificate types the DSC may sign: letters t/v/r, or 'none' (default v)")
    p.add_argument("--force", action="store_true", help="replace an existing key folder")
    p = ks.add_parser("rotate", help="issue a new DSC and make it the active signer")
    p.add_argument("--keys", required=True)
    p.add_argument("--alg", choices=["ES256", "PS256"], default=None, help="default: same as the active DSC")
    p.add_argument("--eku", default="v")
    p = ks.add_parser("list", help="list the document signers")
    p.add_argument("--keys", required=True)
    p = ks.add_parser("revoke", help="revoke certificates by UVCI")
    p.add_argument("--keys", required=True)
    p.add_argument("uvci", nargs="+")
    p = ks.add_parser("revoke-signer", help="revoke a document signer (lost or compromised key)")
    p.add_argument("--keys", required=True)
    p.add_argument("kid", help="kid in hex, as `vax keys list` shows it")
    p = ks.add_parser("export", help="trust list and revocation batches in the EU DCC Gateway formats")
    p.add_argument("--keys", required=True)
    p.add_argument("--out", required=True, help="folder for trustlist-dsc.json and revocation/")
    p.add_argument("--ledger", action="append", metavar="DIR",
                   help="a vax sign run (or folder) whose signing-ledger.csv lists revoked UVCIs (repeatable)")
    k.set_defaults(func=_keys, keys_cmd=None)

    s = subparsers.add_parser("sign", help="sign EU DCC vaccination certificates for verified people")
    s.add_argument("--registry", help="registry file, or a folder of parts (vax synth --partitioned)")
    s.add_argument("--vaccinations", help="vaccinations file, or a folder of parts")
    s.add_argument("--matches", help="vax match's matches.parquet, or its matches/ folder of parts "
                   "(--engine dask); folders are signed bucket by bucket in bounded memory")
    s.add_argument("--keys")
    s.add_argument("--out")
    s.add_argument("--candidates", help="vax match's candidates.parquet (default: beside --matches); "
                   "people a review/unmatched record may belong to are held")
    s.add_argument("--no-hold", action="store_true", help="sign without candidates.parquet (no hold check)")
    s.add_argument("--qr", choices=["png", "svg"], help="also write QR images to OUT/qr/<person_id>.png")
    s.add_argument("--previous", metavar="DIR", help="a previous vax sign run: only people whose certificate "
                   "content changed are signed, their old UVCIs revoked, everyone else keeps theirs "
                   "(default: OUT itself when it holds a run; not with folders of parts)")
    s.add_argument("--signer", help="name for the signing ledger (default $USER)")
    s.add_argument("--ledger-dir", help="also append the ledger events to DIR/signing-ledger.csv "
                   "(OUT always holds the whole ledger)")
    s.add_argument("--processes", type=int, default=None, help="worker processes (default: all cores)")
    s.add_argument("--person", action="append", help="sign only this person_id (repeatable); refuses if not verified")
    s.add_argument("--revoke", action="append", metavar="UVCI", help="add a UVCI to the revocation list")
    s.add_argument("--lang", choices=["vi", "en"], default=None, help="language (default vi, or $VAX_LANG)")
    s.set_defaults(func=_sign)

    v = subparsers.add_parser("verify", help="verify HC1 strings, QR images or certificate tables")
    v.add_argument("--trust", required=True,
                   help="trust folder (KEYS/trust), a PEM bundle, or a gateway trust list (trustlist-dsc.json)")
    v.add_argument("--csca", help="with a gateway trust list: CSCA certificate (PEM) every DSC must be issued by")
    v.add_argument("--revoked", help="extra revocation list (SHA-256 of UVCI per line), or gateway revocation "
                   "batches (a batch .json or a folder of them)")
    v.add_argument("--at", help="validation clock, ISO 8601 (default now)")
    v.add_argument("--no-value-sets", action="store_true", help="skip the value-set check")
    v.add_argument("--strict", action="store_true",
                   help="business-rule findings (codes outside the EU value sets) make a certificate invalid")
    v.add_argument("--show-holder", action="store_true",
                   help="print the holder's name and dob unmasked (masked by default: output ends up in logs)")
    v.add_argument("--quiet", action="store_true", help="print only the invalid ones")
    v.add_argument("--lang", choices=["vi", "en"], default=None, help="language (default vi, or $VAX_LANG)")
    v.add_argument("input", nargs="+", help="HC1: string, text file, certificates table or QR image")
    v.set_defaults(func=_verify)
