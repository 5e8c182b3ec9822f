"""``vax sign`` in bulk: choose the people we may sign, sign them on every core, stream the output.

Only register persons ALL of whose dose records in ``matches`` are
``verified`` are signed (a person with one ``fix``/``review`` record waits
until ``vax apply`` + ``vax match`` bring it to ``verified``).  Everyone else
is counted by reason, never listed.

Memory stays bounded: persons are signed in chunks by a process pool
(``imap``, so only a few chunks are in flight) and each finished chunk is
appended to ``certificates.parquet`` with a pyarrow ``ParquetWriter``.

Speed: a worker assembles each certificate's CWT claims from cached CBOR
fragments checked once per distinct value (:mod:`vaxlib.sign.fastpath`, which
explains why that equals validating every payload against the full schema),
samples rows through the reference :func:`build_payload` + full schema and
requires identical bytes, encodes COSE directly, and Base45-encodes a whole
chunk at once; about 2x the raw ECDSA cost per certificate in all
(``bench/sign_throughput.py``).
"""
from __future__ import annotations

import base64
import datetime as dt
import itertools
import logging
import multiprocessing as mp
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from vaxlib.sign import hc1 as _hc1
from vaxlib.sign import incremental as inc
from vaxlib.sign.checks import REFUSAL_COLUMNS, REFUSAL_LABELS, check_signer, held_by_pending, refuse_records
from vaxlib.sign.cose import (
    ES256, _ECDSA, _PSS_SIGN, _SHA256, bstr_head, protected_header, sign1, sign1_bytes,
    signature_input,
)
from vaxlib.sign.fastpath import SAMPLE_EVERY, FastEncoder, uvci_batch
from vaxlib.sign.errors import NotVerified, PayloadError, SchemaInvalid, ValueSetInvalid
from vaxlib.sign.keys import Signer, load_signer, revoked_signers
from vaxlib.sign.ledger import append_ledger
from vaxlib.sign.qr import qr_filename
from vaxlib.sign.store import CONTENT_PARTS_DIR, part_name
from vaxlib.sign.store import rows_at as _rows_at
from vaxlib.sign.payload import (
    DoseRecord, ISSUER, build_payload, cwt_claims, encode_claims, make_uvci, validate_payload,
    validity,
)

__all__ = ["CERT_COLUMNS", "SignStats", "SigningPlan", "plan_signing", "replan", "REFUSED_FILE", "select_signable", "sign_person", "sign_rows",
           "sign_tables", "CertificateWriter", "CertChunk"]

log = logging.getLogger(__name__)

CERT_COLUMNS = ["person_id", "uvci", "hc1", "kid", "issued_at", "expires_at"]
#: columns of a "person row" handed to the signer
PERSON_COLUMNS = ["person_id", "full_name", "dob", "dose_number", "vaccination_date", "vaccine"]


#: the columns of vax match's outputs that signing reads (the candidates table has ~20 more)
_OUTPUT_COLUMNS = {"matches": ["record_id", "status", "person_id", "person_key"],
                   "candidates": ["record_id", "person_id"]}


def _load(path: str | os.PathLike, kind: str, *, arrow: bool = False):
    """A contract input through :func:`vaxlib.io.read_table`; vax match's outputs through
    :func:`vaxlib.io.read_output` (only the columns signing needs; ``arrow``: as a pyarrow
    Table, :func:`vaxlib.io.read_output_arrow`)."""
    from vaxlib.io import read_output, read_output_arrow, read_table
    from vaxlib.runs import check_input

    check_input(path)  # a file inside a run folder must match the run's manifest
    if kind in ("registry", "vaccinations"):
        return read_table(path, kind).table
    cols = _OUTPUT_COLUMNS[kind]
    if kind == "matches":
        from vaxlib.io import parquet_columns

        try:  # person_key is optional for hand-made matches tables (one file or vax match's parts)
            names = set(parquet_columns(path))
        except Exception:  # read_output names the file in its error
            names = set()
        cols = [c for c in cols if c != "person_key" or c in names]
    return (read_output_arrow if arrow else read_output)(path, kind, columns=cols)


#: folder of a sign run holding the parsed columns of its contract inputs that signing reads
INPUT_CACHE = "input-cache"
#: the cache files are Arrow IPC files, uncompressed: the next run maps them into memory and compares
#: them column by column without decoding (reading them back from lz4 Parquet was ~1.4 CPU s at 1M)
CACHE_SUFFIX = ".arrow"


def cache_name(kind: str) -> str:
    """``input-cache/<kind>.arrow``: a run's cached columns of one input (or its held rows)."""
    return f"{INPUT_CACHE}/{kind}{CACHE_SUFFIX}"


def read_cache(path: str | os.PathLike, columns: list[str] | None = None):
    """An input-cache file as an Arrow table whose buffers are the memory-mapped file (no copy).

    The caller has checked the file against its run's manifest digest
    (:func:`vaxlib.sign.previous.check_file`); a file that is not an Arrow IPC
    file, or lacks one of ``columns``, is None (then the caller does not reuse it).
    The mapping stays valid after the run folder is replaced (the inode lives
    while mapped), and vaxlib never writes into a committed run's files.
    """
    import pyarrow as pa

    try:
        with pa.memory_map(os.fspath(path)) as src:
            table = pa.ipc.open_file(src).read_all()
    except (OSError, pa.ArrowInvalid):
        return None
    if columns is not None:
        if any(c not in table.column_names for c in columns):
            return None
        table = table.select(columns)
    return table


#: at most this many files per cached input (the first, then one per run that only appended rows)
MAX_CACHE_PARTS = 8


def cache_parts(manifest: dict, kind: str) -> list[str]:
    """The files of a run's cached input ``kind``, in row order: ``input-cache/<kind>.arrow``, then
    ``input-cache/<kind>.1.arrow``, ``.2``, ... (rows appended by later runs; see :func:`_write_input_cache`)
    as far as the run's manifest lists them one after the other; [] when it lists no cache of ``kind``."""
    files = manifest.get("files", {})
    if cache_name(kind) not in files:
        return []
    out = [cache_name(kind)]
    while f"{INPUT_CACHE}/{kind}.{len(out)}{CACHE_SUFFIX}" in files:
        out.append(f"{INPUT_CACHE}/{kind}.{len(out)}{CACHE_SUFFIX}")
    return out


def read_cache_parts(folder: Path, manifest: dict, kind: str, columns: list[str] | None = None):
    """A run's cached input ``kind``: its files (:func:`cache_parts`), each checked against the run's
    manifest and memory-mapped (:func:`read_cache`), one after the other; None when there is none, or a
    part is not a readable cache of the same columns and types.

    Raises
    ------
    ManifestError
        A part changed after its run.
    """
    import pyarrow as pa

    from vaxlib.sign.previous import check_file

    names = cache_parts(manifest, kind)
    tables = []
    for name in names:
        check_file(folder, name, manifest)
        t = read_cache(folder / name, columns)
        if t is None or (tables and not t.schema.equals(tables[0].schema)):
            return None
        tables.append(t)
    if not tables:
        return None
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def write_cache(st, kind: str, table, name: str | None = None) -> None:
    """Write ``table`` as ``input-cache/<kind>.arrow`` of the staging run ``st``, hashed as it is written."""
    import pyarrow as pa

    from vaxlib.runs import fault_point

    name = name or cache_name(kind)
    fault_point(f"write:{kind}{CACHE_SUFFIX}")  # any file of the kind's cache
    with st.open(name) as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


_CACHED_COLUMNS = {"registry": ["person_id", "full_name", "dob"],
                   "vaccinations": ["record_id", "dose_number", "vaccination_date", "vaccine"]}


