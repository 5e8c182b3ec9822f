"""The decision ledger: an append-only, hash-chained log of review decisions.

Every decision an analyst takes on a record — accept the suggested fix,
reject it, edit the values, defer, accept a whole cluster — is appended as an
*event*; history is never rewritten (undo is a new event pointing at the one
it cancels).  Each event carries ``prev_hash`` (the hash of the event before
it) and ``hash`` = SHA-256 of the canonical JSON of the event including
``prev_hash``, so editing, deleting or reordering stored events breaks the
chain and :meth:`Ledger.verify` names the first broken event.

Storage goes through a backend chosen by a database URL in SQLAlchemy's form:

* ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
  ``sqlite://`` (in memory) — implemented here with the standard library;
* ``postgresql://…`` — the seam is :class:`LedgerBackend`; register an
  implementation with :func:`register_backend`.

Concurrency and durability (SQLite): the database runs in WAL mode so readers
never block the writer; every append reads the chain head and inserts inside
one ``BEGIN IMMEDIATE`` transaction (the write lock is taken before the head is
read), so concurrent analysts' appends are serialised — none lost, none
duplicated, the chain stays linear.  ``synchronous=FULL`` makes SQLite fsync
the WAL at every commit, so an append that returned survives a process crash
*and* a power loss (with ``NORMAL`` in WAL mode a commit survives a process
crash but may be rolled back by a power loss — not good enough for decisions
that heads of facilities answer for).  See https://sqlite.org/wal.html and
https://sqlite.org/pragma.html#pragma_synchronous.

Idempotency: an append may carry an ``idempotency_key``; a retried append
with the same key returns the stored event(s) instead of appending again.

A ledger must exist before anything reads or appends to it: opening a
missing ledger is an error unless the caller asks to create it
(``Ledger.open(url, create=True)``, ``vax ledger init``).  A typo in a URL
must never start a new, empty ledger that ``vax apply`` would then apply
"0 decisions" from.

Threat model
------------
What the ledger defends against, and how:

* *An analyst or a script editing or deleting stored events by accident*:
  triggers refuse UPDATE and DELETE (and on PostgreSQL the application roles
  have INSERT and SELECT only).
* *Someone with write access to the database changing, deleting or
  reordering some events* (e.g. editing ``ledger.db`` with the ``sqlite3``
  shell after dropping the triggers): the hash chain breaks and
  :meth:`Ledger.verify` names the first broken event.
* *A full rewrite*: the same person recomputes every hash after the change,
  or drops the newest events together with the stored head.  The chain is
  then self-consistent, so it is anchored outside the database: every
  append, ``vax apply`` and ``vax ledger verify`` records the head it saw in
  the user's own state folder (:mod:`vaxlib.review.anchors`), and
  ``verify`` checks each witnessed head by default (one matching head fixes
  every event before it).  ``vax apply`` also writes the head it applied
  (with the ledger's location and uid) into its run folder, and ``vax ledger
  verify --runs DIR…`` checks every head those runs recorded — the anchor
  that travels with the results, on any machine; ``--expect-head ID:HASH``
  checks one head given by hand.
* Not covered: someone who controls both the database *and* every
  witnessing user's state folder (the same Unix account, or root) can
  rewrite both; a ledger copied to another machine is checked only against
  heads witnessed there.  Against that, export heads to a place the
  database's owner cannot write (a signed report, the run manifests kept
  by the ministry).
"""
from __future__ import annotations

import abc
import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pandas as pd

from vaxlib.errors import VaxError
from vaxlib.exports import write_csv
from vaxlib.review.anchors import Anchor, read_anchors, record_anchor
from vaxlib.vn.dates import parse_typed_dob
from vaxlib.vn.ids import parse_id
from vaxlib.vn.names import canonical_name
from vaxlib.vn.sex import parse_sex

__all__ = [
    "ACTIONS",
    "DECISION_ACTIONS",
    "EDITABLE_FIELDS",
    "GENESIS_HASH",
    "DEFAULT_URL",
    "LedgerError",
    "LedgerBackendError",
    "InvalidEditError",
    "UnknownEventError",
    "IdempotencyConflictError",
    "MissingReasonError",
    "REASON_CODES",
    "pending_bulks",
    "heads_recorded_in_runs",
    "record_provinces",
    "answering_province",
    "scope_tables",
    "LedgerEvent",
    "VerifyResult",
    "LedgerBackend",
    "SQLiteBackend",
    "register_backend",
    "open_backend",
    "event_hash",
    "validate_edit",
    "Ledger",
    "decisions_from_events",
]

log = logging.getLogger(__name__)

#: every action an event can carry
ACTIONS: tuple[str, ...] = ("accept", "reject", "edit", "defer", "bulk_accept", "undo", "reveal", "confirm_bulk")
#: actions that set a record's decision (``undo`` cancels one)
DECISION_ACTIONS: tuple[str, ...] = ("accept", "reject", "edit", "defer", "bulk_accept")
#: the short list of reasons a rejection or an edit must name (``other`` needs free text);
#: wording in :data:`vaxlib.i18n.REASON_LABELS`
REASON_CODES: dict[str, tuple[str, ...]] = {
    "reject": ("wrong_person", "typed_value_correct", "insufficient_evidence", "duplicate_record", "other"),
    "edit": ("document_checked", "citizen_confirmed", "facility_confirmed", "register_match", "other"),
}
#: a bulk acceptance of more records than this waits for a supervisor (parameters/review.yaml)
DEFAULT_BULK_CONFIRM_ABOVE = 20
#: fields an ``edit`` may set (the contract's correctable fields)
EDITABLE_FIELDS: tuple[str, ...] = ("full_name", "dob", "sex", "id_number")
#: prev_hash of the first event
GENESIS_HASH = "0" * 64
DEFAULT_URL = "sqlite:///ledger.db"

#: the event fields covered by the hash, in the order they are stored
HASHED_FIELDS: tuple[str, ...] = (
    "id", "record_id", "action", "values", "analyst", "time", "reason",
    "bulk_id", "undoes", "idempotency_key", "prev_hash",
)
#: fields added later: covered by the hash when set, left out when None (so older
#: events keep their hashes); ``province`` scopes an event, ``reason_code`` is the
#: reason from the short list (:data:`REASON_CODES`)
OPTIONAL_HASHED_FIELDS: tuple[str, ...] = ("province", "reason_code")
#: every stored column, in storage order
STORED_FIELDS: tuple[str, ...] = (*HASHED_FIELDS, *OPTIONAL_HASHED_FIELDS, "hash")


class LedgerError(VaxError):
    """Base class of the ledger's errors (a :class:`~vaxlib.errors.VaxError`: one line, exit 2 in ``vax``)."""


class LedgerBackendError(LedgerError):
    """The URL names no usable backend, or the store cannot be opened."""


class InvalidEditError(LedgerError, ValueError):
    """An analyst-typed value does not validate.  Names the field, never the value."""

    def __init__(self, field: str, reason: str, record_id: str | None = None):
        self.field = field
        self.reason = reason
        self.record_id = record_id
        where = f" (record {record_id})" if record_id else ""
        super().__init__(f"edit of field {field!r}{where}: {reason}")


class MissingReasonError(LedgerError, ValueError):
    """A rejection or an edit without a reason from :data:`REASON_CODES` (or ``other`` without text)."""


class UnknownEventError(LedgerError, KeyError):
    """An undo points at an event id that does not exist."""


