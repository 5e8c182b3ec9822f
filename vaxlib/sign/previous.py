"""Re-signing against a previous run: who keeps their certificate, who gets a new one, and why.

A rerun must never issue a second UVCI for a person whose certificate would
say the same thing: two valid certificates for one person, one of them
soon outdated, is what a re-issue process must avoid, and re-signing a
million unchanged people costs a million signatures.  So every run stores,
beside the certificates, a *content index* (``certificate-content.parquet``:
``person_id, uvci, uvci_sha256, qr_file, name_hash, dob_hash, dose_hash``) -- 64-bit
hashes of exactly what the certificate says: the registered name, the dob,
and the latest dose (number, date, product code, issuer).  The next run
hashes its plan the same way (vectorised, about 0.1 s per million people)
and compares:

* no previous certificate                           -> ``issued``
* a hash differs (``new_dose``, ``name``, ``dob``)  -> ``reissued``; the old UVCI is revoked
* the previous certificate has expired, or its UVCI
  or its DSC has been revoked since                 -> ``reissued`` for that reason
* otherwise                                         -> kept (same UVCI, same HC1, same QR image)

People with a previous certificate who are not signable now (held by a
pending record, refused, no longer all verified) keep their previous
certificate: it still says what was true when it was signed, and revoking it
would leave them with nothing while their record is being fixed.

The hashes are pandas' SipHash-2-4 of the values (:func:`pandas.util.hash_array`
with a fixed key); a run whose index says another ``HASH_SCHEME`` is treated as
"content unknown" and everybody is re-issued once (safe, never silent).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["CONTENT_FILE", "HASH_SCHEME", "CONTENT_COLUMNS", "CONTENT_READ", "content_hashes", "PreviousRun",
           "Decision", "decide", "check_file", "content_schema", "positions"]

log = logging.getLogger(__name__)

CONTENT_FILE = "certificate-content.parquet"
HASH_SCHEME = "pandas-siphash24-v1"
CONTENT_COLUMNS = ["person_id", "uvci", "uvci_sha256", "qr_file", "name_hash", "dob_hash", "dose_hash"]
#: the content-index columns every rerun reads; ``person_id`` (the certificates' own, row for row) and
#: ``uvci_sha256`` (needed only against a non-empty revocation list, or to write the index whole) are
#: read when asked for (:meth:`PreviousRun.content_column`): 64 hex digits per certificate cost more
#: to read than the three hashes together
CONTENT_READ = ["uvci", "qr_file", "name_hash", "dob_hash", "dose_hash"]
_HASH_KEY = "vaxlib-sign-0001"  # 16 characters, as hash_array wants


def _hash(values) -> np.ndarray:
    return pd.util.hash_array(np.asarray(values, dtype=object), hash_key=_HASH_KEY, categorize=True)


def content_hashes(persons: pd.DataFrame, issuer: str) -> dict[str, np.ndarray]:
    """``name_hash``, ``dob_hash``, ``dose_hash`` (uint64) of person rows (:data:`PERSON_COLUMNS`).

    The dose hash covers dose number, date (first 10 characters), the product
    code the typed vaccine maps to (so ``Pfizer``/``pfizer`` is one product) and
    the issuer text.
    """
    from vaxlib.sign.payload import _product_code

    vac = persons["vaccine"].to_numpy(dtype=object, na_value=None)
    codes, uniq = pd.factorize(vac)
    product = np.asarray([_product_code(str(v)) or "" for v in uniq] + [""], dtype=object)[codes]
    dn = persons["dose_number"].to_numpy()
    dates = persons["vaccination_date"].astype(str).str.slice(0, 10).to_numpy(dtype=object)
    combined = _hash(dn.astype(str)) * np.uint64(31) ^ _hash(dates)
    combined = combined * np.uint64(31) ^ _hash(product)
    combined = combined * np.uint64(31) ^ _hash([issuer])[0]
    return {"name_hash": _hash(persons["full_name"].to_numpy(dtype=object, na_value="")),
            "dob_hash": _hash(persons["dob"].to_numpy(dtype=object, na_value="")),
            "dose_hash": combined}


@dataclass
class PreviousRun:
    """A previous ``vax sign`` run: its certificates (Arrow table, without HC1) and content index.

    The HC1 column is left out: a rerun looks certificates up by person and
    UVCI; :meth:`hc1_rows` reads HC1 (as Arrow, never as Python strings) for the
    kept certificates it writes again.
    """

    folder: Path
    certificates: "object"  # pyarrow.Table with CERT_COLUMNS but hc1 (kid, issued_at, expires_at dictionary-encoded)
    #: pyarrow.Table of :data:`CONTENT_READ` (the current rows), or None (older run, or another hash scheme)
    content: "object | None"
    manifest: dict = field(default_factory=dict)  #: the run's manifest (files' sizes, digests, mtimes)
    #: the content index lists the certificates row for row (same UVCI at the same row)
    aligned: bool = False
    layout: "object | None" = None  #: :class:`vaxlib.sign.store.Layout` of the content index
    #: position in the index parts (read one after the other) of each certificate's content row
    physical: "np.ndarray | None" = None
    n_physical: int = 0  #: rows of the index parts, superseded ones included

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "PreviousRun":
        """Read ``folder``, checked against its manifest.

        Every file is checked by size (QR images too, a million of them at
        national scale); the files read here, whose content decides what the
        new run keeps, also by SHA-256, so a changed certificates table or
        content index is refused rather than carried on.

        Raises
        ------
        ManifestError, OutputTableError
            Not a complete ``vax sign`` run, or a file read here changed since.
        """
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        from vaxlib.errors import ManifestError
        from vaxlib.io import OutputTableError
        from vaxlib.runs import CERTIFICATES, check_run
        from vaxlib.schema import OUTPUT_TABLES
        from vaxlib.sign.store import current_rows, layout_of, rows_at

        folder = Path(folder)
        manifest = check_run(folder, command="sign", full=False)
        layout = layout_of(manifest)
        for name in (CERTIFICATES, *layout.parts):
            check_file(folder, name, manifest)
        names = _parquet_names(folder / CERTIFICATES)
        missing = [c for c in OUTPUT_TABLES["certificates"] if c not in names]
        if missing:
            raise OutputTableError(f"không phải bảng certificates: thiếu cột {missing[0]}",
                                   f"not a certificates table: no column {missing[0]}", folder / CERTIFICATES,
                                   column=missing[0])
        # one thread: as fast on a busy 2-core machine, and 20 % less CPU; kid, issued_at and expires_at
        # (the same few values for a whole batch) kept dictionary-encoded: the comparisons and lookups
        # on them take dictionaries, and a million copies of each string are not made
        cols = [c for c in OUTPUT_TABLES["certificates"] if c != "hc1"]
        certs = pq.read_table(folder / CERTIFICATES, columns=cols, use_threads=False,
                              read_dictionary=["kid", "issued_at", "expires_at"])
        physical, n_physical = current_rows(folder, layout, manifest)
        content = None
        scheme = (manifest.get("settings") or {}).get("content_hash")
        if layout.parts and scheme == HASH_SCHEME:
            content = _content_table([folder / n for n in layout.parts], CONTENT_READ)
            if not layout.compact:
                content = rows_at(content, physical)
        elif len(certs):
            log.warning("%s: no content index of scheme %s: every person is re-issued once", folder, HASH_SCHEME)
        aligned = (content is not None and content.num_rows == certs.num_rows
                   and pc.all(pc.fill_null(pc.equal(content["uvci"], certs["uvci"]), False)).as_py() is not False)
        if not layout.compact and not aligned:  # a delta index is written row for row with its certificates
            raise ManifestError(f"{folder}: content index parts do not list the certificates row for row")
        return cls(folder, certs, content, manifest, aligned, layout, physical, n_physical)

    def content_column(self, name: str):
        """One column of the content index (current rows, as :attr:`content`), read when first asked for."""
        from vaxlib.sign.store import rows_at

        if name in self.content.column_names:
            return self.content[name]
        col = _content_table([self.folder / n for n in self.layout.parts], [name])
        if not self.layout.compact:
            col = rows_at(col, self.physical)
        self.content = self.content.append_column(content_schema().field(name), col[name])
        return self.content[name]

    def full_content(self):
        """The content index with every column of :data:`CONTENT_COLUMNS` (e.g. to write it whole again)."""
        for name in CONTENT_COLUMNS:
            self.content_column(name)
        return self.content.select(CONTENT_COLUMNS)

    def iter_rows(self, rows: np.ndarray):
        """The certificates (every column, HC1 included) at the sorted, unique positions ``rows``, as Arrow
        tables, one per row group of the previous table.

        Row group by row group, memory-mapped: the kept HC1 column of a million
        certificates is 550 MB; read whole, the fresh memory's page faults cost
        more CPU (system time) than decompressing it, while a row group's
        buffers are reused for the next.
        """
        import pyarrow.parquet as pq

        from vaxlib.runs import CERTIFICATES
        from vaxlib.schema import OUTPUT_TABLES
        from vaxlib.sign.store import rows_at

        pf = pq.ParquetFile(self.folder / CERTIFICATES, memory_map=True)
        start = 0
        for i in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(i).num_rows
            a, b = np.searchsorted(rows, [start, start + n])
            if b > a:
                group = pf.read_row_group(i, columns=list(OUTPUT_TABLES["certificates"]), use_threads=False)
                yield rows_at(group, rows[a:b] - start)
            start += n

    def hc1_rows(self, rows: np.ndarray):
        """HC1 of the current certificates at the sorted, unique positions ``rows`` (Arrow array)."""
        import pyarrow.parquet as pq

        from vaxlib.runs import CERTIFICATES
        from vaxlib.sign.store import rows_at

        hc1 = pq.read_table(self.folder / CERTIFICATES, columns=["hc1"], use_threads=False)
        return rows_at(hc1, rows).column("hc1")


def _content_table(paths: list[Path], columns: list[str] = CONTENT_COLUMNS):
    """``columns`` of the content index (its parts one after the other) as an Arrow table; a file lacking
    a column of :data:`CONTENT_COLUMNS` is refused."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vaxlib.io import OutputTableError

    whole = content_schema()
    schema = pa.schema([whole.field(c) for c in columns])
    tables = []
    for path in paths:
        names = _parquet_names(path)
        missing = [c for c in CONTENT_COLUMNS if c not in names]
        if missing:
            raise OutputTableError(f"thiếu cột {missing[0]}", f"no column {missing[0]}", path, column=missing[0])
        t = pq.read_table(path, columns=columns, use_threads=False)
        tables.append(t if t.schema.equals(schema) else t.select(columns).cast(schema))
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _parquet_names(path: Path) -> list[str]:
    """Column names of a Parquet file; a file that is not one is an :class:`~vaxlib.io.OutputTableError`."""
    import pyarrow.parquet as pq

    from vaxlib.io import OutputTableError

    try:
        return pq.ParquetFile(path).schema_arrow.names
    except Exception:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise OutputTableError("không phải tệp Parquet đọc được", "not a readable Parquet file", path) from None