def _load_contract(path: str | os.PathLike, kind: str, prev) -> tuple[pd.DataFrame, str | None, object, bool]:
    """A contract input (registry or vaccinations) as :func:`_load` reads it, from the previous run's cache when it can.

    Parsing and checking a register of a million people (:func:`vaxlib.io.read_table`)
    costs more than everything else a re-signing run does.  So a sign run keeps
    the parsed columns signing uses (``input-cache/<kind>.arrow``, text as it
    was parsed) with the input file's SHA-256; the next run reuses them when the
    input file has that SHA-256, the previous run was made by the same vaxlib
    source (parsing rules unchanged) and the cache file matches its manifest
    digest.  Otherwise the file is read and parsed as usual.

    Returns
    -------
    (frame, digest, cache, hit)
        ``frame``: the whole table as :func:`vaxlib.io.read_table` gives it, or None when
        ``cache`` holds all signing needs (read from the cache, or by
        :func:`vaxlib.io.read_clean_parquet`); ``cache``: an Arrow table of the cached
        columns to store in the new run (None when the values are not all text, then
        nothing is cached); ``hit``: read from the cache.
    """
    from vaxlib.runs import code_version, file_digest

    p = Path(path)
    digest = file_digest(p) if p.is_file() else None
    cols = _CACHED_COLUMNS[kind]
    name = cache_name(kind)
    if digest is not None and prev is not None:
        from vaxlib.sign.previous import check_file

        m = prev.manifest
        if (((m.get("settings") or {}).get("input_cache") or {}).get(kind) == digest
                and m.get("code") == code_version() and name in m.get("files", {})):
            from vaxlib.runs import check_input

            check_input(path)  # as when parsed: a file of a run folder must match that run's manifest
            cache = read_cache_parts(prev.folder, m, kind, cols)  # each part checked against the manifest
            if cache is not None:
                return None, digest, cache, True
    from vaxlib.io import read_clean_parquet
    from vaxlib.runs import check_input

    check_input(path)  # a file inside a run folder must match the run's manifest
    # a Parquet file read_table would accept whole: its columns straight from Arrow (vaxlib.io)
    cache = read_clean_parquet(path, kind, cols)
    if cache is not None:
        return None, digest, cache, False
    frame = _load(path, kind)
    cache = inc.text_table(frame, cols)  # Arrow-backed text columns are not copied
    return frame, digest, cache, False


def _frame_of(cache) -> pd.DataFrame:
    """An input's cached columns as the object frame the plan reads."""
    return _frame({c: cache.column(c).to_numpy(zero_copy_only=False) for c in cache.column_names})


@dataclass
class SignStats:
    """Counts only (no personal data): who was signed, who was skipped and why."""

    signed: int = 0
    skipped: Counter = field(default_factory=Counter)
    cpu_seconds: float = 0.0  #: CPU time spent signing, summed over workers (for benchmarks)
    worker_peak_rss_mb: float = 0.0  #: largest peak RSS of a signing worker (on partitioned inputs also of a reading and planning task process)
    #: whole-process CPU seconds of each pool worker (pid -> seconds): key loading and encoder
    #: set-up included (imports happen once in the fork server); empty when ``processes=1``
    worker_cpu: dict = field(default_factory=dict)
    #: held/refused persons (:data:`~vaxlib.sign.checks.REFUSAL_COLUMNS`); personal: never logged
    refused: pd.DataFrame | None = field(default=None, repr=False)
    #: what the run did against the previous one: issued, reissued, kept, carried, revoked
    counts: dict = field(default_factory=dict)
    #: wall seconds per stage of :func:`sign_tables` (previous, read_inputs, plan, compare_previous,
    #: sign_and_commit, revoke), numbers only
    timings: dict = field(default_factory=dict)
    #: this process's CPU seconds per stage, the same keys as :attr:`timings` (the signing workers'
    #: are :attr:`worker_cpu`)
    cpu_timings: dict = field(default_factory=dict)
    #: how a rerun used the previous run: ``cached_inputs`` (inputs read from its cache),
    #: ``changed_rows_share``, ``replanned_persons`` (absent when everyone was planned)
    rerun: dict = field(default_factory=dict)
    #: ``--person``: how many persons were asked for (counts then cover only them); None for the whole set
    requested: int | None = None

    def summary(self, lang: str = "vi") -> str:
        """What ``vax sign`` prints: signed, skipped by reason, and what happened to earlier certificates.

        With ``--person`` (:attr:`requested` set) the counts are those persons' only; the other
        certificates of the previous run, kept as they were, are said apart.
        """
        from vaxlib import i18n

        labels = {r: (i18n.t(f"signskip.{r}", "vi"), i18n.t(f"signskip.{r}", "en"))
                  for r in ("not_all_verified", "not_in_registry", "no_usable_dose", "payload_invalid",
                            "unknown_vaccine", "several_persons")}
        labels.update(REFUSAL_LABELS)
        i = 0 if lang == "vi" else 1
        n = i18n.fmt_int
        skipped = sum(self.skipped.values())
        if self.requested is None:
            head = i18n.t("sign.summary", lang, signed=n(self.signed, lang), skipped=n(skipped, lang))
        else:
            head = i18n.t("sign.summary_person", lang, signed=n(self.signed, lang),
                          requested=n(self.requested, lang), skipped=n(skipped, lang))
        parts = [f"  {n(k, lang)} — {labels.get(r, (r, r))[i]}" for r, k in sorted(self.skipped.items())]
        c = {k: n(c_, lang) for k, c_ in self.counts.items()}
        if self.counts.get("kept") or self.counts.get("reissued") or self.counts.get("carried"):
            key = "sign.previous" if self.requested is None else "sign.previous_person"
            parts.insert(0, "  " + i18n.t(key, lang, issued=c.get("issued", "0"), reissued=c.get("reissued", "0"),
                                          revoked=c.get("revoked", "0"), kept=c.get("kept", "0"),
                                          carried=c.get("carried", "0")))
        return "\n".join([head, *parts])


@dataclass
class SigningPlan:
    """Who ``vax sign`` signs now, and who it holds back or refuses (with the record and reason).

    Attributes
    ----------
    persons : DataFrame
        :data:`PERSON_COLUMNS`, one row per person to sign (their latest dose).
    refused : DataFrame
        :data:`~vaxlib.sign.checks.REFUSAL_COLUMNS`: every held or refused person with the
        record that holds them or is impossible (a person may have several rows).
    stats : SignStats
        Counts per reason, one per person.
    """

    persons: pd.DataFrame
    refused: pd.DataFrame
    stats: "SignStats"


