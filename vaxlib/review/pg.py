"""The PostgreSQL ledger backend (``postgresql://…`` URLs, psycopg 3).

For a team: every analyst connects as their own database role, the
database decides what each may read and write, and appends from many
analysts at once stay one linear hash chain.

Appends
    One READ COMMITTED transaction per append: ``ledger_lock_head()`` takes
    ``pg_advisory_xact_lock`` (one lock per ledger, held until commit) and
    then reads the newest event's id and hash with a fresh snapshot, so the
    head read and the insert are serialised across every connection.  The
    head is read through a ``SECURITY DEFINER`` function because row-level
    security hides other provinces' events from an analyst — the function
    reveals the newest id and hash, nothing else.
Durability (``synchronous_commit = on``)
    An append returns only after its commit is flushed to the WAL on disk.
    Two ways, chosen by the URL option ``vax_commit``:

    ``serial``
        the append transaction itself commits with ``synchronous_commit =
        on``.  PostgreSQL releases the advisory lock only after that flush,
        so every append waits for the previous append's fsync: at most one
        append per fsync (~200/s on a disk with 4.6 ms ``fdatasync``).
    ``grouped`` (default)
        the append transaction commits without waiting for the flush (the
        lock is released at once), then the same session runs a second,
        ``synchronous_commit = on`` transaction that writes one WAL record
        (``pg_logical_emit_message``) and so waits until the WAL is flushed
        up to a point *after* the append's commit record.  Concurrent
        analysts' waits share fsyncs (PostgreSQL's group flush), and the
        append still returns only once durable.  The chain stays consistent
        through a server crash: the WAL is replayed in order, so an event
        can only be lost together with every event after it, and none of
        those was confirmed to its analyst.  A reader may glimpse an event a
        few milliseconds before it is durable; :meth:`PostgresBackend.sync`
        (used by ``verify`` before it records a witnessed head) closes that
        gap where it matters.
Reads
    ``REPEATABLE READ, READ ONLY`` transactions: one consistent snapshot per
    read, never a half-committed bulk acceptance.
Values
    ``values`` and ``time`` are stored as the canonical text the hash covers
    (not ``jsonb``/``timestamptz``, which would re-format them).
Append-only
    ``BEFORE UPDATE OR DELETE`` row triggers and a ``BEFORE TRUNCATE``
    statement trigger refuse changes for everyone, and the application roles
    hold ``INSERT`` and ``SELECT`` only.  Only the owner (who ran ``vax ledger
    init``) could drop the triggers; that is what the hash chain and the
    witnessed heads (:mod:`vaxlib.review.anchors`) catch.
Identity and scope
    ``analyst`` must equal ``current_user`` (a row-level-security check), so a
    decision is recorded under the role that connected, not a typed name.
    Roles (created by :func:`init_schema`, granted by :func:`add_user`):

    ``vax_analyst``     reads and appends events of its own provinces;
    ``vax_supervisor``  the same over its provinces, and may confirm another
                        person's bulk acceptance (the two-person rule);
    ``vax_national``    reads and appends every province's events (verify).

    A login role's provinces live in ``ledger_scopes`` (owner-written).
The review queue itself
    ``vax ledger publish`` puts the records to review into ``review_parts``
    under the same policy (:mod:`vaxlib.review.published`); :func:`init_schema`
    creates those tables too.
"""
from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from vaxlib.review.ledger import (
    GENESIS_HASH,
    HASHED_FIELDS,
    OPTIONAL_HASHED_FIELDS,
    SCHEMA_VERSION,
    LedgerBackend,
    LedgerBackendError,
    LedgerError,
    LedgerTransaction,
    register_backend,
)

__all__ = ["PostgresBackend", "init_schema", "add_user", "ROLES", "LOCK_KEY"]