def content_schema():
    """Arrow schema of the content index."""
    import pyarrow as pa

    return pa.schema([(c, pa.uint64() if c.endswith("_hash") else pa.string()) for c in CONTENT_COLUMNS])


def check_file(folder: Path, name: str, manifest: dict) -> None:
    """Refuse ``folder/name`` when its SHA-256 is not the one in ``manifest`` (a file it does not list passes).

    A large file the kernel shows untouched since its run (same inode, size,
    mtime and change time: :func:`vaxlib.runs.unchanged_since`) is not read again.

    Raises
    ------
    ManifestError
        The file changed after the run.
    """
    from vaxlib.errors import ManifestError
    from vaxlib.runs import MANIFEST, file_digest, unchanged_since

    entry = manifest.get("files", {}).get(name)
    if entry is None or unchanged_since(folder / name, entry):
        return
    if file_digest(folder / name) != entry.get("sha256"):
        raise ManifestError(f"{folder / name}: content differs from {MANIFEST} (changed after the run)")


@dataclass
class Decision:
    """What a run does per person (positions into the plan's persons and the previous certificates)."""

    sign: np.ndarray  #: positions in ``persons`` to sign now
    event: np.ndarray  #: per signed person: "issued" or "reissued"
    supersedes: np.ndarray  #: per signed person: previous UVCI or ""
    reason: np.ndarray  #: per signed person: why re-issued ("" for issued)
    keep: np.ndarray  #: positions in the previous certificates carried into the new run unchanged
    revoke_kid: np.ndarray  #: kid of each superseded certificate
    counts: dict