def plan_signing(registry: pd.DataFrame, vaccinations: pd.DataFrame, matches: pd.DataFrame,
                 candidates: pd.DataFrame | None = None, *,
                 at: dt.datetime | None = None, held: pd.DataFrame | None = None) -> SigningPlan:
    """Persons we may sign, one row each with their latest dose; the held, refused and skipped.

    A person (a ``person_key`` group of dose records, or a ``person_id``
    group when the matches carry no ``person_key``) is signable when every
    one of its records is ``verified`` and all point to the same register
    person.  Every record linked to that register person counts: one
    non-verified record anywhere blocks the signature.  Of those, a person
    is held while a pending record may be theirs, and refused when a date
    or their dose history is impossible (:mod:`vaxlib.sign.checks`).

    ``held``: the rows of :func:`~vaxlib.sign.checks.held_by_pending` when
    already computed (then ``candidates`` is not read).  The held/refused rows
    come out ordered by person (stable), so a plan made in parts
    (:mod:`vaxlib.sign.incremental`) lists them the same way.
    """
    at = at or dt.datetime.now(dt.timezone.utc)
    stats = SignStats()
    # Integer codes for persons and keys, then numpy: pandas' Arrow-string isin/groupby on
    # 1M persons took 30-45 s here; this takes a few.
    obj = lambda s: s.to_numpy(dtype=object, na_value=None)  # noqa: E731
    reg_pid = obj(registry["person_id"])
    m_rec, m_pid = obj(matches["record_id"]), obj(matches["person_id"])
    pid_codes, people = pd.factorize(np.concatenate([reg_pid, m_pid]))
    people = np.asarray(people, dtype=object)
    n_reg, n_people = len(reg_pid), len(people)
    reg_row = np.full(n_people + 1, -1, np.int64)  # person code -> first register row (-1: not there)
    reg_row[pid_codes[:n_reg][::-1]] = np.arange(n_reg)[::-1]
    reg_row[-1] = -1
    pid = pid_codes[n_reg:]
    keys = obj(matches["person_key"]) if "person_key" in matches.columns else m_pid
    key = pd.factorize(keys)[0]
    ok = (matches["status"].astype(str) == "verified").to_numpy(dtype=bool)
    valid = key >= 0
    n_keys = int(key.max()) + 1 if valid.any() else 0
    # a key is fine if all its records are verified and it names exactly one register person
    all_ok = np.bincount(key[valid], weights=~ok[valid], minlength=n_keys) == 0
    named = valid & (pid >= 0)
    pairs = np.unique(key[named].astype(np.int64) * (n_people + 1) + pid[named])
    pair_key, pair_pid = pairs // (n_people + 1), pairs % (n_people + 1)
    n_pid = np.bincount(pair_key, minlength=n_keys)
    key_pid = np.full(n_keys, -1, np.int64)
    key_pid[pair_key] = pair_pid
    # any non-verified record linked to a register person blocks that person too
    blocked = np.zeros(n_people + 1, bool)
    blocked[pid[valid & ~ok & (pid >= 0)]] = True
    good = all_ok & (n_pid == 1) & ~blocked[key_pid]
    ambiguous = ~good & all_ok & (n_pid > 1)  # verified records of two register persons
    stats.skipped["several_persons"] += int(ambiguous.sum())
    bad = ~good & ~ambiguous
    stats.skipped["not_all_verified"] += int(len(np.unique(key_pid[bad & (key_pid >= 0)]))
                                             + (bad & (key_pid < 0)).sum())
    # two keys for the same person, both fine: one certificate
    good_pids = np.unique(key_pid[good])
    in_reg = reg_row[good_pids] >= 0
    stats.skipped["not_in_registry"] += int((~in_reg).sum())
    signable = np.zeros(n_people + 1, bool)
    signable[good_pids[in_reg]] = True
    rmask = valid & ok & (pid >= 0) & signable[pid]
    # their records, joined to the dose data by record_id
    vrec = obj(vaccinations["record_id"])
    first = ~pd.Index(vrec).duplicated()
    at_vac = pd.Index(vrec[first]).get_indexer(m_rec[rmask])
    found = at_vac >= 0
    vpos = np.flatnonzero(first)[at_vac[found]]
    rec_pid = people[pid[rmask][found]]
    recs = _frame({
        "record_id": m_rec[rmask][found], "person_id": rec_pid,
        "dose_number": pd.to_numeric(vaccinations["dose_number"].to_numpy(dtype=object)[vpos], errors="coerce"),
        "vaccination_date": vaccinations["vaccination_date"].to_numpy(dtype=object, na_value=None)[vpos],
        "vaccine": vaccinations["vaccine"].to_numpy(dtype=object, na_value=None)[vpos],
    })
    recs = recs[recs["dose_number"].notna() & recs["vaccination_date"].notna()]
    recs["dose_number"] = recs["dose_number"].astype(np.int64)
    pids = people[good_pids[in_reg]]
    rows_of = reg_row[good_pids[in_reg]]
    dobs = pd.Series(registry["dob"].to_numpy(dtype=object, na_value="")[rows_of], index=pids)
    # held while pending, refused when impossible: only for persons otherwise signable
    held = held_by_pending(matches, candidates) if held is None else held
    held = held[pd.Index(pids).get_indexer(held["person_id"].to_numpy(dtype=object)) >= 0]
    refused = pd.concat([held, refuse_records(recs, dobs, at)], ignore_index=True)
    stats.skipped.update(refused.drop_duplicates("person_id")["reason"].value_counts().to_dict())
    out_of = pd.Index(pd.unique(refused["person_id"].to_numpy(dtype=object)))
    recs = recs[out_of.get_indexer(recs["person_id"].to_numpy(dtype=object)) < 0]
    usable = int((out_of.get_indexer(pids) < 0).sum())
    # the latest dose of each person: by date, then dose number
    recs = recs.iloc[np.lexsort((recs["dose_number"].to_numpy(), _vdate_key(recs["vaccination_date"]),
                                 pd.factorize(recs["person_id"].to_numpy(dtype=object))[0]))]
    latest = recs.drop_duplicates("person_id", keep="last")
    stats.skipped["no_usable_dose"] += usable - len(latest)
    at_reg = pd.Index(pids).get_indexer(latest["person_id"].to_numpy(dtype=object))
    out = _frame({
        "person_id": latest["person_id"].to_numpy(dtype=object),
        "full_name": registry["full_name"].to_numpy(dtype=object, na_value="")[rows_of[at_reg]],
        "dob": dobs.to_numpy()[at_reg],
        "dose_number": latest["dose_number"].to_numpy(), "vaccination_date": latest["vaccination_date"].to_numpy(),
        "vaccine": latest["vaccine"].to_numpy(),
    })[PERSON_COLUMNS]
    out = out.sort_values("person_id", kind="stable").reset_index(drop=True)
    stats.skipped = Counter({k: int(v) for k, v in stats.skipped.items() if v})
    refused = refused.iloc[np.argsort(refused["person_id"].to_numpy(dtype=object).astype(str), kind="stable")]
    return SigningPlan(out, refused.reset_index(drop=True), stats)


def _frame(columns: dict) -> pd.DataFrame:
    """A frame of object columns as given (no conversion to Arrow strings and back: seconds at 1M)."""
    return pd.DataFrame({k: pd.Series(v, dtype=object if getattr(v, "dtype", None) == object else None)
                         for k, v in columns.items()})


def _vdate_key(dates: pd.Series) -> np.ndarray:
    """Sort key of vaccination dates (text order is date order for ``YYYY-MM-DD``)."""
    return pd.factorize(dates.astype(str).to_numpy(dtype=object), sort=True)[0]


def select_signable(registry: pd.DataFrame, vaccinations: pd.DataFrame, matches: pd.DataFrame,
                    candidates: pd.DataFrame | None = None, *,
                    at: dt.datetime | None = None) -> tuple[pd.DataFrame, "SignStats"]:
    """:func:`plan_signing` as ``(persons, stats)``."""
    plan = plan_signing(registry, vaccinations, matches, candidates, at=at)
    return plan.persons, plan.stats


# ----------------------------------------------------------------------------- signing one person

@dataclass
class _Ctx:
    signer: Signer
    protected: bytes
    kid_b64: str
    issuer: str
    validate: bool = True
    count: int = 0  #: rows seen by this worker (for the deterministic sample)
    shapes: set = field(default_factory=set)  #: (mp, dn, sd) shapes already checked the slow way
    _encoders: dict = field(default_factory=dict)

    def encoder(self, pair: tuple[int, int]) -> FastEncoder:
        """The batch's :class:`FastEncoder` (one per (iat, exp); its caches live across chunks)."""
        enc = self._encoders.get(pair)
        if enc is None:
            self._encoders.clear()
            enc = self._encoders[pair] = FastEncoder(self.issuer, pair)
        return enc


def sign_person(ctx: _Ctx, row: Sequence, when: "_When") -> tuple:
    """Sign one person row; returns the certificate row (see :data:`CERT_COLUMNS`).

    Raises
    ------
    PayloadError, SchemaInvalid, ValueSetInvalid
        Nothing is signed for a payload that does not validate.
    """
    person_id, full_name, dob, dn, date, vaccine = row
    uvci = make_uvci()
    payload = build_payload(full_name, dob, DoseRecord(dn, date, vaccine), uvci=uvci,
                            issuer=ctx.issuer)
    if ctx.validate:
        validate_payload(payload, fast=True)
    claims = cwt_claims(payload, when.pair)
    cose = sign1(encode_claims(claims), ctx.signer.key, ctx.signer.kid, alg=ctx.signer.alg,
                 protected=ctx.protected)
    return (person_id, uvci, _hc1.encode_hc1(cose), ctx.kid_b64, when.iat_iso, when.exp_iso)


@dataclass(frozen=True)
class _When:
    """iat/exp of a batch, computed once."""

    pair: tuple[int, int]
    iat_iso: str
    exp_iso: str

    @classmethod
    def at(cls, ts: float) -> "_When":
        iat, exp = validity(dt.datetime.fromtimestamp(ts, dt.timezone.utc))
        iso = lambda t: dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat()  # noqa: E731
        return cls((iat, exp), iso(iat), iso(exp))


_CTX: _Ctx | None = None


def _init_worker(keys_dir: str, kid_hex: str | None, issuer: str, validate: bool) -> None:
    # each worker opens the key itself (passphrase from its inherited environment):
    # no secret ever crosses the process pipe
    global _CTX
    from vaxlib.runs import die_with_parent

    die_with_parent()  # a killed vax sign leaves no signing worker behind
    signer = load_signer(keys_dir, kid_hex)
    _CTX = _Ctx(signer, protected_header(signer.kid, signer.alg), signer.kid_b64, issuer, validate)