#: the advisory lock of the ledger (any fixed bigint; "vaxledgr" in ASCII)
LOCK_KEY = 0x7661786C65646772
#: group roles created by init_schema
ROLES = ("vax_analyst", "vax_supervisor", "vax_national")
#: a transaction that writes one WAL record: committed with synchronous_commit = on, it returns
#: once the WAL is flushed past every commit this session saw before it
_SYNC_SQL = "SELECT pg_logical_emit_message(true, 'vaxlib-ledger', '')"
#: fault injection for tests: called inside an append's transaction after the insert, before COMMIT
_fault_before_commit = None
_COLS = (*HASHED_FIELDS, *OPTIONAL_HASHED_FIELDS, "hash")
_SELECT = ", ".join(f'"{c}"' for c in _COLS)

_DDL = """
CREATE TABLE IF NOT EXISTS ledger_events (
    id bigint PRIMARY KEY,
    record_id text NOT NULL,
    action text NOT NULL,
    "values" text NOT NULL,
    analyst text NOT NULL,
    time text NOT NULL,
    reason text,
    bulk_id text,
    undoes bigint,
    idempotency_key text UNIQUE,
    prev_hash text NOT NULL,
    province text,
    reason_code text,
    hash text NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_events_record ON ledger_events(record_id);
CREATE INDEX IF NOT EXISTS ledger_events_bulk ON ledger_events(bulk_id) WHERE bulk_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS ledger_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_scopes (
    role_name text NOT NULL,
    province text NOT NULL,
    PRIMARY KEY (role_name, province)
);

CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

%(append_only)s

-- the provinces of the connected role (NULL: every province); runs as the caller, whose
-- ledger_scopes rows are the only ones it can read
CREATE OR REPLACE FUNCTION ledger_my_provinces() RETURNS text[]
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = public, pg_temp AS $$
    SELECT CASE WHEN pg_has_role(current_user, 'vax_national', 'MEMBER')
                  OR NOT pg_has_role(current_user, 'vax_analyst', 'MEMBER')
                     AND NOT pg_has_role(current_user, 'vax_supervisor', 'MEMBER')
                THEN NULL
                ELSE coalesce((SELECT array_agg(province ORDER BY province) FROM ledger_scopes
                               WHERE role_name = current_user), '{}') END
$$;

-- serialise appends and read the head (hidden rows included) after taking the lock
CREATE OR REPLACE FUNCTION ledger_lock_head(OUT head_id bigint, OUT head_hash text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(%(lock)s);
    SELECT e.id, e.hash INTO head_id, head_hash FROM ledger_events e ORDER BY e.id DESC LIMIT 1;
END $$;

-- one append, all of it on the server while the lock is held: lock, head, idempotency check,
-- hash (the client sends the canonical JSON around the two values only known here: the id and
-- prev_hash), insert.  Runs as the caller, so row-level security checks every row.
CREATE OR REPLACE FUNCTION ledger_append(p_rows jsonb)
RETURNS TABLE (replayed boolean, id bigint, prev_hash text, hash text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp AS $$
DECLARE
    r jsonb;
    h_id bigint;
    h_hash text;
    new_hash text;
    keys text[];
BEGIN
    SELECT l.head_id, l.head_hash INTO h_id, h_hash FROM ledger_lock_head() l;
    keys := ARRAY(SELECT x->>'idempotency_key' FROM jsonb_array_elements(p_rows) x
                  WHERE x->>'idempotency_key' IS NOT NULL);
    IF cardinality(keys) > 0 THEN
        RETURN QUERY SELECT true, e.id, e.prev_hash, e.hash FROM ledger_events e
                     WHERE e.idempotency_key = ANY (keys) ORDER BY e.id;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    h_id := coalesce(h_id, 0);
    h_hash := coalesce(h_hash, repeat('0', 64));
    FOR r IN SELECT x FROM jsonb_array_elements(p_rows) x LOOP
        h_id := h_id + 1;
        new_hash := encode(sha256(convert_to((r->>'p0') || h_id::text || (r->>'p1') || h_hash || (r->>'p2'),
                                             'UTF8')), 'hex');
        INSERT INTO ledger_events (id, record_id, action, "values", analyst, time, reason, bulk_id, undoes,
                                   idempotency_key, prev_hash, province, reason_code, hash)
        VALUES (h_id, r->>'record_id', r->>'action', r->>'values', r->>'analyst', r->>'time', r->>'reason',
                r->>'bulk_id', (r->>'undoes')::bigint, r->>'idempotency_key', h_hash, r->>'province',
                r->>'reason_code', new_hash);
        replayed := false; id := h_id; prev_hash := h_hash; hash := new_hash;
        RETURN NEXT;
        h_hash := new_hash;
    END LOOP;
END $$;

-- the bulk acceptances a confirm may name: id, analyst and size only, whatever the caller may see
CREATE OR REPLACE FUNCTION ledger_bulk_info(p_bulk_id text, OUT analyst text, OUT n bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT min(analyst), count(*) FROM ledger_events WHERE bulk_id = p_bulk_id AND action = 'bulk_accept'
$$;

ALTER TABLE ledger_events ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS ledger_read ON ledger_events;
-- (SELECT f()) is evaluated once per statement, not once per row
CREATE POLICY ledger_read ON ledger_events FOR SELECT
    USING ((SELECT ledger_my_provinces()) IS NULL OR province = ANY ((SELECT ledger_my_provinces())::text[]));
DROP POLICY IF EXISTS ledger_write ON ledger_events;
CREATE POLICY ledger_write ON ledger_events FOR INSERT
    WITH CHECK (
        analyst = current_user
        AND ((SELECT ledger_my_provinces()) IS NULL OR province = ANY ((SELECT ledger_my_provinces())::text[]))
        AND (action <> 'confirm_bulk' OR (
                (pg_has_role(current_user, 'vax_supervisor', 'MEMBER')
                 OR pg_has_role(current_user, 'vax_national', 'MEMBER'))
                AND (SELECT b.analyst FROM ledger_bulk_info(bulk_id) b) IS DISTINCT FROM current_user))
    );
ALTER TABLE ledger_scopes ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS ledger_scopes_own ON ledger_scopes;
CREATE POLICY ledger_scopes_own ON ledger_scopes FOR SELECT USING (role_name = current_user);
"""