class IdempotencyConflictError(LedgerError):
    """An idempotency key was reused for a different append."""


@dataclass(frozen=True)
class LedgerEvent:
    """One stored event.

    ``id`` is the event's position in the chain (1, 2, …) and is the
    *decision id* quoted by ``vax apply``'s change log.
    """

    id: int
    record_id: str
    action: str
    values: dict[str, Any]
    analyst: str
    time: str  #: UTC, ISO 8601 with microseconds and ``Z``
    reason: str | None
    bulk_id: str | None
    undoes: int | None
    idempotency_key: str | None
    prev_hash: str
    hash: str
    province: str | None = None
    reason_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :meth:`Ledger.verify`.

    ``ok`` is False when tampering was found; ``first_bad_id`` is the id of the
    first event whose stored contents or link do not check (for a deleted
    event, the event after the gap), and ``problem`` says what is wrong.
    """

    ok: bool
    events_checked: int
    head_id: int | None
    head_hash: str
    first_bad_id: int | None = None
    problem: str | None = None
    anchors_checked: int = 0  #: heads witnessed outside the database that were checked
    #: what is wrong, as a key of :mod:`vaxlib.i18n` (``ledger.problem_<code>``) and its values;
    #: ``problem`` is the same in English, for logs and tests
    problem_code: str | None = None
    problem_args: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.ok

    def describe(self, lang: str = "vi") -> str:
        """One line for ``vax ledger verify`` and the notebook: OK with the head, or where and how it was tampered."""
        from vaxlib import i18n

        n = i18n.fmt_int(self.events_checked, lang)
        if self.ok:
            if not self.events_checked:
                return i18n.t("ledger.ok_empty", lang)
            return i18n.t("ledger.ok", lang, events=n, anchors=i18n.fmt_int(self.anchors_checked, lang),
                          head=f"{self.head_id}:{self.head_hash}")
        where = (i18n.t("ledger.at_event", lang, id=self.first_bad_id) if self.first_bad_id is not None
                 else i18n.t("ledger.at_ledger", lang))
        problem = (i18n.t(f"ledger.problem_{self.problem_code}", lang, **self.problem_args)
                   if self.problem_code else self.problem)
        return i18n.t("ledger.tampered", lang, where=where, problem=problem, events=n)


def _tampered(events: int, last_id: int | None, head_hash: str, at: int | None, code: str,
              anchors_checked: int = 0, **args: Any) -> VerifyResult:
    """A failed verification: the problem as an :mod:`vaxlib.i18n` code (and in English in ``problem``)."""
    from vaxlib import i18n

    return VerifyResult(False, events, last_id, head_hash, at, i18n.t(f"ledger.problem_{code}", "en", **args),
                        anchors_checked=anchors_checked, problem_code=code, problem_args=args)


# --------------------------------------------------------------------------- hashing

def _canonical_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 text, NFC strings."""
    def norm(x: Any) -> Any:
        if isinstance(x, str):
            return unicodedata.normalize("NFC", x)
        if isinstance(x, Mapping):
            return {norm(k): norm(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [norm(v) for v in x]
        return x

    return json.dumps(norm(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def event_hash(event: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the hashed fields of ``event``.

    ``event`` must contain every name in :data:`HASHED_FIELDS` (``prev_hash``
    included); ``hash`` itself is ignored.
    """
    payload = {k: event[k] for k in HASHED_FIELDS}
    payload.update({k: event[k] for k in OPTIONAL_HASHED_FIELDS if event.get(k) is not None})
    return hashlib.sha256(_canonical_json(payload).encode("utf-8")).hexdigest()


def _utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- validation

def _validate_dob(text: str) -> str:
    parsed = parse_typed_dob(text)
    if parsed.error or not parsed.readings:
        raise InvalidEditError("dob", "not a date (use dd/mm/yyyy or yyyy-mm-dd)")
    # analysts type dates the Vietnamese way (dd/mm/yyyy): an ambiguous text takes
    # the dd/mm reading, which parse_typed_dob lists first
    return parsed.readings[0]


def _validate_id(text: str) -> str:
    parsed = parse_id(text)
    if parsed.kind in ("cccd", "cmnd") and parsed.digits:
        return parsed.digits
    if parsed.kind == "passport":
        return (parsed.digits or text.strip()).upper()
    raise InvalidEditError("id_number", f"not a usable ID number ({parsed.kind})")


def _validate_name(text: str) -> str:
    name = canonical_name(text)
    if not name or not any(ch.isalpha() for ch in name) or any(ch.isdigit() for ch in name):
        raise InvalidEditError("full_name", "a name needs letters and no digits")
    return name


def validate_edit(values: Mapping[str, Any], record_id: str | None = None) -> dict[str, str]:
    """Validate and normalise analyst-typed values for an ``edit`` event.

    Parameters
    ----------
    values
        Field -> typed text, fields among :data:`EDITABLE_FIELDS`.
    record_id
        Only used in error messages.

    Returns
    -------
    dict
        Normalised values: ``full_name`` canonical (NFC, Vietnamese title case),
        ``dob`` ISO ``YYYY-MM-DD`` (or ``YYYY-MM``/``YYYY`` when typed partial),
        ``sex`` ``M``/``F``, ``id_number`` digits (passport numbers upper-case).

    Raises
    ------
    InvalidEditError
        Naming the field (never the value).
    """
    if not values:
        raise InvalidEditError("values", "an edit needs at least one field", record_id)
    out: dict[str, str] = {}
    for key, raw in values.items():
        if key not in EDITABLE_FIELDS:
            raise InvalidEditError(key, f"not editable; fields are {EDITABLE_FIELDS}", record_id)
        text = "" if raw is None else unicodedata.normalize("NFC", str(raw)).strip()
        if not text:
            raise InvalidEditError(key, "empty value", record_id)
        try:
            if key == "full_name":
                out[key] = _validate_name(text)
            elif key == "dob":
                out[key] = _validate_dob(text)
            elif key == "sex":
                sex = parse_sex(text)
                if sex not in ("M", "F"):
                    raise InvalidEditError("sex", "use Nam/Nữ or M/F")
                out[key] = sex
            else:
                out[key] = _validate_id(text)
        except InvalidEditError as exc:
            raise InvalidEditError(exc.field, exc.reason, record_id) from None
    return out


# --------------------------------------------------------------------------- backends

@dataclass
class _Draft:
    """An event before it gets its id, time and hashes."""

    record_id: str
    action: str
    values: dict[str, Any]
    analyst: str
    reason: str | None
    bulk_id: str | None = None
    undoes: int | None = None
    idempotency_key: str | None = None
    province: str | None = None
    reason_code: str | None = None


def _resolve_undos(drafts: Sequence["_Draft"], get: Callable[[int], dict | None]) -> None:
    """Point each undo draft at the event it cancels (record, province, action), or raise."""
    for d in drafts:
        if d.action == "undo":
            target = get(int(d.undoes)) if d.undoes is not None else None
            if target is None:
                raise UnknownEventError(f"no event {d.undoes} to undo")
            d.record_id = target["record_id"]
            d.province = target.get("province")
            d.values = {"undone_action": target["action"], **d.values}


def _draft_row(d: "_Draft", event_id: int, prev_hash: str, now: str) -> dict:
    """The stored fields of one draft (without its hash), linked after ``prev_hash``."""
    return {
        "id": event_id, "record_id": str(d.record_id), "action": d.action, "values": d.values,
        "analyst": str(d.analyst).strip(), "time": now, "reason": d.reason, "bulk_id": d.bulk_id,
        "undoes": d.undoes, "idempotency_key": d.idempotency_key, "prev_hash": prev_hash,
        "province": None if d.province is None else str(d.province), "reason_code": d.reason_code,
    }

class LedgerTransaction(abc.ABC):
    """Operations available while a backend holds the ledger's write lock."""

    @abc.abstractmethod
    def head(self) -> tuple[int, str]:
        """``(id, hash)`` of the newest event, ``(0, GENESIS_HASH)`` when empty."""

    @abc.abstractmethod
    def find_keys(self, keys: Sequence[str]) -> list[dict[str, Any]]:
        """Stored rows whose ``idempotency_key`` is in ``keys``, ordered by id."""

    @abc.abstractmethod
    def get(self, event_id: int) -> dict[str, Any] | None:
        """The stored row with this id, or None."""

    @abc.abstractmethod
    def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert finished rows (``values`` as canonical JSON text) and move the head."""


class LedgerBackend(abc.ABC):
    """Storage seam of the ledger.

    A backend stores rows with the columns of :class:`LedgerEvent`
    (``values`` as JSON text) and provides an *exclusive* write transaction:
    between :meth:`write` entering and leaving, no other process may append.
    SQLite does that with ``BEGIN IMMEDIATE``; a PostgreSQL backend would
    ``BEGIN; SELECT … FROM ledger_meta … FOR UPDATE`` (or
    ``LOCK TABLE ledger_events IN EXCLUSIVE MODE``) and commit with
    ``synchronous_commit = on``.  Hashing and validation live in
    :class:`Ledger`, not in backends.
    """

    url: str

    @abc.abstractmethod
    def write(self) -> contextlib.AbstractContextManager[LedgerTransaction]:
        """Exclusive write transaction; commits on normal exit, rolls back on error."""

    @abc.abstractmethod
    def rows(self, after_id: int = 0) -> Iterator[dict[str, Any]]:
        """Stored rows with ``id > after_id`` ordered by id (a consistent snapshot)."""

    @abc.abstractmethod
    def stored_head(self) -> tuple[int, str] | None:
        """The head recorded by the last append (None if never recorded)."""

    def uid(self) -> str | None:
        """The ledger's identity, a random hex string set when it was created (None if unknown)."""
        return None

    def location(self) -> str | None:
        """Where the ledger lives, without credentials (the key of its anchors); None in memory."""
        return None

    def close(self) -> None:  # pragma: no cover - trivial default
        """Release connections."""


_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS ledger_events (
        id INTEGER PRIMARY KEY,
        record_id TEXT NOT NULL,
        action TEXT NOT NULL,
        "values" TEXT NOT NULL,
        analyst TEXT NOT NULL,
        time TEXT NOT NULL,
        reason TEXT,
        bulk_id TEXT,
        undoes INTEGER,
        idempotency_key TEXT UNIQUE,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS ledger_events_record ON ledger_events(record_id)",
    "CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # guards against accidents; a deliberate tamperer can drop them, which verify() then catches
    """CREATE TRIGGER IF NOT EXISTS ledger_events_no_update BEFORE UPDATE ON ledger_events
       BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS ledger_events_no_delete BEFORE DELETE ON ledger_events
       BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only'); END""",
)
_COLUMNS = ", ".join(f'"{c}"' if c == "values" else c for c in STORED_FIELDS)
SCHEMA_VERSION = "1"


class _SQLiteTransaction(LedgerTransaction):
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def head(self) -> tuple[int, str]:
        row = self.conn.execute("SELECT id, hash FROM ledger_events ORDER BY id DESC LIMIT 1").fetchone()
        return (int(row[0]), row[1]) if row else (0, GENESIS_HASH)

    def find_keys(self, keys: Sequence[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        keys = list(keys)
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT {_COLUMNS} FROM ledger_events WHERE idempotency_key IN ({','.join('?' * len(chunk))})"
            out.extend(_row_dict(r) for r in self.conn.execute(q, chunk))
        return sorted(out, key=lambda r: r["id"])

    def get(self, event_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM ledger_events WHERE id = ?", (event_id,)).fetchone()
        return _row_dict(row) if row else None

    def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        cols = STORED_FIELDS
        self.conn.executemany(
            f"INSERT INTO ledger_events ({_COLUMNS}) VALUES ({','.join('?' * len(cols))})",
            [tuple(r.get(c) for c in cols) for r in rows],
        )
        last = rows[-1]
        self.conn.executemany(
            "INSERT INTO ledger_meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [("head_id", str(last["id"])), ("head_hash", last["hash"])],
        )


def _row_dict(row: Sequence[Any]) -> dict[str, Any]:
    return dict(zip(STORED_FIELDS, row))


class SQLiteBackend(LedgerBackend):
    """SQLite storage through the standard library's :mod:`sqlite3`.

    Parameters
    ----------
    path
        Database file, or ``":memory:"``.
    busy_timeout
        Seconds a writer waits for the lock before retrying.
    synchronous
        ``"FULL"`` (default, durable across power loss) or ``"NORMAL"``.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 60.0,
                 synchronous: str = "FULL", create: bool = False, readonly: bool = False):
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise LedgerBackendError(f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")
        self.path = str(path)
        self.url = "sqlite://" if self.path == ":memory:" else f"sqlite:///{self.path}"
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        memory = self.path == ":memory:"
        where = self.path if memory else str(Path(self.path).resolve())
        exists = memory or Path(self.path).is_file()
        if not memory and Path(self.path).exists() and not exists:
            raise LedgerBackendError.say("ledger_not_file", where=where)
        if not exists and not create:
            raise LedgerBackendError.say("ledger_missing", where=where)
        if not exists:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LedgerBackendError(f"cannot create ledger folder for {where}: {exc.strerror}") from exc
        try:
            # mode=rw never creates the file: a ledger that vanished between the check and
            # here is an error, not a new empty ledger
            target = self.path if memory else f"file:{quote(os.path.abspath(self.path))}?mode=" + (
                "rwc" if create else "rw")
            self.conn = sqlite3.connect(target, timeout=busy_timeout, isolation_level=None,
                                        check_same_thread=False, uri=not memory)
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            has_table = self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ledger_events'").fetchone()
        except sqlite3.DatabaseError as exc:
            with contextlib.suppress(Exception):
                self.conn.close()
            raise LedgerBackendError.say("ledger_not_sqlite", where=where, error=exc) from None
        if not has_table and not (create or memory):
            self.conn.close()
            raise LedgerBackendError.say("ledger_not_vaxlib", where=where)
        try:
            if not readonly or not has_table:
                self._retry(self._set_wal)
            self.conn.execute(f"PRAGMA synchronous = {synchronous}")
            if not readonly or not has_table:
                self._retry(self._create_schema)
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise LedgerBackendError(f"ledger {where} cannot be opened for writing ({exc})") from None
        self._where = None if memory else where
        # a ledger opened read-only may predate the optional columns: read them as NULL
        have = {r[1] for r in self.conn.execute("PRAGMA table_info(ledger_events)")}
        self._select = ", ".join(
            (f'"{c}"' if c == "values" else c) if c in have else f"NULL AS {c}" for c in STORED_FIELDS)
        #: True when this open made a new ledger (the first anchor of a location says so)
        self.created = not has_table

    def _set_wal(self) -> None:
        if self.path != ":memory:":
            mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise LedgerBackendError(f"ledger database {self.path} could not switch to WAL mode ({mode})")

    def _create_schema(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _SCHEMA:
                self.conn.execute(stmt)
            have = {r[1] for r in self.conn.execute("PRAGMA table_info(ledger_events)")}
            for col in OPTIONAL_HASHED_FIELDS:
                if col not in have:  # a ledger made before the column existed
                    self.conn.execute(f"ALTER TABLE ledger_events ADD COLUMN {col} TEXT")
            self.conn.executemany(
                "INSERT OR IGNORE INTO ledger_meta(key, value) VALUES (?, ?)",
                [("schema_version", SCHEMA_VERSION), ("ledger_uid", uuid.uuid4().hex)])
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def _retry(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` retrying on SQLITE_BUSY beyond the busy handler (rare, e.g. WAL switch)."""
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.01
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise LedgerBackendError(f"ledger database {self.path} stayed locked: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    @contextlib.contextmanager
    def write(self) -> Iterator[LedgerTransaction]:
        with self._lock:
            self._retry(lambda: self.conn.execute("BEGIN IMMEDIATE"))
            try:
                yield _SQLiteTransaction(self.conn)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    def rows(self, after_id: int = 0) -> Iterator[dict[str, Any]]:
        with self._lock:
            # one read transaction = one consistent snapshot in WAL mode
            self.conn.execute("BEGIN")
            try:
                rows = self.conn.execute(f"SELECT {self._select} FROM ledger_events WHERE id > ? ORDER BY id",
                                         (int(after_id),)).fetchall()
            finally:
                self.conn.execute("COMMIT")
        for r in rows:
            yield _row_dict(r)

    def stored_head(self) -> tuple[int, str] | None:
        with self._lock:
            meta = dict(self.conn.execute(
                "SELECT key, value FROM ledger_meta WHERE key IN ('head_id', 'head_hash')"
            ).fetchall())
        if "head_id" not in meta:
            return None
        return int(meta["head_id"]), meta.get("head_hash", "")

    def uid(self) -> str | None:
        with self._lock:
            row = self.conn.execute("SELECT value FROM ledger_meta WHERE key = 'ledger_uid'").fetchone()
        return row[0] if row else None

    def location(self) -> str | None:
        return None if self._where is None else f"sqlite:///{self._where}"

    def close(self) -> None:
        with self._lock:
            self.conn.close()


_BACKENDS: dict[str, Callable[..., LedgerBackend]] = {}


def register_backend(scheme: str, factory: Callable[..., LedgerBackend]) -> None:
    """Make ``Ledger.open("scheme://…")`` use ``factory(url, create=…, readonly=…)``.

    The factory must raise :class:`LedgerBackendError` when the ledger does
    not exist and ``create`` is False (never create it then).

    ``scheme`` is the URL scheme before ``://``; a ``+driver`` suffix
    (``postgresql+psycopg``) is looked up under the bare scheme too.
    """
    _BACKENDS[scheme] = factory


def _sqlite_from_url(url: str, *, create: bool = False, readonly: bool = False) -> LedgerBackend:
    rest = url.split("://", 1)[1] if "://" in url else url
    query = ""
    if "?" in rest:
        rest, query = rest.split("?", 1)
    opts = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
    if rest in ("", "/", "/:memory:"):
        path = ":memory:"
    else:
        # SQLAlchemy convention: sqlite:///rel.db (3 slashes) and sqlite:////abs.db (4 slashes)
        path = unquote(rest[1:] if rest.startswith("/") else rest)
    kwargs: dict[str, Any] = {}
    if "timeout" in opts:
        kwargs["busy_timeout"] = float(opts["timeout"])
    if "synchronous" in opts:
        kwargs["synchronous"] = opts["synchronous"].upper()
    return SQLiteBackend(path, create=create, readonly=readonly, **kwargs)


register_backend("sqlite", _sqlite_from_url)


def open_backend(url: str | os.PathLike[str], *, create: bool = False,
                 readonly: bool = False) -> LedgerBackend:
    """Backend for a database URL; a plain path means a SQLite file.

    Parameters
    ----------
    url
        ``sqlite:///path.db``, ``sqlite://`` (in memory), ``postgresql://…``
        or a plain SQLite file path.
    create
        Create the ledger when it does not exist.  Without it a missing
        ledger is a :class:`LedgerBackendError` (a typo in a URL must not
        start a new, empty ledger).
    readonly
        Write nothing to the database (``verify``, ``export``, ``apply``).
    """
    text = os.fspath(url)
    if "://" not in text:
        return SQLiteBackend(text, create=create, readonly=readonly)
    scheme = text.split("://", 1)[0].lower()
    factory = _BACKENDS.get(scheme) or _BACKENDS.get(scheme.split("+", 1)[0])
    if factory is None and scheme.split("+", 1)[0] in ("postgresql", "postgres"):
        try:
            import vaxlib.review.pg  # noqa: F401  (registers itself)
        except ImportError as exc:
            raise LedgerBackendError(f"the PostgreSQL ledger needs psycopg 3 ({exc})") from None

        factory = _BACKENDS.get(scheme) or _BACKENDS.get(scheme.split("+", 1)[0])
    if factory is None:
        known = ", ".join(sorted(_BACKENDS))
        raise LedgerBackendError.say("ledger_scheme", scheme=repr(scheme), known=known)
    return factory(text, create=create, readonly=readonly)


# --------------------------------------------------------------------------- the ledger

_SENTINEL_ID = 9_007_199_254_740_993  # stands for the id until the server assigns it
_SENTINEL_HASH = "@" * 64  # stands for prev_hash


def _split_canonical(row: Mapping[str, Any]) -> tuple[str, str, str]:
    """The canonical JSON of ``row``'s hashed payload cut around its id and prev_hash.

    Keys are sorted, so the top-level ``"id"`` and ``"prev_hash"`` come before ``"values"`` and
    after nothing but ``action``, ``analyst``, ``bulk_id`` and ``idempotency_key``, whose text has
    its quotes escaped: the first unescaped ``,"id":`` is the top-level one.
    """
    payload = {k: row[k] for k in HASHED_FIELDS}
    payload.update({k: row[k] for k in OPTIONAL_HASHED_FIELDS if row.get(k) is not None})
    text = _canonical_json(payload)
    id_mark = f',"id":{_SENTINEL_ID},'
    hash_mark = f'"prev_hash":"{_SENTINEL_HASH}"'
    i = text.index(id_mark)
    j = text.index(hash_mark, i)
    p0 = text[:i] + ',"id":'
    p1 = text[i + len(id_mark) - 1:j] + '"prev_hash":"'
    p2 = text[j + len(hash_mark) - 1:]
    return p0, p1, p2


def _province_of(provinces: Mapping[str, Any] | Callable[[str], Any], record_id: str) -> str | None:
    value = provinces(record_id) if callable(provinces) else provinces.get(record_id)
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


def _decode_row(row: Mapping[str, Any]) -> LedgerEvent:
    d = dict(row)
    d["values"] = json.loads(d["values"]) if isinstance(d["values"], str) else dict(d["values"] or {})
    d["undoes"] = None if d["undoes"] is None else int(d["undoes"])
    d["id"] = int(d["id"])
    return LedgerEvent(**d)


DECISION_COLUMNS: tuple[str, ...] = (
    "record_id", "decision_id", "action", "values", "analyst", "time", "reason", "bulk_id",
)


def decisions_from_events(events: Iterable[LedgerEvent]) -> pd.DataFrame:
    """Effective decision per record from a sequence of events (in chain order).

    An undo cancels its target; an undo can itself be undone (which restores
    the target).  A record's decision is its newest decision event that is not
    cancelled; records whose every decision is cancelled have no row.  A bulk
    acceptance that needs a supervisor (see :meth:`Ledger.bulk_accept`) counts
    only once confirmed; until then it is listed by :func:`pending_bulks`.

    Returns
    -------
    DataFrame
        :data:`DECISION_COLUMNS`, one row per decided record, ordered by
        ``record_id``; ``action`` is ``bulk_accept`` for decisions taken as a
        cluster (they apply like ``accept``); ``values`` is a dict.
    """
    events = list(events)
    cancelled = _cancelled(events)
    waiting = set(_pending(events, cancelled))
    current: dict[str, LedgerEvent] = {}
    for ev in events:
        if ev.action in DECISION_ACTIONS and ev.id not in cancelled and ev.bulk_id not in waiting:
            current[ev.record_id] = ev
    rows = [
        {"record_id": ev.record_id, "decision_id": ev.id, "action": ev.action, "values": ev.values,
         "analyst": ev.analyst, "time": ev.time, "reason": ev.reason, "bulk_id": ev.bulk_id}
        for _, ev in sorted(current.items())
    ]
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DECISION_COLUMNS})
    out = pd.DataFrame(rows, columns=list(DECISION_COLUMNS))
    out["decision_id"] = out["decision_id"].astype("int64")
    return out


def _cancelled(events: Sequence[LedgerEvent]) -> set[int]:
    cancelled: set[int] = set()
    for ev in reversed(events):  # an undo only targets earlier events
        if ev.action == "undo" and ev.id not in cancelled and ev.undoes is not None:
            cancelled.add(ev.undoes)
    return cancelled


def _pending(events: Sequence[LedgerEvent], cancelled: set[int]) -> dict[str, list[LedgerEvent]]:
    """Bulk acceptances that need a confirmation and have none (from another person), by bulk_id."""
    bulks: dict[str, list[LedgerEvent]] = {}
    for ev in events:
        if ev.action == "bulk_accept" and ev.values.get("needs_confirmation") and ev.id not in cancelled:
            bulks.setdefault(ev.bulk_id, []).append(ev)
    for ev in events:
        if ev.action == "confirm_bulk" and ev.id not in cancelled and ev.bulk_id in bulks:
            if ev.analyst != bulks[ev.bulk_id][0].analyst:  # the two-person rule
                del bulks[ev.bulk_id]
    return bulks


def pending_bulks(events: Iterable[LedgerEvent]) -> pd.DataFrame:
    """Bulk acceptances waiting for a supervisor: ``bulk_id, analyst, time, records, cluster_id``."""
    events = list(events)
    rows = [{"bulk_id": b, "analyst": evs[0].analyst, "time": evs[0].time, "records": len(evs),
             "cluster_id": evs[0].values.get("cluster_id"), "province": evs[0].province}
            for b, evs in _pending(events, _cancelled(events)).items()]
    cols = ["bulk_id", "analyst", "time", "records", "cluster_id", "province"]
    return pd.DataFrame(rows, columns=cols)


def heads_recorded_in_runs(folders: Iterable[str | os.PathLike[str]], location: str | None) -> list[Anchor]:
    """Ledger heads that runs wrote down (``apply_summary.json``, ``_manifest.json``) for this ledger.

    Raises
    ------
    LedgerError
        A folder holds no recorded head (one line naming it).
    """
    out: list[Anchor] = []
    for folder in folders:
        folder = Path(folder)
        found = False
        for name in ("apply_summary.json", "_manifest.json"):
            path = folder / name
            if not path.is_file():
                continue
            try:
                info = json.loads(path.read_text(encoding="utf-8")).get("ledger") or {}
            except (OSError, ValueError) as exc:
                raise LedgerError(f"{path}: not readable JSON ({type(exc).__name__})") from None
            if "head_id" not in info or (location and info.get("location") not in (None, location)):
                continue
            found = True
            out.append(Anchor(str(info.get("uid") or ""), int(info["head_id"]), str(info["head_hash"]),
                              str(info.get("time") or path.stat().st_mtime), f"run {folder}"))
        if not found:
            raise LedgerError(f"{folder}: no ledger head of this ledger recorded (apply_summary.json or "
                              f"_manifest.json)")
    return out


def answering_province(vaccinations: pd.DataFrame) -> pd.Series:
    """Per row, the province that answers for the record: the facility's, else the residence's (GSO code, or None)."""
    province = pd.Series(None, index=vaccinations.index, dtype=object)
    for col in ("province_code", "facility_province"):  # the later column wins where it is set
        if col in vaccinations:
            value = vaccinations[col].astype("string").str.strip()
            province = province.where(value.isna() | (value == ""), value.astype(object))
    return province


def record_provinces(vaccinations: pd.DataFrame) -> dict[str, str]:
    """record_id -> the province that answers for it: the facility's, else the residence's (GSO code)."""
    province = answering_province(vaccinations)
    keep = province.notna()
    return dict(zip(vaccinations["record_id"].astype(str)[keep], province[keep].astype(str)))


def scope_tables(ledger: Any, vaccinations: pd.DataFrame,
                 matches: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give ``ledger`` the records' provinces and keep only the records its role may decide.

    SQLite (no roles) keeps everything; on PostgreSQL an analyst's review
    queue then holds only their provinces' records.
    """
    if getattr(ledger, "record_provinces", "unset") is None:
        ledger.record_provinces = record_provinces(vaccinations)
    scope = ledger.scope() if hasattr(ledger, "scope") else None
    if scope is None:
        return vaccinations, matches
    provinces = ledger.record_provinces if isinstance(ledger.record_provinces, Mapping) else {}
    ids = {r for r, p in provinces.items() if p in set(scope)}
    return (vaccinations[vaccinations["record_id"].astype(str).isin(ids)],
            matches[matches["record_id"].astype(str).isin(ids)])


def _check_reason(action: str, reason_code: str | None, reason: str | None) -> None:
    codes = REASON_CODES[action]
    if reason_code not in codes:
        got = "no reason" if not reason_code else f"reason {reason_code!r}"
        raise MissingReasonError(f"{action} needs a reason from the list {', '.join(codes)} ({got} given)")
    if reason_code == "other" and not (reason or "").strip():
        raise MissingReasonError(f"{action} with reason 'other' needs the reason written out")


def _bulk_threshold() -> int:
    from vaxlib.config import PARAMETERS_DIR, load_yaml

    path = PARAMETERS_DIR / "review.yaml"
    if not path.exists():
        return DEFAULT_BULK_CONFIRM_ABOVE
    return int(load_yaml(path).get("bulk_confirm_above", DEFAULT_BULK_CONFIRM_ABOVE))


class Ledger:
    """The decision ledger.

    Open with :meth:`Ledger.open`; use as a context manager or call
    :meth:`close`.  All append methods return the stored
    :class:`LedgerEvent` (or a list for bulk operations) and take:

    analyst
        Who decided (required, non-empty).
    reason
        Free text, optional.
    idempotency_key
        Optional; a retried call with the same key returns the already stored
        event(s) instead of appending again.  Use one fresh key per user action
        (e.g. ``uuid.uuid4().hex`` made when the button is clicked).

    Examples
    --------
    >>> with Ledger.open("sqlite://") as ledger:
    ...     ev = ledger.accept("R1", analyst="lan")
    ...     _ = ledger.undo(ev.id, analyst="lan", reason="nhầm")
    ...     ledger.verify().ok
    True
    """

    def __init__(self, backend: LedgerBackend):
        self.backend = backend
        # Appends are serialised and ids assigned in commit order, so a reader can
        # cache what it has seen and fetch only newer ids. verify() never uses the cache.
        self._cache: list[LedgerEvent] = []
        self._decisions_at = -1
        self._decisions: pd.DataFrame | None = None
        self._cache_lock = threading.RLock()
        self._witnessed: tuple[int, str] | None = None
        #: a bulk acceptance of more records waits for a supervisor's confirmation
        self.bulk_confirm_above: int = _bulk_threshold()
        #: record_id -> province code (a Mapping or a callable); events get the province of
        #: their record, which row-level security on PostgreSQL scopes by
        self.record_provinces: Mapping[str, Any] | Callable[[str], Any] | None = None

    def identity(self) -> str | None:
        """The database role appends are recorded under (PostgreSQL), or None (SQLite: typed name)."""
        fn = getattr(self.backend, "identity", None)
        return fn() if fn else None

    def scope(self) -> tuple[str, ...] | None:
        """Provinces this connection may read and decide; None for every province."""
        fn = getattr(self.backend, "scope", None)
        return fn() if fn else None

    def _witness(self, by: str, head: tuple[int, str] | None = None) -> None:
        """Record the head seen in the anchor file outside the database (see :mod:`.anchors`)."""
        location = self.backend.location()
        uid = self.backend.uid()
        if location is None or uid is None:
            return
        head = head if head is not None else self.head()
        if head == self._witnessed and by == "append":
            return
        record_anchor(location, Anchor(uid, int(head[0]), head[1], _utc_now(), by))
        self._witnessed = head

    @classmethod
    def open(cls, url: str | os.PathLike[str] = DEFAULT_URL, *, create: bool = False,
             readonly: bool = False) -> "Ledger":
        """Open the ledger at a database URL or SQLite path.

        Parameters
        ----------
        create
            Create the ledger if it does not exist (otherwise a missing ledger
            raises :class:`LedgerBackendError`).
        readonly
            Write nothing to the database (appends then fail).

        Raises
        ------
        LedgerBackendError
            Missing (without ``create``), unreadable, or an unknown URL scheme;
            the message is one line and names the location.
        """
        backend = open_backend(url, create=create, readonly=readonly)
        ledger = cls(backend)
        if getattr(backend, "created", False):
            ledger._witness("create")
        return ledger

    @property
    def url(self) -> str:
        return self.backend.url

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- appends
    def _append(self, drafts: Sequence[_Draft]) -> list[LedgerEvent]:
        if not drafts:
            return []
        for d in drafts:
            if d.action not in ACTIONS:
                raise LedgerError(f"unknown action {d.action!r}")
            if (not d.analyst or not str(d.analyst).strip()) and self.identity() is None:
                raise LedgerError("an event needs the analyst's name")
            if d.action != "undo" and (d.record_id is None or not str(d.record_id).strip()):
                raise LedgerError("an event needs a record_id")
        who = self.identity()
        for d in drafts:
            if who is not None:
                d.analyst = who  # the database's current_user, not a typed name
            if d.province is None and self.record_provinces is not None and d.action != "undo":
                d.province = _province_of(self.record_provinces, d.record_id)
        keys = [d.idempotency_key for d in drafts if d.idempotency_key is not None]
        if len(set(keys)) != len(keys):
            raise IdempotencyConflictError("idempotency keys within one append must differ")
        if hasattr(self.backend, "append_prepared"):
            return self._append_prepared(drafts, keys)
        with self.backend.write() as tx:
            if keys:
                existing = tx.find_keys(keys)
                if existing:
                    return self._replayed(drafts, existing)
            _resolve_undos(drafts, tx.get)
            head_id, head_hash = tx.head()
            now = _utc_now()
            rows = []
            for i, d in enumerate(drafts, start=1):
                row = _draft_row(d, head_id + i, head_hash, now)
                row["hash"] = head_hash = event_hash(row)
                rows.append(row)
            tx.insert([{**r, "values": _canonical_json(r["values"])} for r in rows])
        events = [_decode_row({**r, "values": r["values"]}) for r in rows]
        self._witness("append", (events[-1].id, events[-1].hash))
        log.debug("ledger: appended %d event(s), head %d", len(events), events[-1].id)
        return events

    def _append_prepared(self, drafts: Sequence[_Draft], keys: list[str]) -> list[LedgerEvent]:
        """Append through a backend that links and hashes on the server (PostgreSQL).

        Everything that does not depend on the head is done here, before the lock: the undo
        targets (stored events never change), the time and the canonical JSON of each event,
        split around the two values only the server knows under its lock (id and prev_hash).
        """
        backend = self.backend
        _resolve_undos(drafts, backend.get)
        now = _utc_now()
        rows = []
        for d in drafts:
            row = _draft_row(d, _SENTINEL_ID, _SENTINEL_HASH, now)
            p0, p1, p2 = _split_canonical(row)
            rows.append({**row, "values": _canonical_json(d.values), "id": None, "prev_hash": None,
                         "p0": p0, "p1": p1, "p2": p2})
        result = backend.append_prepared(rows)
        if any(replayed for replayed, *_ in result):
            return self._replayed(drafts, backend.find_keys(keys))
        events = []
        for row, (_, eid, prev, stored_hash) in zip(rows, result):
            full = {**{k: row[k] for k in STORED_FIELDS if k != "hash"}, "id": eid, "prev_hash": prev,
                    "values": json.loads(row["values"])}
            full["hash"] = event_hash(full)
            if full["hash"] != stored_hash:  # the server assembled other bytes than we hashed
                raise LedgerError(f"event {eid}: the database computed hash {stored_hash[:12]}… but the event "
                                  f"hashes to {full['hash'][:12]}… (server encoding not UTF-8?)")
            events.append(_decode_row({**full, "values": row["values"]}))
        self._witness("append", (events[-1].id, events[-1].hash))
        log.debug("ledger: appended %d event(s), head %d", len(events), events[-1].id)
        return events

    @staticmethod
    def _replayed(drafts: Sequence[_Draft], existing: list[dict[str, Any]]) -> list[LedgerEvent]:
        by_key = {r["idempotency_key"]: r for r in existing}
        if len(by_key) != len(drafts) or any(d.idempotency_key not in by_key for d in drafts):
            raise IdempotencyConflictError("idempotency key(s) already used for a different append")
        events = []
        for d in drafts:
            r = by_key[d.idempotency_key]
            same = r["action"] == d.action and (d.action == "undo" or r["record_id"] == str(d.record_id))
            if not same:
                raise IdempotencyConflictError(
                    f"idempotency key already used for event {r['id']} with different content")
            events.append(_decode_row(r))
        log.debug("ledger: idempotent replay of %d event(s)", len(events))
        return events

    def _decision(self, action: str, record_id: str, values: Mapping[str, Any] | None, analyst: str,
                  reason: str | None, idempotency_key: str | None,
                  reason_code: str | None = None) -> LedgerEvent:
        return self._append([_Draft(str(record_id), action, dict(values or {}), analyst, reason,
                                    idempotency_key=idempotency_key, reason_code=reason_code)])[0]

    def accept(self, record_id: str, *, analyst: str | None = None, reason: str | None = None,
               values: Mapping[str, Any] | None = None, idempotency_key: str | None = None) -> LedgerEvent:
        """Accept the suggested fix of a record.

        ``values`` may snapshot what was shown (e.g. ``{"person_id": …}``);
        ``vax apply`` skips an accept whose ``person_id`` no longer matches
        the matches table (the suggestion changed since the decision).
        """
        return self._decision("accept", record_id, values, analyst, reason, idempotency_key)

    def reject(self, record_id: str, *, analyst: str | None = None, reason_code: str | None = None,
               reason: str | None = None, idempotency_key: str | None = None) -> LedgerEvent:
        """Reject the suggested fix: the record stays as typed.

        ``reason_code`` is required, one of ``REASON_CODES["reject"]``; ``reason``
        adds free text (required with ``"other"``).

        Raises
        ------
        MissingReasonError
            No reason from the list (nothing is appended).
        """
        _check_reason("reject", reason_code, reason)
        return self._decision("reject", record_id, None, analyst, reason, idempotency_key, reason_code)

    def defer(self, record_id: str, *, analyst: str | None = None, reason: str | None = None,
              idempotency_key: str | None = None) -> LedgerEvent:
        """Put a record aside for later (no change is applied)."""
        return self._decision("defer", record_id, None, analyst, reason, idempotency_key)

    def edit(self, record_id: str, values: Mapping[str, Any], *, analyst: str | None = None,
             reason_code: str | None = None, reason: str | None = None,
             idempotency_key: str | None = None) -> LedgerEvent:
        """Record analyst-typed values, validated and normalised by :func:`validate_edit`.

        ``reason_code`` is required, one of ``REASON_CODES["edit"]`` (``reason``
        adds free text, required with ``"other"``).

        Raises
        ------
        InvalidEditError
            A value does not parse (nothing is appended).
        MissingReasonError
            No reason from the list.
        """
        _check_reason("edit", reason_code, reason)
        clean = validate_edit(values, record_id=str(record_id))
        return self._decision("edit", record_id, clean, analyst, reason, idempotency_key, reason_code)

    def bulk_accept(self, record_ids: Iterable[str], *, analyst: str | None = None, reason: str | None = None,
                    cluster_id: str | None = None, idempotency_key: str | None = None) -> list[LedgerEvent]:
        """Accept the suggested fixes of many records (a cluster) in one transaction.

        One ``bulk_accept`` event per record, all sharing a new ``bulk_id``;
        ``cluster_id`` is kept in each event's values.  With an
        ``idempotency_key`` K the events get the keys ``K:record_id``.

        Two-person rule: more records than :attr:`bulk_confirm_above`
        (``parameters/review.yaml``) and the events carry
        ``needs_confirmation``; they count as decisions (and ``vax apply``
        applies them) only after :meth:`confirm_bulk` by another person — on
        PostgreSQL the database also requires that person's supervisor role.
        """
        ids = list(dict.fromkeys(str(r) for r in record_ids))
        if not ids:
            return []
        bulk_id = uuid.uuid4().hex
        values: dict[str, Any] = {"cluster_id": cluster_id} if cluster_id is not None else {}
        if len(ids) > self.bulk_confirm_above:
            values["needs_confirmation"] = True
        drafts = [
            _Draft(r, "bulk_accept", dict(values), analyst, reason, bulk_id=bulk_id,
                   idempotency_key=None if idempotency_key is None else f"{idempotency_key}:{r}")
            for r in ids
        ]
        return self._append(drafts)

    def confirm_bulk(self, bulk_id: str, *, analyst: str | None = None, reason: str | None = None,
                     idempotency_key: str | None = None) -> LedgerEvent:
        """Confirm another person's bulk acceptance (the second person of the two-person rule).

        Raises
        ------
        UnknownEventError
            No bulk acceptance waits under this id.
        LedgerError
            The confirming person is the one who accepted (or, on PostgreSQL,
            not a supervisor of the records' province: the database refuses).
        """
        waiting = _pending(self.events_list(), _cancelled(self.events_list())).get(bulk_id)
        if not waiting:
            raise UnknownEventError(f"no bulk acceptance {bulk_id!r} waits for confirmation")
        who = self.identity() or (analyst or "").strip()
        if who == waiting[0].analyst:
            raise LedgerError("a bulk acceptance must be confirmed by another person (two-person rule)")
        return self._append([_Draft(f"bulk:{bulk_id}", "confirm_bulk", {"records": len(waiting)},
                                    analyst or "", reason, bulk_id=bulk_id, idempotency_key=idempotency_key,
                                    province=waiting[0].province)])[0]

    def pending_bulks(self) -> pd.DataFrame:
        """Bulk acceptances waiting for a supervisor (see :func:`pending_bulks`)."""
        return pending_bulks(self.events_list())

    def can_confirm(self) -> bool:
        """May this connection confirm other people's bulk acceptances?

        On PostgreSQL only supervisor and national roles (the database enforces it too); on SQLite
        (typed names, no roles) anyone who is not the bulk's own analyst.
        """
        fn = getattr(self.backend, "has_role", None)
        return True if fn is None else bool(fn("vax_supervisor") or fn("vax_national"))

    def find_pending_bulk(self, prefix: str) -> str:
        """The full id of the one waiting bulk acceptance whose id starts with ``prefix`` (8+ characters).

        Raises
        ------
        UnknownEventError
            None waits under that prefix, or several do (the message says which).
        """
        prefix = str(prefix).strip().lower()
        if len(prefix) < 8:
            raise UnknownEventError(f"bulk id {prefix!r} is too short: give at least 8 characters")
        found = [b for b in self.pending_bulks()["bulk_id"] if str(b).startswith(prefix)]
        if len(found) != 1:
            raise UnknownEventError(f"no bulk acceptance {prefix!r} waits for confirmation" if not found else
                                    f"{len(found)} waiting bulk acceptances start with {prefix!r}: give more")
        return str(found[0])

    def reveal(self, record_id: str, *, field: str = "id_number", analyst: str | None = None,
               idempotency_key: str | None = None) -> LedgerEvent:
        """Record that the analyst revealed a record's full ID number (an event, not a decision)."""
        return self._decision("reveal", record_id, {"field": field}, analyst, None, idempotency_key)

    def undo(self, event_id: int, *, analyst: str | None = None, reason: str | None = None,
             idempotency_key: str | None = None) -> LedgerEvent:
        """Cancel an earlier event with a new ``undo`` event pointing at it.

        The undo names what it undoes: ``undoes`` (the event id), the target's
        ``record_id`` and, in ``values``, ``undone_action``.  Undoing an undo
        restores its target.

        Raises
        ------
        UnknownEventError
            No event has this id.
        """
        return self._append([_Draft("", "undo", {}, analyst, reason, undoes=int(event_id),
                                    idempotency_key=idempotency_key)])[0]

    def undo_bulk(self, bulk_id: str, *, analyst: str | None = None, reason: str | None = None,
                  idempotency_key: str | None = None) -> list[LedgerEvent]:
        """Undo every event of one bulk acceptance (one undo event each, in one transaction)."""
        targets = [ev.id for ev in self.events_list() if ev.bulk_id == bulk_id and ev.action != "undo"]
        if not targets:
            raise UnknownEventError(f"no bulk acceptance {bulk_id!r}")
        drafts = [_Draft("", "undo", {}, analyst, reason, undoes=t,
                         idempotency_key=None if idempotency_key is None else f"{idempotency_key}:{t}")
                  for t in targets]
        return self._append(drafts)

    # ---------------------------------------------------------------- reading
    def events_list(self) -> list[LedgerEvent]:
        """Every event in chain order (read incrementally: only newer events are fetched)."""
        with self._cache_lock:
            after = self._cache[-1].id if self._cache else 0
            self._cache.extend(_decode_row(r) for r in self.backend.rows(after_id=after))
            return list(self._cache)

    def events(self) -> pd.DataFrame:
        """Every event as a DataFrame (columns of :class:`LedgerEvent`; ``values`` as dicts)."""
        rows = [ev.to_dict() for ev in self.events_list()]
        cols = [f.name for f in LedgerEvent.__dataclass_fields__.values()]
        return pd.DataFrame(rows, columns=cols)

    def history(self, record_id: str) -> list[LedgerEvent]:
        """Every event about one record (undos included), in chain order."""
        return [ev for ev in self.events_list() if ev.record_id == str(record_id)]

    def last_event(self, analyst: str | None = None) -> LedgerEvent | None:
        """The newest event (of ``analyst`` if given), e.g. for an "undo last" button."""
        for ev in reversed(self.events_list()):
            if analyst is None or ev.analyst == analyst:
                return ev
        return None

    def current_decisions(self) -> pd.DataFrame:
        """Effective decision per record (undo applied); see :func:`decisions_from_events`.

        Recomputed only when events were appended since the last call (by anyone).
        """
        with self._cache_lock:
            events = self.events_list()
            head = events[-1].id if events else 0
            if self._decisions is None or self._decisions_at != head:
                self._decisions = decisions_from_events(events)
                self._decisions_at = head
            out = self._decisions.copy()
            out["values"] = [dict(v) for v in out["values"]]  # callers may not alter the cache
            return out

    def head(self) -> tuple[int, str]:
        """``(id, hash)`` of the newest event (``(0, GENESIS_HASH)`` when empty)."""
        events = self.events_list()
        return (events[-1].id, events[-1].hash) if events else (0, GENESIS_HASH)

    def verify(self, expected_head: tuple[int, str] | None = None, *,
               recorded: Iterable[Anchor] = (), witness: bool = True) -> VerifyResult:
        """Walk the hash chain and report the first broken event.

        Checks, in chain order: ids run 1, 2, 3 … without gaps (a gap means a
        deleted event); each ``prev_hash`` equals the previous event's hash
        (deletion or reordering); each stored ``hash`` equals the hash
        recomputed from the stored contents (an edited event).  Then the head
        must equal the head stored with the last append and, if given,
        ``expected_head``; and every head witnessed outside the database
        (:mod:`vaxlib.review.anchors`) must still be in the chain with the same
        hash (a full rewrite, or newest events deleted with the stored head).
        ``recorded`` adds heads recorded elsewhere, e.g. by ``vax apply`` in its
        run folders (:func:`heads_recorded_in_runs`): each must be in the chain.
        With ``witness`` a verified head is itself recorded as an anchor.
        """
        scope = self.scope()
        if scope is not None:
            raise LedgerError(f"verify needs a role that sees every province (vax_national or the ledger's "
                              f"owner); {self.identity()} sees only {', '.join(scope) or 'no province'}")
        location = self.backend.location()
        uid = self.backend.uid()
        anchors = read_anchors(location) if location else []
        recorded = list(recorded)
        wanted = {a.head_id for a in anchors if a.uid == uid} | {a.head_id for a in recorded}
        seen: dict[int, str] = {}
        prev_hash = GENESIS_HASH
        n = 0
        last_id: int | None = None
        for raw in self.backend.rows():
            n += 1
            eid = int(raw["id"])
            expected_id = (last_id or 0) + 1

            def bad(code: str, at: int = eid, **kw: Any) -> VerifyResult:
                return _tampered(n, last_id, prev_hash, at, code, **kw)

            if eid != expected_id:
                return bad("id_gap", id=eid, prev=last_id or 0)
            if raw["prev_hash"] != prev_hash:
                return bad("prev_hash")
            try:
                values = json.loads(raw["values"]) if isinstance(raw["values"], str) else raw["values"]
                recomputed = event_hash({**raw, "values": values})
            except (ValueError, TypeError) as exc:
                return bad("unreadable", error=type(exc).__name__)
            if recomputed != raw["hash"]:
                return bad("altered")
            if raw["action"] not in ACTIONS:
                return bad("unknown_action", action=repr(raw["action"]))
            prev_hash = raw["hash"]
            last_id = eid
            if eid in wanted:
                seen[eid] = prev_hash
        head = (last_id or 0, prev_hash)
        stored = self.backend.stored_head()
        for name, want in (("stored head", stored), ("expected head", expected_head)):
            if want is None:
                continue
            if (int(want[0]), want[1]) != head:
                missing_from = head[0] + 1 if int(want[0]) > head[0] else None
                return _tampered(n, last_id, prev_hash, missing_from, f"head_{name.split()[0]}",
                                 end=head[0], want=want[0])
        if anchors and anchors[-1].uid != uid:
            last = anchors[-1]
            return _tampered(n, last_id, prev_hash, None, "replaced", location=location, time=last.time, by=last.by)
        checked = 0
        for a in [*anchors, *recorded]:
            if a.uid != uid and a not in recorded:
                continue
            checked += 1
            if a.head_id > head[0]:
                return _tampered(n, last_id, prev_hash, head[0] + 1, "tail_deleted", checked,
                                 end=head[0], id=a.head_id, time=a.time, by=a.by)
            if a.head_id and seen.get(a.head_id) != a.head_hash:
                return _tampered(n, last_id, prev_hash, a.head_id, "rewritten", checked,
                                 id=a.head_id, time=a.time, by=a.by)
        if witness:
            sync = getattr(self.backend, "sync", None)
            if sync:  # witness only a head that is on disk (see vaxlib.review.pg)
                sync()
            self._witness("verify", head)
        return VerifyResult(True, n, last_id, prev_hash, anchors_checked=checked)

    def export(self, path: str | os.PathLike[str]) -> Path:
        """Write every event to ``.jsonl`` (one canonical JSON object per line), ``.csv`` or ``.parquet``."""
        path = Path(path)
        suffix = path.suffix.lower()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        if suffix == ".jsonl":
            with open(tmp, "w", encoding="utf-8") as fh:
                for ev in self.events_list():
                    fh.write(_canonical_json(ev.to_dict()) + "\n")
        elif suffix in (".csv", ".parquet"):
            df = self.events()
            df["values"] = [_canonical_json(v) for v in df["values"]]
            if suffix == ".csv":
                write_csv(df, tmp, encoding="utf-8")  # record_id, analyst, reason: formula-like text neutralised
            else:
                df.to_parquet(tmp, index=False)
        else:
            raise LedgerError(f"cannot export to {path.name}: use .jsonl, .csv or .parquet")
        os.replace(tmp, path)
        return path