def _sign_chunk(args) -> tuple[tuple[list, list, list], Counter, float, float, tuple[int, float]]:
    """Sign one chunk of person rows in a worker; returns columns ``(person_ids, uvcis, hc1s)``.

    Fast path (:mod:`vaxlib.sign.fastpath`): claims assembled from cached,
    pre-validated CBOR fragments, COSE built directly, stored-zlib, Base45 for
    the whole chunk in one numpy pass.  Rows the fast path does not take go the
    reference way (:func:`build_payload` + full schema), which raises the
    precise error; a deterministic sample (first row of each shape, every
    :data:`~vaxlib.sign.fastpath.SAMPLE_EVERY`-th row) is built both ways and
    must agree byte for byte.
    """
    rows, issued_ts, qr_dir, qr_kind = args
    cpu0 = time.process_time()
    ctx = _CTX
    when = _When.at(issued_ts)
    enc = ctx.encoder(when.pair)
    key, alg, prot = ctx.signer.key, ctx.signer.alg, ctx.protected
    sig_head = signature_input(prot, b"")[:-1]  # the Sig_structure up to the payload's length
    cose_head = sign1_bytes(prot, b"", b"", tag=True)[:-2]  # 18([prot, {}, ... up to the payload
    ecdsa = alg == ES256
    pids, uvcis, blobs, bad = [], [], [], Counter()
    uvci_list = uvci_batch(len(rows))
    seen, every = ctx.shapes, SAMPLE_EVERY
    for row, uvci in zip(rows, uvci_list):
        fast = enc.encode(row, uvci)
        ctx.count += 1
        try:
            if fast is None:
                claims = enc.reference(row, uvci, validate=ctx.validate)
            else:
                claims, shape = fast
                if ctx.validate and (ctx.count % every == 0 or shape not in seen):
                    seen.add(shape)
                    try:
                        same = enc.reference(row, uvci) == claims
                    except (PayloadError, SchemaInvalid, ValueSetInvalid) as exc:
                        raise RuntimeError("fast CBOR encoder accepted a row the reference refuses: "
                                           f"{type(exc).__name__}") from None
                    if not same:
                        raise RuntimeError("fast CBOR encoder disagrees with the reference payload")
        except PayloadError as exc:
            bad["unknown_vaccine" if "vaccine" in str(exc) else "payload_invalid"] += 1
            continue
        except (SchemaInvalid, ValueSetInvalid):
            bad["payload_invalid"] += 1
            continue
        head = bstr_head(len(claims))
        to_sign = sig_head + head + claims
        if ecdsa:
            r, s = decode_dss_signature(key.sign(to_sign, _ECDSA))
            sig = b"\x58\x40" + r.to_bytes(32, "big") + s.to_bytes(32, "big")
        else:
            sig = key.sign(to_sign, _PSS_SIGN, _SHA256)
            sig = bstr_head(len(sig)) + sig
        blobs.append(_hc1.compress(cose_head + head + claims + sig))
        pids.append(row[0])
        uvcis.append(uvci)
    hc1s = [_hc1.PREFIX + t for t in _hc1.b45encode_many(blobs)]
    if qr_dir:
        from vaxlib.sign.qr import make_qr

        for pid, uvci, text in zip(pids, uvcis, hc1s):
            make_qr(text, Path(qr_dir) / qr_filename(pid, uvci, qr_kind), qr_kind)
    import resource

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    cpu = time.process_time()
    return (pids, uvcis, hc1s), bad, cpu - cpu0, rss_mb, (os.getpid(), cpu)


def not_signable(missing: set, refused_ids) -> NotVerified:
    """The error for ``--person`` ids that are not signable (``refused_ids``: the held or refused persons)."""
    held_n = len(missing & set(refused_ids))
    return NotVerified.say("sign_not_signable", n=_Count(len(missing)), held=_Count(held_n))


class _Count(int):
    """A count that words itself as a number in the reader's language (``1.234`` / ``1,234``)."""

    def describe(self, lang: str = "vi") -> str:
        from vaxlib import i18n

        return i18n.fmt_int(int(self), lang)


def _check_signer(keys_dir: str | os.PathLike, signer: Signer, issued_ts: float) -> None:
    """Refuse an expired, not yet valid or revoked DSC; warn when it has under 30 days left."""
    at = dt.datetime.fromtimestamp(issued_ts, dt.timezone.utc)
    left = check_signer(signer.cert, signer.kid.hex(), at, revoked_signers(keys_dir))
    if left is not None:
        log.warning("DSC %s expires in %d day(s); run `vax keys rotate` before then",
                    signer.kid.hex(), left)


def _chunks(rows: Iterable[Sequence], size: int) -> Iterator[list]:
    it = iter(rows)
    while True:
        buf = list(itertools.islice(it, size))
        if not buf:
            return
        yield buf


class CertChunk(Sequence):
    """Certificates of one signed chunk, column-wise (cheap to pass between processes).

    Behaves as a sequence of :data:`CERT_COLUMNS` tuples; :class:`CertificateWriter`
    takes the columns directly.  ``kid``, ``issued_at`` and ``expires_at`` are the
    same for the whole chunk.
    """

    __slots__ = ("person_id", "uvci", "hc1", "kid", "issued_at", "expires_at")

    def __init__(self, person_id: list, uvci: list, hc1: list, kid: str, issued_at: str,
                 expires_at: str) -> None:
        self.person_id, self.uvci, self.hc1 = person_id, uvci, hc1
        self.kid, self.issued_at, self.expires_at = kid, issued_at, expires_at

    def __len__(self) -> int:
        return len(self.uvci)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return (self.person_id[i], self.uvci[i], self.hc1[i], self.kid, self.issued_at,
                self.expires_at)

    def __iter__(self):
        n = len(self)
        return zip(self.person_id, self.uvci, self.hc1, itertools.repeat(self.kid, n),
                   itertools.repeat(self.issued_at, n), itertools.repeat(self.expires_at, n))


def sign_rows(rows: Iterable[Sequence], keys_dir: str | os.PathLike, *, kid_hex: str | None = None,
              issued_at: dt.datetime | None = None, processes: int | None = None,
              chunk_size: int = 2000, issuer: str = ISSUER["vi"], qr: str | None = None,
              qr_dir: str | os.PathLike | None = None, validate: bool = True,
              stats: SignStats | None = None) -> Iterator[CertChunk]:
    """Sign person rows (:data:`PERSON_COLUMNS` order) and yield chunks of certificate rows.

    ``processes=1`` signs in this process; otherwise a pool of ``processes``
    (default: every core) workers.  ``qr`` = ``"png"``/``"svg"`` also writes
    one QR image per certificate into ``qr_dir``.
    """
    stats = stats if stats is not None else SignStats()
    issued_ts = (issued_at or dt.datetime.now(dt.timezone.utc)).timestamp()
    if qr:
        Path(qr_dir).mkdir(parents=True, exist_ok=True)
    tasks = ((chunk, issued_ts, str(qr_dir) if qr else None, qr)
             for chunk in _chunks(rows, chunk_size))
    processes = processes or os.cpu_count() or 1
    init = (str(keys_dir), kid_hex, issuer, validate)
    if processes == 1:
        _init_worker(*init)
        _check_signer(keys_dir, _CTX.signer, issued_ts)
        results = map(_sign_chunk, tasks)
        pool = None
    else:
        parent_signer = load_signer(keys_dir, kid_hex)  # fail early in the parent
        _check_signer(keys_dir, parent_signer, issued_ts)
        ctx = mp.get_context("forkserver" if os.name == "posix" else "spawn")
        if os.name == "posix":  # import once in the fork server, not in every worker
            ctx.set_forkserver_preload(["vaxlib.sign.batch"])
        pool = ctx.Pool(processes, initializer=_init_worker, initargs=init)
        results = pool.imap(_sign_chunk, tasks, chunksize=1)
    when = _When.at(issued_ts)
    kid_b64 = parent_signer.kid_b64 if pool is not None else _CTX.kid_b64
    try:
        for (pids, uvcis, hc1s), bad, cpu, rss, (pid, total) in results:
            certs = CertChunk(pids, uvcis, hc1s, kid_b64, when.iat_iso, when.exp_iso)
            stats.signed += len(certs)
            stats.skipped.update(bad)
            stats.cpu_seconds += cpu
            if pool is not None:
                stats.worker_cpu[pid] = total
            stats.worker_peak_rss_mb = max(stats.worker_peak_rss_mb, rss)
            yield certs
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


#: rows per row group of ``certificates.parquet``: chunks (2,000 certificates each) and kept slices are
#: gathered to this size before they are written; a row group per chunk made 500 row groups per million,
#: whose per-group work (pages, dictionary pages of kid/issued_at/expires_at, statistics, footer entries)
#: was ~15 % of writing and of reading the table back (a rerun does both for every kept certificate)
GROUP_ROWS = 32_768