#: tables whose rows never change: each refuses UPDATE/DELETE (per row) and TRUNCATE (per statement)
APPEND_ONLY = ("ledger_events", "ledger_meta")
_APPEND_ONLY_DDL = "".join(
    f"DROP TRIGGER IF EXISTS {t}_no_{name} ON {t};\n"
    f"CREATE TRIGGER {t}_no_{name} BEFORE {ops} ON {t}\n"
    f"    FOR EACH {each} EXECUTE FUNCTION ledger_refuse_change();\n"
    for t in APPEND_ONLY
    for name, ops, each in (("update", "UPDATE OR DELETE", "ROW"), ("truncate", "TRUNCATE", "STATEMENT")))

_ROLES_DDL = """
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['vax_analyst', 'vax_supervisor', 'vax_national'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END $$;
REVOKE ALL ON ledger_events, ledger_meta, ledger_scopes FROM PUBLIC;
GRANT SELECT, INSERT ON ledger_events TO vax_analyst, vax_supervisor, vax_national;
GRANT SELECT ON ledger_meta, ledger_scopes TO vax_analyst, vax_supervisor, vax_national;
REVOKE ALL ON FUNCTION ledger_lock_head(), ledger_my_provinces(), ledger_bulk_info(text), ledger_append(jsonb)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_lock_head(), ledger_my_provinces(), ledger_bulk_info(text), ledger_append(jsonb)
    TO vax_analyst, vax_supervisor, vax_national;
"""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _where(conninfo: psycopg.ConnectionInfo) -> str:
    """The ledger's address without user or password (usable as a ``--ledger`` URL)."""
    host = conninfo.host or "localhost"
    if host.startswith("/"):  # a unix socket folder
        return f"postgresql:///{conninfo.dbname}?host={host}&port={conninfo.port}"
    return f"postgresql://{host}:{conninfo.port}/{conninfo.dbname}"


def _split_options(url: str) -> tuple[str, dict[str, str]]:
    """Take vaxlib's own ``vax_*`` query options out of a URL (libpq would refuse them)."""
    scheme, rest = url.split("://", 1)
    base, _, query = rest.partition("?")
    keep, ours = [], {}
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        (ours.__setitem__(key, value) if key.startswith("vax_") else keep.append(part))
    return base + ("?" + "&".join(keep) if keep else ""), ours