def decide(persons: pd.DataFrame, hashes: dict[str, np.ndarray], previous: PreviousRun | None, *,
           at: dt.datetime, revoked_uvci_hashes: set[str], revoked_kids_b64: set[str]) -> Decision:
    """Compare the plan with the previous run (see the module docstring).

    Lookups go into the previous certificates and content index as Arrow
    columns: only the rows of ``persons`` are taken out of them (a rerun plans
    a few thousand people against a million certificates).
    """
    n = len(persons)
    if previous is None or previous.certificates.num_rows == 0:
        return Decision(np.arange(n), np.full(n, "issued", object), np.full(n, "", object),
                        np.full(n, "", object), np.zeros(0, np.int64), np.zeros(0, object),
                        {"issued": n, "reissued": 0, "kept": 0, "carried": 0})
    import pyarrow as pa
    import pyarrow.compute as pc

    from vaxlib.sign.verify import uvci_hash

    cert = previous.certificates
    n_prev = cert.num_rows
    pos = positions(pc.index_in(pa.array(persons["person_id"].to_numpy(dtype=object), pa.string()),
                             value_set=cert["person_id"]))
    has = pos >= 0
    idx = np.flatnonzero(has)
    rows = pa.array(pos[has])
    p_uvci = cert["uvci"].take(rows)  # the previous certificate of each person who has one
    reason = np.full(n, "", object)
    at_c = np.full(len(idx), -1, np.int64)
    if previous.content is not None:
        c = previous.content
        at_c = pos[has] if previous.aligned else positions(pc.index_in(p_uvci, value_set=c["uvci"]))
        known = at_c >= 0
        for col, why in (("dob_hash", "dob"), ("name_hash", "name"), ("dose_hash", "new_dose")):
            old = c[col].to_numpy()[at_c.clip(0)] if c.num_rows else np.zeros(len(at_c), np.uint64)
            differs = known & (old != hashes[col][idx])
            reason[idx[differs]] = why  # the last of dob, name, dose wins: dose is what users ask about
        reason[idx[~known]] = "content_unknown"
    else:
        reason[has] = "content_unknown"
    # the previous certificate itself is no longer good
    at_iso = at.astimezone(dt.timezone.utc).isoformat()
    expired = pc.fill_null(pc.less_equal(cert["expires_at"].take(rows), at_iso), False).to_numpy(zero_copy_only=False)
    revoked = np.zeros(len(idx), bool)
    if revoked_uvci_hashes:
        if previous.content is not None:  # digests stored when signed: a lookup, not a SHA-256 per certificate
            sha = previous.content_column("uvci_sha256").take(pa.array(at_c.clip(0))) if previous.content.num_rows \
                else pa.array([None] * len(idx), pa.string())
            revoked = (at_c >= 0) & pc.fill_null(pc.is_in(sha, value_set=pa.array(sorted(revoked_uvci_hashes),
                                                                                   pa.string())),
                                                 False).to_numpy(zero_copy_only=False)
        else:
            revoked = np.asarray([uvci_hash(u) in revoked_uvci_hashes for u in p_uvci.to_pylist()], bool)
    signer = (pc.fill_null(pc.is_in(cert["kid"].take(rows), value_set=pa.array(sorted(revoked_kids_b64), pa.string())),
                           False).to_numpy(zero_copy_only=False)
              if revoked_kids_b64 else np.zeros(len(idx), bool))
    for bad, why in ((expired, "expired"), (signer, "signer_revoked"), (revoked, "revoked")):
        hit = bad & (reason[idx] == "")
        reason[idx[hit]] = why
    resign = ~has | (reason != "")
    sign = np.flatnonzero(resign)
    event = np.where(has[sign], "reissued", "issued").astype(object)
    prev_uvci = np.full(n, "", object)
    prev_uvci[idx] = np.asarray(p_uvci.to_pylist(), dtype=object) if len(idx) else prev_uvci[idx]
    supersedes = prev_uvci[sign]
    # previous certificates kept: everyone not re-signed now (unchanged, or not signable now)
    superseded = pos[sign][has[sign]]
    replaced = np.zeros(n_prev, bool)
    replaced[superseded] = True
    keep = np.flatnonzero(~replaced)
    revoke_kid = np.asarray(cert["kid"].take(pa.array(superseded, pa.int64())).to_pylist(), dtype=object)
    n_reissued = int((event == "reissued").sum())
    counts = {"issued": int((event == "issued").sum()), "reissued": n_reissued,
              "kept": int(has.sum() - n_reissued), "carried": int(len(keep) - (has.sum() - n_reissued))}
    return Decision(sign, event, supersedes, reason[sign], keep, revoke_kid, counts)


def positions(found) -> np.ndarray:
    """An Arrow ``index_in`` result as int64 positions, -1 where not found."""
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