class CertificateWriter:
    """Append certificate chunks to a Parquet file with the contract's columns (row groups of
    :data:`GROUP_ROWS` rows; :meth:`close` writes the last one)."""

    def __init__(self, path: str | os.PathLike, staging=None) -> None:
        """``staging``: the :class:`~vaxlib.runs.Staging` ``path`` is in; the file is then hashed as
        it is written (:meth:`~vaxlib.runs.Staging.open`) rather than read again for the manifest."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from vaxlib.runs import fault_point

        self.schema = pa.schema([(c, pa.string()) for c in CERT_COLUMNS])
        self.path = Path(path)
        fault_point(f"write:{self.path.name}")
        self._sink = staging.open(self.path.relative_to(staging.path).as_posix()) if staging is not None else None
        # dictionary-encode only the columns that repeat: trying it on 20k unique HC1 strings
        # per chunk cost ~1.6 us per certificate and made the file larger
        # HC1 strings (zlib data in Base45) with lz4: zstd made them 30 % smaller but cost 2.5 CPU s
        # per million to write and read again, which every rerun does for the certificates it keeps;
        # and no min/max statistics for them (nobody filters on an HC1; computing and reading the
        # statistics of 600-byte strings was ~40 % of reading the column)
        self._writer = pq.ParquetWriter(self._sink if self._sink is not None else self.path, self.schema,
                                        compression={c: "lz4" if c == "hc1" else "zstd" for c in CERT_COLUMNS},
                                        use_dictionary=["kid", "issued_at", "expires_at"],
                                        write_statistics=[c for c in CERT_COLUMNS if c != "hc1"])
        self.rows = 0  #: rows accepted (written or waiting for their row group)
        self._pending: list = []  # Arrow tables of the row group being gathered
        self._pending_rows = 0

    def _add(self, table) -> None:
        """Gather ``table`` into the current row group; write the group once it holds :data:`GROUP_ROWS` rows."""
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        if self._pending_rows >= GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._pending:
            self._writer.write_table(pa.concat_tables(self._pending), row_group_size=max(1, self._pending_rows))
            self._pending, self._pending_rows = [], 0

    def write(self, certs: "CertChunk | list[tuple]") -> None:
        import pyarrow as pa

        if not certs:
            return
        if isinstance(certs, CertChunk):
            n = len(certs)
            arrays = [pa.array(certs.person_id, pa.string()), pa.array(certs.uvci, pa.string()),
                      pa.array(certs.hc1, pa.string())]
            arrays += [pa.repeat(pa.scalar(v, pa.string()), n)
                       for v in (certs.kid, certs.issued_at, certs.expires_at)]
        else:
            arrays = [pa.array(c, pa.string()) for c in zip(*certs)]
        self._add(pa.table(arrays, schema=self.schema))

    def write_table(self, table) -> None:
        """Append an Arrow table of :data:`CERT_COLUMNS` (e.g. certificates kept from a previous run)."""
        if table.num_rows:
            self._add(table.select(CERT_COLUMNS).cast(self.schema))

    def close(self) -> None:
        self._flush()
        self._writer.close()
        if self._sink is not None:
            self._sink.close()

    def __enter__(self) -> "CertificateWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: below this many certificates to sign, ``sign_tables`` signs in-process: a pool costs ~1.5 s wall and
#: ~1 CPU s to start (fork server importing vaxlib, each worker opening the key), in-process signing
#: ~40 us per certificate, so a rerun's 10,000 re-issues are cheaper here on both counts
SMALL_BATCH = 20_000

#: held and refused persons with their record and reason (written beside the certificates)
REFUSED_FILE = "not-signed.parquet"


@dataclass
class _Start:
    """What both ``vax sign`` paths settle before reading an input (:func:`_start`)."""

    issued_at: dt.datetime
    signer: Signer
    inputs: list  #: the input paths given (recorded in the run's manifest)
    settings: dict  #: the run's manifest settings common to both paths


def _start(registry, vaccinations, matches, candidates, keys_dir, *, issued_at: dt.datetime | None,
           issuer: str | None, qr: str | None, previous, check_inputs: bool) -> _Start:
    """The prologue of :func:`sign_tables` and :func:`vaxlib.sign.stream.sign_partitioned`.

    The issue time (now unless given); the active signer, refused when expired,
    not yet valid or revoked (before any input is read); with ``check_inputs``,
    every input inside a run folder checked against that run's manifest (the
    one-file path checks each as it reads it); and the manifest settings both
    paths record (``input_cache`` empty: the caller fills in what it caches).

    Raises
    ------
    SignerUnusable
        The active DSC cannot sign at ``issued_at``.
    ManifestError
        An input inside a run folder does not match that run's manifest.
    """
    from vaxlib.runs import check_input
    from vaxlib.sign.previous import HASH_SCHEME

    issued_at = issued_at or dt.datetime.now(dt.timezone.utc)
    signer = load_signer(keys_dir)
    _check_signer(keys_dir, signer, issued_at.timestamp())
    inputs = [x for x in (registry, vaccinations, matches, candidates) if x is not None]
    if check_inputs:
        for path in inputs:
            check_input(path)  # a file (or folder) inside a run folder must match the run's manifest
    settings = {"content_hash": HASH_SCHEME, "issuer": issuer or ISSUER["vi"], "qr": qr or "",
                "previous": str(previous) if previous else "", "kid": signer.kid_b64, "input_cache": {}}
    return _Start(issued_at, signer, inputs, settings)


def sign_tables(registry: str | os.PathLike, vaccinations: str | os.PathLike,
                matches: str | os.PathLike, keys_dir: str | os.PathLike, out: str | os.PathLike, *,
                signer_name: str, ledger_dir: str | os.PathLike | None = None,
                candidates: str | os.PathLike | None = None,
                previous: str | os.PathLike | None = None,
                qr: str | None = None, processes: int | None = None,
                issued_at: dt.datetime | None = None, issuer: str = ISSUER["vi"],
                only: Iterable[str] | None = None, args: dict | None = None,
                incremental: bool = True, stream: bool | int = False) -> SignStats:
    """The whole ``vax sign``: check, select, sign what changed, and commit the run atomically.

    ``out`` is a run folder (:func:`vaxlib.runs.atomic_run`): certificates,
    content index, QR images, held/refused list and the signing ledger are
    written into a staging folder and swapped in together, so a failed or
    killed run leaves the previous result as it was.  Superseded UVCIs are
    added to the key folder's revocation list right after the commit (and on
    the next run, should the process die in between).

    Parameters
    ----------
    candidates : path, optional
        ``candidates.parquet`` of the same ``vax match`` run: persons among the
        top candidates of a ``review``/``unmatched`` record are held.
    previous : path, optional
        A previous ``vax sign`` run to re-sign against (default: ``out`` itself
        when it holds one): unchanged people keep their certificate, changed
        ones get a new one and the old UVCI is revoked (:mod:`vaxlib.sign.previous`).
    ledger_dir : path, optional
        Also append this run's ledger events to ``ledger_dir/signing-ledger.csv``
        (after the commit); the run folder always holds the whole ledger.
    only : iterable of str, optional
        Sign only these register persons; any of them not signable raises
        :class:`NotVerified` (nothing is signed).
    incremental : bool
        Plan only the people whose inputs changed since ``previous``
        (:mod:`vaxlib.sign.incremental`); False plans everyone (same result, for comparison).
    stream : bool or int
        Sign bucket by bucket (:mod:`vaxlib.sign.stream`), as for inputs that are folders of
        parts (always); an int is the number of buckets.  No re-sign against a previous run there.

    Raises
    ------
    SignerUnusable
        The active DSC is expired, not yet valid or revoked (before any input is read).
    """
    from vaxlib.io import write_output
    from vaxlib.runs import CERTIFICATES, atomic_run, fault_point, is_run
    from vaxlib.sign.ledger import LEDGER_FILE, carry_ledger, link_ledger, revocation_path, revoke, revoked_uvcis
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from vaxlib.sign.previous import (
        CONTENT_FILE, PreviousRun, content_hashes, content_schema, decide, positions,
    )
    from vaxlib.sign.verify import load_revocations, uvci_hash

    from vaxlib.sign.stream import is_partitioned, sign_partitioned

    if stream or is_partitioned(registry, vaccinations, matches, candidates):  # folders of parts: bucket by bucket
        return sign_partitioned(registry, vaccinations, matches, keys_dir, out, signer_name=signer_name,
                                ledger_dir=ledger_dir, candidates=candidates, previous=previous, qr=qr,
                                processes=processes, issued_at=issued_at, issuer=issuer, only=only, args=args,
                                buckets=stream if isinstance(stream, int) and not isinstance(stream, bool) else None)
    out = Path(out)
    prev_dir = Path(previous) if previous else (out if is_run(out) and (out / CERTIFICATES).is_file() else None)
    start = _start(registry, vaccinations, matches, candidates, keys_dir, issued_at=issued_at, issuer=issuer,
                   qr=qr, previous=prev_dir, check_inputs=False)  # each input is checked as it is read
    issued_at, signer = start.issued_at, start.signer
    clock, cpu_clock = time.perf_counter(), time.process_time()
    timings: dict[str, float] = {}
    rerun: dict = {}  # SignStats.rerun
    prev = PreviousRun.load(prev_dir) if prev_dir is not None else None
    if prev is not None:  # a run that died between its commit and the revocations: finish them
        # the previous run's own events: after the ledger it carried (the whole ledger for older runs);
        # a run that revoked nothing says so in its manifest (no need to scan a million ledger rows)
        sett = prev.manifest.get("settings") or {}
        late = ([] if sett.get("revoked") == 0
                else revoked_uvcis(prev_dir, name=sett["ledger_own"]) if sett.get("ledger_own")  # a delta's own part
                else revoked_uvcis(prev_dir, int(sett.get("ledger_offset") or 0)))
        if late and revoke(keys_dir, late):
            log.warning("added superseded UVCIs of the previous run to the revocation list")

    cpu = {}  # this process's CPU seconds per stage (the signing workers' are SignStats.worker_cpu)

    def lap(name: str) -> None:
        nonlocal clock, cpu_clock
        now, now_cpu = time.perf_counter(), time.process_time()
        timings[name] = round(now - clock, 3)
        cpu[name] = round(now_cpu - cpu_clock, 3)
        clock, cpu_clock = now, now_cpu

    lap("previous")
    reg, reg_sha, reg_cache, reg_hit = _load_contract(registry, "registry", prev)
    vac, vac_sha, vac_cache, vac_hit = _load_contract(vaccinations, "vaccinations", prev)
    caches = {k: (sha, t) for k, sha, t in (("registry", reg_sha, reg_cache), ("vaccinations", vac_sha, vac_cache))
              if sha is not None and t is not None}
    rerun["cached_inputs"] = [k for k, hit in (("registry", reg_hit), ("vaccinations", vac_hit)) if hit]
    # vax match's outputs stay in Arrow (converting 2.4M rows to pandas and back cost ~1.5 CPU s at 1M)
    mat = _load(matches, "matches", arrow=True)
    cand = _load(candidates, "candidates", arrow=True) if candidates is not None else None
    lap("read_inputs")
    # the plan's inputs as Arrow text tables (None when a column is not text: then no incremental plan)
    tables = {"registry": reg_cache, "vaccinations": vac_cache,
              "matches": inc.text_table(mat, inc.PLAN_INPUTS["matches"])}
    cand_t = inc.text_table(cand, ["record_id", "person_id"]) if cand is not None else None
    if any(t is None for t in tables.values()) or (cand is not None and cand_t is None):
        tables = None
        reg = _frame_of(reg_cache) if reg is None else reg
        vac = _frame_of(vac_cache) if vac is None else vac
        mat = _load(matches, "matches")  # not all text: the plan reads them as pandas, as before
        cand = _load(candidates, "candidates") if candidates is not None else None
        held = held_by_pending(mat, cand) if cand is not None else pd.DataFrame(columns=REFUSAL_COLUMNS)
    else:
        held = (inc.held_rows(tables["matches"], cand_t) if cand is not None
                else pd.DataFrame(columns=REFUSAL_COLUMNS))
    hold = cand is not None
    del cand, cand_t
    plan, dirty = None, None
    if tables is not None and only is None and incremental:
        plan, dirty = _plan_incremental(prev, tables, held, issued_at, issuer=issuer, hold=hold,
                                        keys_dir=keys_dir, rerun=rerun)
    if plan is None:
        if tables is not None:
            reg, vac, mat = (tables[k].to_pandas() for k in ("registry", "vaccinations", "matches"))
        plan = plan_signing(reg, vac, mat, at=issued_at, held=held)
    plan_skipped = dict(plan.stats.skipped)
    del reg, vac, mat, reg_cache, vac_cache
    lap("plan")
    persons, stats = plan.persons, plan.stats
    if only is not None:
        wanted = set(only)
        missing = wanted - set(persons["person_id"])
        if missing:
            raise not_signable(missing, plan.refused["person_id"])
        persons = persons[persons["person_id"].isin(wanted)].reset_index(drop=True)
        # every requested person is signable (else refused above): the whole set's skips and
        # holds are not this run's story, and reporting them read as if --person had failed
        stats.skipped = Counter()
        stats.requested = len(wanted)
    hashes = content_hashes(persons, issuer)
    revoked_kids = {base64.b64encode(bytes.fromhex(k)).decode() for k in revoked_signers(keys_dir)}
    d = decide(persons, hashes, prev, at=issued_at,
               revoked_uvci_hashes=load_revocations(revocation_path(keys_dir)) if prev else set(),
               revoked_kids_b64=revoked_kids)
    to_sign = persons.iloc[d.sign].reset_index(drop=True)
    carried = _carried(prev, d.keep, persons, dirty)
    if dirty is not None:  # kept = certificates of persons signable now; the others are carried
        d.counts.update(kept=len(d.keep) - len(carried), carried=len(carried))
    lap("compare_previous")
    log.info("%d persons to sign (%s)", len(to_sign), ", ".join(f"{k} {v}" for k, v in d.counts.items()))
    signed_at = issued_at.astimezone(dt.timezone.utc).isoformat(timespec="seconds")
    sign_pos = pd.Index(to_sign["person_id"].to_numpy(dtype=object))
    signed_pids: list = []
    superseded: list[tuple[str, str]] = []  # (kid, uvci) revoked by this run
    new_events: list[tuple] = []
    inputs, settings = start.inputs, start.settings
    settings["input_cache"] = {k: sha for k, (sha, _) in caches.items()}
    if tables is not None and only is None:  # what the next run needs to plan only what changed
        settings["plan"] = {"scheme": inc.PLAN_SCHEME, "at": issued_at.astimezone(dt.timezone.utc).isoformat(),
                            "hold": hold, "skipped": plan_skipped}
    with atomic_run(out, command="sign", args=args or {}, inputs=inputs, settings=settings) as st:
        write_output(plan.refused, st / REFUSED_FILE, "table")
        _write_input_cache(st, prev, tables if "plan" in settings else None, held, caches, dirty)
        qr_dir = st / "qr"
        content_parts = []
        # the content index as a delta (the previous run's parts linked, one new part) when it can be
        # (vaxlib.sign.store); certificates.parquet, the contract's table, is always written whole
        linked = _link_parts(st, prev) if _delta_fits(prev, qr, len(to_sign)) else None
        # the ledger likewise: the previous files linked and this run's events in a new part, or copied whole
        ledger_name = link_ledger(st, prev.folder, prev.manifest) if linked is not None else None
        if ledger_name is None:
            carry_ledger(prev_dir, st.path)
            ledger = st / LEDGER_FILE
            st.settings["ledger_offset"] = ledger.stat().st_size if ledger.is_file() else 0
            ledger_name = LEDGER_FILE
        else:
            st.settings["ledger_own"] = ledger_name
            (st / ledger_name).parent.mkdir(exist_ok=True)
        new_certs = []  # delta: the new certificates go after the kept ones (the index parts list them so)
        with CertificateWriter(st / CERTIFICATES, st) as writer:
            # a few thousand re-issues sign faster here than through a pool's start-up
            few = len(to_sign) < SMALL_BATCH
            for certs in sign_rows(to_sign.itertuples(index=False, name=None), keys_dir,
                                   processes=1 if few else processes, issued_at=issued_at, issuer=issuer, qr=qr,
                                   qr_dir=qr_dir, stats=stats):
                if linked is None:
                    writer.write(certs)
                else:  # at most ~10 % of the certificates (COMPACT_SHARE)
                    new_certs.append(certs)
                fault_point("sign:chunk")
                at = sign_pos.get_indexer(certs.person_id)
                ev, sup, why = d.event[at], d.supersedes[at], d.reason[at]
                new_events += [(certs.kid, u, e, s_, w) for u, e, s_, w in zip(certs.uvci, ev, sup, why)]
                signed_pids.append(np.asarray(certs.person_id, dtype=object))
                content_parts.append(pa.table({
                    "person_id": pa.array(certs.person_id, pa.string()), "uvci": pa.array(certs.uvci, pa.string()),
                    "uvci_sha256": pa.array([uvci_hash(u) for u in certs.uvci], pa.string()),
                    "qr_file": pa.array([qr_filename(p_, u, qr) if qr else "" for p_, u in
                                         zip(certs.person_id, certs.uvci)], pa.string()),
                    **{h: pa.array(hashes[h][d.sign][at], pa.uint64())
                       for h in ("name_hash", "dob_hash", "dose_hash")}}, schema=content_schema()))
            keep = d.keep
            if prev is not None:
                # a re-issue that did not sign (its new payload fails a check) keeps the old certificate
                done = np.concatenate(signed_pids) if signed_pids else np.zeros(0, object)
                failed = np.flatnonzero((d.event == "reissued")
                                        & (pd.Index(done).get_indexer(to_sign["person_id"].to_numpy(dtype=object)) < 0))
                back = positions(pc.index_in(pa.array(to_sign["person_id"].to_numpy(dtype=object)[failed], pa.string()),
                                          value_set=prev.certificates["person_id"]))
                if (back >= 0).any():
                    keep = np.unique(np.concatenate([keep, back[back >= 0]]))
                # the kept certificates, as Arrow slices of the previous table's row groups (never Python strings)
                for piece in prev.iter_rows(keep):
                    writer.write_table(piece)
                kept = _rows_at(prev.certificates, keep)  # without HC1: _kept_content reads it only if it must
                if linked is None:
                    content_parts.append(_kept_content(prev, kept, keep, qr, st))
                elif qr:  # their QR images (their index rows are in the linked parts)
                    _kept_content(prev, kept, keep, qr, st)
                reissued = d.event == "reissued"
                ok = reissued.copy()
                ok[failed] = False
                superseded = list(zip(d.revoke_kid[ok[reissued]], d.supersedes[ok]))
            for certs in new_certs:
                writer.write(certs)
        content = (pa.concat_tables(content_parts) if content_parts
                   else content_schema().empty_table())
        if linked is None or content.num_rows:  # a delta with nothing new: no empty part
            content_path = CONTENT_FILE if linked is None else part_name(CONTENT_PARTS_DIR, len(linked))
            (st / content_path).parent.mkdir(exist_ok=True)
            fault_point(f"write:{Path(content_path).name}")
            pq.write_table(content, st / content_path, compression="zstd")
        if linked is not None:
            _write_superseded(st, prev, keep)
            st.table_rows[CONTENT_PARTS_DIR] = writer.rows  # the current rows, not the parts' sum
        if "plan" in settings:
            done = set(np.concatenate(signed_pids)) if signed_pids else set()
            failed = [p_ for p_ in to_sign["person_id"] if p_ not in done]
            write_output(pd.DataFrame({"person_id": pd.Series(sorted(carried) + failed, dtype=object),
                                       "state": pd.Series(["carried"] * len(carried) + ["failed"] * len(failed),
                                                          dtype=object)}), st / inc.STATE_FILE, "table")
        rows = [(k, u, e, s_, w) for k, u, e, s_, w in new_events]
        rows += [(k, u, "revoked", "", "superseded") for k, u in superseded]
        st.settings["revoked"] = len(superseded)  # its own revoked events (the next run finishes them if we die)
        if rows or ledger_name == LEDGER_FILE:  # a delta run with no event writes no empty part
            append_ledger(st.path, rows, signer=signer_name, signed_at=signed_at, name=ledger_name)
        stats.counts = {**d.counts, "revoked": len(superseded)}
    lap("sign_and_commit")
    # committed: now the revocations, and the external ledger copy
    if superseded:
        revoke(keys_dir, [u for _, u in superseded])
    if ledger_dir is not None and Path(ledger_dir).resolve() != out.resolve():
        append_ledger(ledger_dir, rows, signer=signer_name, signed_at=signed_at)
    lap("revoke")
    stats.refused = plan.refused if only is None else plan.refused[plan.refused["person_id"].isin(set(only))]
    stats.timings, stats.cpu_timings, stats.rerun = timings, cpu, rerun
    log.info("vax sign timings (s, wall / CPU): %s", ", ".join(f"{k} {v} / {cpu.get(k)}" for k, v in timings.items()))
    return stats


def _plan_incremental(prev, tables: dict, held: pd.DataFrame, at: dt.datetime, *, issuer: str, hold: bool,
                      keys_dir, rerun: dict) -> tuple["SigningPlan | None", "inc.Dirty | None"]:
    """The plan of a rerun from the previous run's plan and the units whose inputs changed.

    Returns ``(None, None)`` when the previous run cannot be compared (see
    :mod:`vaxlib.sign.incremental`); then the caller plans everyone.

    Raises
    ------
    ManifestError
        A previous file this relies on changed after its run (never reused).
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from vaxlib.runs import code_version
    from vaxlib.sign.ledger import revocation_path
    from vaxlib.sign.previous import check_file
    from vaxlib.sign.verify import load_revocations

    if prev is None or prev.content is None:
        return None, None
    m = prev.manifest
    sett = m.get("settings") or {}
    pl = sett.get("plan") or {}
    if pl.get("scheme") != inc.PLAN_SCHEME or pl.get("hold") != hold or sett.get("issuer") != issuer:
        return None, None
    try:
        prev_at = dt.datetime.fromisoformat(pl["at"])
    except (KeyError, TypeError, ValueError):
        return None, None
    if at < prev_at or m.get("code") != code_version():  # the clock went back, or the rules may differ
        return None, None
    cache = {k: cache_name(k) for k in (*inc.PLAN_INPUTS, inc.HELD_FILE)}
    need = [*cache.values(), REFUSED_FILE, inc.STATE_FILE]
    if any(n not in m.get("files", {}) for n in need):
        return None, None
    for n in need:  # everything reused must be what the previous run wrote
        check_file(prev.folder, n, m)
    old = {k: read_cache_parts(prev.folder, m, k) for k in inc.PLAN_INPUTS}  # later parts checked there
    if any(t is None or t.column_names != inc.PLAN_INPUTS[k] for k, t in old.items()):
        return None, None
    held_old = read_cache(prev.folder / cache[inc.HELD_FILE], REFUSAL_COLUMNS)
    if held_old is None:
        return None, None
    held_old = held_old.to_pandas()
    prev_refused = pq.read_table(prev.folder / REFUSED_FILE).to_pandas()
    state = pq.read_table(prev.folder / inc.STATE_FILE).to_pandas()
    marked = set(state.loc[state["state"] == "failed", "person_id"])
    # previous certificates no longer good as they are: re-planned, decide() re-issues them
    cert, content = prev.certificates, prev.content
    at_iso = at.astimezone(dt.timezone.utc).isoformat()
    bad = pc.fill_null(pc.less_equal(cert["expires_at"], at_iso), True)
    kids = {base64.b64encode(bytes.fromhex(k)).decode() for k in revoked_signers(keys_dir)}
    if kids:
        bad = pc.or_(bad, pc.fill_null(pc.is_in(cert["kid"], value_set=inc._strings(kids)), False))
    revoked = load_revocations(revocation_path(keys_dir))
    if revoked:
        hit = pc.fill_null(pc.is_in(prev.content_column("uvci_sha256"), value_set=inc._strings(revoked)), False)
        bad = pc.or_(bad, pc.fill_null(pc.is_in(cert["uvci"], value_set=content["uvci"].filter(hit)), False))
    if not prev.aligned:  # certificates without a content row: content unknown
        bad = pc.or_(bad, pc.invert(pc.fill_null(pc.is_in(cert["uvci"], value_set=content["uvci"]), False)))
    marked |= {v for v in cert["person_id"].filter(bad).to_pylist() if v is not None}
    marked |= inc.time_marked(tables["registry"], prev_refused, prev_at, at)
    plan, dirty = replan(old, held_old, prev_refused, pl.get("skipped") or {}, prev_at, tables, held, at, marked)
    rerun["changed_rows_share"] = round(dirty.share, 4)
    if plan is None:
        return None, None
    rerun["replanned_persons"] = len(dirty.persons)
    dirty.prev_carried = set(state.loc[state["state"] == "carried", "person_id"])
    return plan, dirty