def _connect(rest: str) -> psycopg.Connection:
    # psycopg takes postgresql:// URLs; a SQLAlchemy-style driver suffix is dropped
    try:
        conn = psycopg.connect(f"postgresql://{rest}", autocommit=True, connect_timeout=10,
                               application_name="vaxlib-ledger")
    except psycopg.Error as exc:
        # libpq names host, port and database, never the password
        raise LedgerBackendError(f"cannot connect to the ledger database: {_one_line(exc)}") from None
    conn.execute("SET synchronous_commit = on")
    return conn


class _PgTransaction(LedgerTransaction):
    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def head(self) -> tuple[int, str]:
        hid, hhash = self.conn.execute("SELECT head_id, head_hash FROM ledger_lock_head()").fetchone()
        return (int(hid), hhash) if hid is not None else (0, GENESIS_HASH)

    def find_keys(self, keys: Sequence[str]) -> list[dict[str, Any]]:
        rows = self.conn.execute(f"SELECT {_SELECT} FROM ledger_events WHERE idempotency_key = ANY(%s) "
                                 f"ORDER BY id", (list(keys),)).fetchall()
        return [dict(zip(_COLS, r)) for r in rows]

    def get(self, event_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(f"SELECT {_SELECT} FROM ledger_events WHERE id = %s", (event_id,)).fetchone()
        return dict(zip(_COLS, row)) if row else None

    def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in _COLS)
        marks = sql.SQL(", ").join(sql.Placeholder() * len(_COLS))
        with self.conn.cursor() as cur:
            cur.executemany(sql.SQL("INSERT INTO ledger_events ({}) VALUES ({})").format(cols, marks),
                            [tuple(r.get(c) for c in _COLS) for r in rows])