def replan(old: dict, held_old: pd.DataFrame, prev_refused: pd.DataFrame, prev_skipped: dict,
           prev_at: dt.datetime, new: dict, held: pd.DataFrame, at: dt.datetime,
           marked: set) -> tuple["SigningPlan | None", "inc.Dirty"]:
    """The plan of the new inputs, made from the previous plan and the dirty units only.

    ``old``/``new``: Arrow text tables per :data:`~vaxlib.sign.incremental.PLAN_INPUTS`
    kind; ``held_old``/``held``: their held rows; ``prev_refused``, ``prev_skipped``:
    the previous plan's held/refused rows and skip counts (at ``prev_at``);
    ``marked``: persons to plan again whatever their inputs.  The returned plan's
    ``persons`` are the dirty units' signable persons only (everyone else signable
    is unchanged, and keeps their certificate); ``refused`` and the skip counts are
    the whole set's, equal to :func:`plan_signing` of the new inputs.  None (with
    the measured share) when too much changed to be worth it.
    """
    dirty = inc.dirty_units(old, new, held_old, held, marked)
    if dirty.share > inc.MAX_DIRTY_SHARE:
        return None, dirty
    new_part, old_part = inc.restrict(old, new, dirty)
    now = plan_signing(*new_part, at=at, held=inc.restrict_held(held, dirty))
    then = plan_signing(*old_part, at=prev_at, held=inc.restrict_held(held_old, dirty))
    refused = pd.concat([prev_refused[~prev_refused["person_id"].isin(dirty.persons)], now.refused],
                        ignore_index=True)
    refused = refused.iloc[np.argsort(refused["person_id"].to_numpy(dtype=object).astype(str), kind="stable")]
    stats = SignStats(skipped=inc.combine_skipped(prev_skipped, then.stats.skipped, now.stats.skipped))
    return SigningPlan(now.persons, refused.reset_index(drop=True)[REFUSAL_COLUMNS], stats), dirty


def _carried(prev, keep: np.ndarray, persons: pd.DataFrame, dirty) -> set:
    """Persons whose previous certificate is carried (kept) although they are not signable now."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if prev is None or not len(keep):
        return set()
    mask = np.zeros(prev.certificates.num_rows, bool)
    mask[keep] = True
    kept = prev.certificates["person_id"].filter(pa.array(mask))
    signable = inc._strings(persons["person_id"].astype(str))
    out = pc.invert(pc.fill_null(pc.is_in(kept, value_set=signable), False))
    if dirty is not None:  # the others kept their outcome: carried before, carried now
        out = pc.and_(out, pc.fill_null(pc.is_in(kept, value_set=inc._strings(dirty.persons)), False))
        return set(kept.filter(out).to_pylist()) | (dirty.prev_carried - dirty.persons)
    return set(kept.filter(out).to_pylist())


def _write_input_cache(st, prev, tables: dict | None, held: pd.DataFrame, caches: dict, dirty=None) -> None:
    """``input-cache/``: the parsed inputs (for the next run's parse and plan) and the held rows.

    An input whose rows are the previous run's cached rows with rows appended
    after them (``dirty.changed``: no row of the previous table differs from
    the new row at its position; the usual change when new dose records come
    in) keeps the previous run's files, hard-linked (:meth:`vaxlib.runs.Staging.link`:
    not copied, not hashed again), plus one file of the appended rows; the
    reader joins them (:func:`read_cache_parts`).  At most :data:`MAX_CACHE_PARTS`
    files, else (or when a file cannot be linked) the whole table is written.
    """
    import pyarrow as pa

    out = {k: t for k, (_, t) in caches.items()}
    if tables is not None:
        out.update(tables)
        out[inc.HELD_FILE] = pa.table({c: pa.array(held[c].astype(object).to_numpy(), pa.string())
                                       for c in REFUSAL_COLUMNS})
    if not out:
        return
    (st / INPUT_CACHE).mkdir()
    for kind, table in out.items():
        if not _link_cache(st, prev, kind, table, dirty):
            write_cache(st, kind, table)


def _link_cache(st, prev, kind: str, table, dirty) -> bool:
    """Bring the previous run's cache files of ``kind`` into ``st`` by hard links, and write only the rows
    ``table`` appends to them; False (nothing left behind) when ``table`` is not those rows plus appended ones."""
    if dirty is None or prev is None or kind not in dirty.changed or kind not in inc.PLAN_INPUTS:
        return False
    rows_old, rows_new = dirty.changed[kind]
    if len(rows_old):  # a previous row differs from the new row at its position (or was dropped)
        return False
    m = prev.manifest
    parts = cache_parts(m, kind)
    n_old = table.num_rows - len(rows_new)  # rows_new: the appended rows, n_old .. end
    if not parts or n_old <= 0 or len(parts) + (len(rows_new) > 0) > MAX_CACHE_PARTS:
        return False
    from vaxlib.runs import fault_point

    fault_point(f"write:{kind}{CACHE_SUFFIX}")  # as when written (a kill here leaves the previous run intact)
    if _link_all(st, prev, [(name, name) for name in parts]) is None:
        return False
    if len(rows_new):
        write_cache(st, kind, table.slice(n_old), f"{INPUT_CACHE}/{kind}.{len(parts)}{CACHE_SUFFIX}")
    return True


def _delta_fits(prev, qr: str | None, n_new: int) -> bool:
    """Whether this run may store its content index as a delta on ``prev``'s (:mod:`vaxlib.sign.store`).

    Only on a previous run whose content index lists its certificates row for
    row (so the index parts stay aligned), with the same QR setting (the linked
    index names its images), and only while the superseded rows (at most this
    run's re-issues more) stay under :data:`~vaxlib.sign.store.COMPACT_SHARE`
    of the parts' rows and the parts under :data:`~vaxlib.sign.store.MAX_PARTS`.
    """
    from vaxlib.sign.store import COMPACT_SHARE, MAX_PARTS

    if prev is None or prev.content is None or not prev.aligned or not prev.layout.parts:
        return False
    if ((prev.manifest.get("settings") or {}).get("qr") or "") != (qr or ""):
        return False
    if len(prev.layout.parts) + 1 > MAX_PARTS:
        return False
    superseded = prev.n_physical - len(prev.physical) + n_new  # re-issues are among the n_new signed
    return superseded <= COMPACT_SHARE * (prev.n_physical + n_new)


def _link_parts(st, prev) -> list[str] | None:
    """Hard-link the previous run's content-index parts into the staging folder, renumbered from 0.

    Returns the new part names, or None when one cannot be linked (another
    file system): then nothing linked is left and the index is written compact.
    """
    from vaxlib.sign.store import CONTENT_PARTS_DIR, part_name

    return _link_all(st, prev, [(src, part_name(CONTENT_PARTS_DIR, k)) for k, src in enumerate(prev.layout.parts)])


def _link_all(st, prev, pairs: list[tuple[str, str]]) -> list[str] | None:
    """Hard-link each previous run's file ``src`` as ``dest`` in the staging folder ``st`` (checked against
    the previous manifest); the ``dest`` names, or None when one cannot be linked: then none is left."""
    files = prev.manifest.get("files", {})
    done = []
    for src, dest in pairs:
        if not st.link(prev.folder / src, dest, files.get(src)):
            for name in done:
                (st / name).unlink()
                st.linked.pop(name, None)
            return None
        done.append(dest)
    return done


def _write_superseded(st, prev, keep: np.ndarray) -> None:
    """``certificate-content/superseded.parquet``: every row of the linked index parts but the kept ones."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vaxlib.runs import fault_point
    from vaxlib.sign.store import SUPERSEDED

    current = np.ones(prev.n_physical, bool)
    current[prev.physical[keep]] = False
    rows = np.flatnonzero(current)
    uvci = np.empty(len(rows), dtype=object)
    # this run's: the previous current rows not kept; earlier ones: from the previous list
    gone = np.setdiff1d(np.arange(len(prev.physical)), keep, assume_unique=True)
    at = np.searchsorted(rows, prev.physical[gone])
    uvci[at] = np.asarray(prev.certificates["uvci"].take(pa.array(gone, pa.int64())).to_pylist(), dtype=object)
    if not prev.layout.compact:
        old = pq.read_table(prev.folder / prev.layout.superseded, columns=["row", "uvci"])
        uvci[np.searchsorted(rows, old["row"].to_numpy())] = np.asarray(old["uvci"].to_pylist(), dtype=object)
    fault_point("write:superseded.parquet")
    pq.write_table(pa.table({"row": pa.array(rows, pa.int64()), "uvci": pa.array(uvci, pa.string())}),
                   st / SUPERSEDED, compression="zstd")