class PostgresBackend(LedgerBackend):
    """Ledger storage in PostgreSQL (see the module docstring).

    Parameters
    ----------
    url
        ``postgresql://user:password@host:port/dbname`` or with
        ``?host=/socket/dir``; the password is never shown in messages.
    create
        Create the schema and roles when missing (needs the rights of the
        database owner; :func:`init_schema`).
    readonly
        Only read.
    """

    def __init__(self, url: str, *, create: bool = False, readonly: bool = False):
        rest, options = _split_options(url)
        self.commit_mode = options.pop("vax_commit", "grouped")
        if self.commit_mode not in ("grouped", "serial") or options:
            raise LedgerBackendError(f"unknown ledger URL option(s): {sorted(options) or ['vax_commit']} "
                                     f"(vax_commit=grouped|serial)")
        self.conn = _connect(rest)
        self._lock = threading.RLock()
        self._where = _where(self.conn.info)
        self.url = self._where
        exists = self.conn.execute("SELECT to_regclass('ledger_events') IS NOT NULL").fetchone()[0]
        self.created = False
        if not exists:
            if not create:
                self.conn.close()
                raise LedgerBackendError(f"no ledger in {self._where} (create it with: vax ledger init "
                                         f"--ledger {self._where})")
            init_schema(self.conn)
            self.created = True
        self.readonly = readonly
        self._identity: str | None = None
        self._uid: str | None = None

    # ---------------------------------------------------------------- LedgerBackend
    @contextlib.contextmanager
    def write(self) -> Iterator[LedgerTransaction]:
        if self.readonly:
            raise LedgerError("ledger opened read-only")
        with self._lock:
            try:
                with self.conn.transaction():
                    if self.commit_mode == "grouped":
                        self.conn.execute("SET LOCAL synchronous_commit = off")
                    yield _PgTransaction(self.conn)
                if self.commit_mode == "grouped":
                    self.sync()
            except psycopg.errors.InsufficientPrivilege as exc:
                raise LedgerError(f"the database refused the append: {_one_line(exc)}") from None
            except psycopg.errors.UniqueViolation as exc:
                raise LedgerError(f"append collided with a stored event: {_one_line(exc)}") from None
            except psycopg.OperationalError as exc:
                raise LedgerBackendError(f"ledger database unreachable: {_one_line(exc)}") from None

    def rows(self, after_id: int = 0) -> Iterator[dict[str, Any]]:
        with self._lock:
            self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try:
                rows = self.conn.execute(f"SELECT {_SELECT} FROM ledger_events WHERE id > %s ORDER BY id",
                                         (int(after_id),)).fetchall()
            finally:
                self.conn.execute("COMMIT")
        for r in rows:
            yield dict(zip(_COLS, r))

    def append_prepared(self, rows: Sequence[dict[str, Any]]) -> list[tuple[bool, int, str, str]]:
        """Append rows whose canonical JSON is split around id and prev_hash, in one round trip.

        One pipeline: ``BEGIN``, ``SET LOCAL synchronous_commit = off`` (grouped mode),
        ``ledger_append``, ``COMMIT``, then the durability wait (:data:`_SYNC_SQL`).

        Returns ``(replayed, id, prev_hash, hash)`` per row; ``replayed`` rows are already stored
        events with one of the idempotency keys (nothing was appended).
        """
        if self.readonly:
            raise LedgerError("ledger opened read-only")
        with self._lock:
            try:
                try:
                    result = self._append_pipeline(rows)
                except psycopg.Error:
                    # a failed pipeline leaves the explicit transaction open (aborted): end it
                    if not self.conn.closed and \
                            self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                        with contextlib.suppress(psycopg.Error):
                            self.conn.execute("ROLLBACK")
                    raise
            except psycopg.errors.InsufficientPrivilege as exc:
                raise LedgerError(f"the database refused the append: {_one_line(exc)}") from None
            except psycopg.errors.UniqueViolation as exc:
                raise LedgerError(f"append collided with a stored event: {_one_line(exc)}") from None
            except psycopg.OperationalError as exc:
                raise LedgerBackendError(f"ledger database unreachable: {_one_line(exc)}") from None
        return result

    def _append_pipeline(self, rows: Sequence[dict[str, Any]]) -> list[tuple[bool, int, str, str]]:
        # plain BEGIN/COMMIT statements, not conn.transaction(): psycopg syncs the pipeline at the
        # end of a transaction block, which made each append two round trips instead of one
        with self.conn.pipeline() as pipe:
            self.conn.execute("BEGIN")
            if self.commit_mode == "grouped":
                self.conn.execute("SET LOCAL synchronous_commit = off")
            cur = self.conn.cursor()
            cur.execute("SELECT replayed, id, prev_hash, hash FROM ledger_append(%s)", (Jsonb(list(rows)),))
            fetched = None
            if _fault_before_commit is not None:  # tests: rows inserted, lock held, no COMMIT
                pipe.sync()
                fetched = cur.fetchall()
                _fault_before_commit()
            self.conn.execute("COMMIT")
            if self.commit_mode == "grouped":
                # queued behind the COMMIT in the same round trip: its own synchronous
                # transaction, so the append returns only once the WAL is on disk
                self.conn.execute(_SYNC_SQL)
        if fetched is None:
            fetched = cur.fetchall()
        return [(bool(a), int(b), c, d) for a, b, c, d in fetched]

    def get(self, event_id: int) -> dict[str, Any] | None:
        """One stored event (as this role may see it), or None.  Events never change: no lock needed."""
        with self._lock:
            row = self.conn.execute(f"SELECT {_SELECT} FROM ledger_events WHERE id = %s", (event_id,)).fetchone()
        return dict(zip(_COLS, row)) if row else None

    def find_keys(self, keys: Sequence[str]) -> list[dict[str, Any]]:
        """Stored events with these idempotency keys (as this role may see them), by id."""
        with self._lock:
            rows = self.conn.execute(f"SELECT {_SELECT} FROM ledger_events WHERE idempotency_key = ANY(%s) "
                                     f"ORDER BY id", (list(keys),)).fetchall()
        return [dict(zip(_COLS, r)) for r in rows]

    def sync(self) -> None:
        """Wait until everything this session has seen committed is flushed to disk.

        A transaction that writes one WAL record and commits with
        ``synchronous_commit = on`` waits for the flush up to its own commit
        record, which comes after every commit this session has observed.
        """
        with self._lock:
            self.conn.execute(_SYNC_SQL)

    def stored_head(self) -> tuple[int, str] | None:
        # no mutable head row: the application roles may not UPDATE anything; the witnessed
        # heads (anchors) and the triggers cover tail deletion instead
        return None

    def uid(self) -> str | None:
        # read once per connection: a connection stays on one database, and ledger_meta is
        # append-only (its triggers refuse UPDATE/DELETE), so the uid cannot change under it;
        # every append witnesses its head with the uid, and this saved one round trip each
        if self._uid is None:
            with self._lock:
                row = self.conn.execute("SELECT value FROM ledger_meta WHERE key = 'ledger_uid'").fetchone()
            self._uid = row[0] if row else None
        return self._uid

    def location(self) -> str | None:
        return self._where

    def identity(self) -> str:
        """``current_user``: the role every event appended through this connection is recorded under."""
        if self._identity is None:
            with self._lock:
                self._identity = self.conn.execute("SELECT current_user").fetchone()[0]
        return self._identity

    def scope(self) -> tuple[str, ...] | None:
        """Provinces the connected role may read and decide (None: every province)."""
        with self._lock:
            row = self.conn.execute("SELECT ledger_my_provinces()").fetchone()
        return None if row[0] is None else tuple(row[0])

    def has_role(self, role: str) -> bool:
        with self._lock:
            return bool(self.conn.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')",
                                          (role,)).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self.conn.close()