def _kept_content(prev, kept, keep: np.ndarray, qr: str | None, st):
    """Content-index rows (Arrow) of the certificates kept from ``prev``; their QR images carried over.

    A kept image is the previous run's file, hard-linked into the staging
    folder with its recorded SHA-256 (:meth:`vaxlib.runs.Staging.link`: no
    copy, no re-hash); one that cannot be linked (another file system, or
    missing) is made again.  File names come from the previous content index.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from vaxlib.sign.previous import content_schema, positions
    from vaxlib.sign.qr import make_qr

    c = prev.full_content() if prev.content is not None else content_schema().empty_table()
    if prev.aligned:  # row i of the index is certificate i: the kept rows, no lookup
        rows = _rows_at(c, keep)
    else:
        rows = c.filter(pc.fill_null(pc.is_in(c["uvci"], value_set=kept["uvci"]), False))  # content order
    if not qr:
        return rows.set_column(rows.column_names.index("qr_file"), "qr_file",
                               pa.array(np.full(rows.num_rows, "", object), pa.string()))
    pids, uvcis = kept["person_id"].to_pylist(), kept["uvci"].to_pylist()
    at_c = positions(pc.index_in(kept["uvci"], value_set=c["uvci"]))
    recorded = c["qr_file"].to_pylist()
    suffix = "." + qr
    # a recorded name is used only as a plain file name of this kind (the index is digest-checked)
    names = [recorded[i] if (i >= 0 and isinstance(recorded[i], str) and recorded[i].endswith(suffix)
                             and "/" not in recorded[i] and not recorded[i].startswith("."))
             else qr_filename(p_, u, qr) for i, p_, u in zip(at_c, pids, uvcis)]
    (st / "qr").mkdir(parents=True, exist_ok=True)
    files = prev.manifest.get("files", {})
    src_dir = prev.folder / "qr"
    hc1s = kept.column("hc1") if "hc1" in kept.column_names else None
    for i, name in enumerate(names):
        rel = "qr/" + name
        if not st.link(src_dir / name, rel, files.get(rel)):
            if hc1s is None:  # read only when an image has to be made again
                hc1s = prev.hc1_rows(keep)
            make_qr(hc1s[i].as_py(), st / rel, qr)
    at_k = positions(pc.index_in(rows["uvci"], value_set=kept["uvci"]))
    return rows.set_column(rows.column_names.index("qr_file"), "qr_file",
                           pa.array(np.asarray(names, dtype=object)[at_k], pa.string()))


__all__ += ["PERSON_COLUMNS"]