def init_schema(conn: psycopg.Connection) -> None:
    """Create the ledger's tables, triggers, functions, policies and group roles (idempotent).

    Run as the database owner (or a superuser): the tables belong to that
    role, which is the only one that could ever alter them.
    """
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            conn.execute(_ROLES_DDL.split("REVOKE", 1)[0])  # the roles first: the policies name them
            conn.execute(_DDL.replace("%(lock)s", str(LOCK_KEY)).replace("%(append_only)s", _APPEND_ONLY_DDL))
            conn.execute(_ROLES_DDL)
            from vaxlib.review.published import ensure_schema  # the published review workspace

            ensure_schema(conn)
            conn.execute("INSERT INTO ledger_meta(key, value) VALUES ('schema_version', %s), "
                         "('ledger_uid', %s) ON CONFLICT (key) DO NOTHING", (SCHEMA_VERSION, uuid.uuid4().hex))
    except psycopg.Error as exc:
        raise LedgerBackendError(f"cannot create the ledger schema: {_one_line(exc)}") from None


def add_user(conn: psycopg.Connection, name: str, role: str, provinces: Sequence[str] = (),
             password: str | None = None) -> None:
    """Create (or update) a login role for one person and set its provinces.

    Parameters
    ----------
    role
        ``"analyst"``, ``"supervisor"`` or ``"national"``.
    provinces
        GSO codes (``"79"``); ignored for ``national``.
    """
    group = f"vax_{role}"
    if group not in ROLES:
        raise LedgerError(f"role must be analyst, supervisor or national, not {role!r}")
    if role != "national" and not provinces:
        raise LedgerError(f"an {role} needs at least one province")
    try:
        with conn.transaction():
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
            verb = sql.SQL("ALTER ROLE" if exists else "CREATE ROLE")
            stmt = sql.SQL("{} {} LOGIN").format(verb, sql.Identifier(name))
            if password is not None:
                stmt = sql.SQL("{} PASSWORD {}").format(stmt, sql.Literal(password))
            conn.execute(stmt)
            for other in ROLES:
                conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(other), sql.Identifier(name)))
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name)))
            conn.execute("DELETE FROM ledger_scopes WHERE role_name = %s", (name,))
            if role != "national":
                with conn.cursor() as cur:
                    cur.executemany("INSERT INTO ledger_scopes(role_name, province) VALUES (%s, %s)",
                                    [(name, str(p)) for p in dict.fromkeys(provinces)])
    except psycopg.Error as exc:
        raise LedgerBackendError(f"cannot set up user {name!r}: {_one_line(exc)}") from None


def _from_url(url: str, *, create: bool = False, readonly: bool = False) -> LedgerBackend:
    return PostgresBackend(url, create=create, readonly=readonly)


register_backend("postgresql", _from_url)
register_backend("postgres", _from_url)
