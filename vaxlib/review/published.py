"""The review workspace published into the team database (``vax ledger publish``).

Why.  Row-level security keeps an analyst from *deciding* another province's
records, but the tables of a run folder (vaccinations, matches, candidates,
register, feedback) are files: whoever can read them can read every
province.  In team mode the analysts therefore never read the run folder.
The operator publishes what review needs into the team database, and every
analyst's notebook or web app reads it back through their own database role,
so row-level security decides what comes back, the same way it scopes the
ledger events.  The run folder stays the operator's (its files carry no
"other" permissions: :func:`vaxlib.runs.atomic_run`).

What is published, per province P (the record's answering province:
:func:`~vaxlib.review.ledger.answering_province`)
    the records of P that review needs (match status ``fix``, ``review`` or
    ``unmatched``, and P's records that an open feedback item P may see names)
    with their ``matches`` and ``candidates`` rows; the register rows of every
    person suggested for those records and (unless ``register="suggested"``)
    of P's residents, for the register search; P's open feedback items
    (:func:`vaxlib.workspace.scoped_feedback`) and their messages.  Records
    with no province go under ``""``, which only a national role reads.
How
    ``review_parts(version, province, name, part, rows, data)``: each
    province's slice of each table as Parquet bytes (types come back exactly as
    written; a slice over :data:`PART_ROWS` rows is split).  Its policy is the
    ledger's: a role reads the rows of ``ledger_my_provinces()`` (every row for
    ``vax_national``).  ``review_versions`` says what was published, when and by
    whom (counts only); ``review_schemas`` holds each table's columns as an
    empty Parquet file, so a province with nothing to review still gets tables
    with the right columns.  Only the owner (who ran ``vax ledger init``)
    writes them; the roles may only SELECT.
Republishing
    One transaction: the new version's rows go in, the old version's rows are
    deleted, then COMMIT.  A reader sees the old version or the new one, never
    a mixture; a publish that fails or is killed leaves the old version.  The
    ledger's events are other tables and are never touched: decisions made on
    the old version stay (they name records, not versions).
"""
from __future__ import annotations

import datetime as _dt
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vaxlib.review.ledger import LedgerError, answering_province

__all__ = ["publish", "load_published", "is_team_ledger", "Published", "PublishResult", "TABLES", "PART_ROWS",
           "ensure_schema"]

#: tables of the published workspace, in the order they are written
TABLES = ("vaccinations", "matches", "candidates", "registry", "feedback_queue", "feedback_messages")
WORKSPACE_TABLES = TABLES[:4]
FEEDBACK_TABLES = TABLES[4:]
#: rows per stored part (keeps each bytea value far below PostgreSQL's 1 GB limit)
PART_ROWS = 200_000
#: the advisory lock of publishing (one publisher at a time; "vaxpubl" in ASCII)
PUBLISH_LOCK = 0x7661787075626C
#: match statuses the review queue can show (its "every mismatch" filter)
_REVIEW_STATUSES = ("fix", "review", "unmatched")

_DDL = """
CREATE TABLE IF NOT EXISTS review_versions (
    version bigint PRIMARY KEY,
    published_at text NOT NULL,
    published_by text NOT NULL,
    run text NOT NULL,
    provinces integer NOT NULL,
    records bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS review_schemas (
    version bigint NOT NULL REFERENCES review_versions(version),
    name text NOT NULL,
    data bytea NOT NULL,
    dtypes text NOT NULL,
    PRIMARY KEY (version, name)
);
CREATE TABLE IF NOT EXISTS review_parts (
    version bigint NOT NULL REFERENCES review_versions(version),
    province text NOT NULL,
    name text NOT NULL,
    part integer NOT NULL,
    rows integer NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (version, province, name, part)
);
ALTER TABLE review_parts ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS review_parts_read ON review_parts;
CREATE POLICY review_parts_read ON review_parts FOR SELECT
    USING ((SELECT ledger_my_provinces()) IS NULL OR province = ANY ((SELECT ledger_my_provinces())::text[]));
REVOKE ALL ON review_versions, review_schemas, review_parts FROM PUBLIC;
GRANT SELECT ON review_versions, review_schemas, review_parts TO vax_analyst, vax_supervisor, vax_national;
"""


def ensure_schema(conn: Any) -> None:
    """Create the published-workspace tables and their policy (idempotent; the ledger owner, in a transaction)."""
    conn.execute(_DDL)


def is_team_ledger(ledger: Any) -> bool:
    """Whether ``ledger`` is a PostgreSQL (team) ledger, whose workspace comes from the database."""
    import sys

    pg = sys.modules.get("vaxlib.review.pg")  # not imported: no PostgreSQL ledger was ever opened
    return pg is not None and isinstance(getattr(ledger, "backend", None), pg.PostgresBackend)


# --------------------------------------------------------------------------- splitting a run by province

def _review_ids(ws: Any) -> set[str]:
    m = ws.matches
    return set(m.loc[m["status"].astype(str).isin(_REVIEW_STATUSES), "record_id"].astype(str))


def _ids_of(frame: pd.DataFrame | None) -> pd.Series:
    return frame["record_id"].astype(str) if frame is not None else pd.Series([], dtype=str)


#: what of the register is published: every resident of the province and the suggested persons
#: (the register search finds people for unmatched records), or the suggested persons only
REGISTER_SCOPES = ("residents", "suggested")


def province_slices(ws: Any, queue: pd.DataFrame | None, messages: pd.DataFrame | None, *,
                    register: str = "residents") -> dict[str, dict[str, pd.DataFrame]]:
    """Each province's slice of each table (see the module docstring); ``""``: records with no province."""
    if register not in REGISTER_SCOPES:
        raise ValueError(f"register must be one of {REGISTER_SCOPES}, not {register!r}")
    from vaxlib.workspace import scoped_feedback, scoped_registry

    vacc = ws.vaccinations
    province = answering_province(vacc).fillna("").astype(str).to_numpy()
    review = _review_ids(ws)
    vids = vacc["record_id"].astype(str)
    out: dict[str, dict[str, pd.DataFrame]] = {}
    feedback_provinces = set(queue["province"].dropna().astype(str)) if queue is not None and "province" in queue \
        else set()
    for p in sorted(set(province) | feedback_provinces):
        mine = vids[province == p]
        items = None
        if queue is not None:
            items = scoped_feedback(queue, [p], set(mine)) if p else queue.iloc[0:0]
        linked = set()
        if items is not None and "record_ids" in items:
            linked = {r for s in items["record_ids"].fillna("").astype(str) for r in s.split(";") if r}
        keep = set(mine) & (review | linked)
        tables: dict[str, pd.DataFrame] = {}
        tables["vaccinations"] = vacc[vids.isin(keep).to_numpy()]
        tables["matches"] = ws.matches[_ids_of(ws.matches).isin(keep).to_numpy()]
        if ws.candidates is not None:
            tables["candidates"] = ws.candidates[_ids_of(ws.candidates).isin(keep).to_numpy()]
        if ws.registry is not None:
            persons = set(tables["matches"]["person_id"].dropna().astype(str))
            if "candidates" in tables:
                persons |= set(tables["candidates"]["person_id"].dropna().astype(str))
            residents = {p} if p and register == "residents" else set()
            tables["registry"] = scoped_registry(ws.registry, residents, persons)
        if items is not None:
            tables["feedback_queue"] = items
            if messages is not None:
                ids = set(items["feedback_id"].astype(str))
                tables["feedback_messages"] = messages[messages["feedback_id"].astype(str).isin(ids).to_numpy()]
        if any(len(t) for t in tables.values()):
            out[p] = {k: t.reset_index(drop=True) for k, t in tables.items()}
    return out


def _parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False, compression="zstd")
    return buf.getvalue()


def _frame(data: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(bytes(data)))


def _dtypes(frame: pd.DataFrame) -> str:
    return json.dumps({str(c): str(t) for c, t in frame.dtypes.items()})


def _restore(frame: pd.DataFrame, dtypes: str) -> pd.DataFrame:
    """Give text columns back the types they were published with (Parquet reads ``object`` as ``str``).

    The contract's readers hand out ``object`` columns with ``None`` for a missing value; the review
    panel then sees the same tables whether they came from the run folder or the database.
    """
    for col, dtype in json.loads(dtypes).items():
        if dtype == "object" and col in frame and frame[col].dtype != object:
            values = frame[col].astype(object)
            frame[col] = values.where(frame[col].notna(), None)
    return frame


# --------------------------------------------------------------------------- publishing

@dataclass
class PublishResult:
    """What one ``vax ledger publish`` wrote (counts only: nothing personal)."""

    version: int
    provinces: int
    records: int
    rows: dict[str, int] = field(default_factory=dict)
    replaced: int | None = None


def _run_label(run_dir: Path) -> str:
    from vaxlib.runs import RunFolder, read_manifest

    try:
        created = read_manifest(RunFolder(run_dir).match).get("created_at", "")
    except Exception:  # noqa: BLE001 - the label is informative only; load_workspace checked the run
        created = ""
    return f"{run_dir.resolve().name} (match {created})" if created else run_dir.resolve().name


def _check_owner(ledger: Any) -> None:
    """Refuse a login that may not publish (anyone but the ledger tables' owner or a superuser)."""
    backend = ledger.backend
    with backend._lock:
        ok = backend.conn.execute(
            "SELECT pg_has_role(current_user, (SELECT tableowner FROM pg_tables WHERE schemaname = "
            "current_schema() AND tablename = 'ledger_events'), 'USAGE') "
            "OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)").fetchone()[0]
    if not ok:
        raise LedgerError.say("publish_not_owner", user=backend.identity())


def publish(run_dir: str | Path, ledger: Any, *, match_dir: str | Path | None = None,
            register: str = "residents") -> PublishResult:
    """Publish the review workspace of a run folder into the team database, replacing the previous version.

    Parameters
    ----------
    run_dir
        A ``vax demo`` / ``vax match`` folder (:func:`vaxlib.workspace.load_workspace` reads it whole).
    ledger
        The team ledger opened with the **owner's** login (who ran ``vax ledger init``).
    match_dir
        The match run when it is not ``run_dir/match``.
    register
        ``"residents"`` (default): the province's residents and the persons suggested for its
        records, so the panel's register search can link an unmatched record; ``"suggested"``:
        the suggested persons only (less personal data per analyst, e.g. for a province of
        millions; the search then finds only those).

    Raises
    ------
    LedgerError
        Not a PostgreSQL ledger, or the database refused (e.g. an analyst's login).
    """
    import psycopg

    from vaxlib.review.pg import _one_line
    from vaxlib.runs import fault_point
    from vaxlib.workspace import load_feedback, load_workspace

    if not is_team_ledger(ledger):
        raise LedgerError.say("publish_pg_only")
    _check_owner(ledger)  # before reading a national run for nothing
    ws = load_workspace(run_dir, match_dir=match_dir)
    queue, messages = load_feedback(run_dir)
    slices = province_slices(ws, queue, messages, register=register)
    schemas = {"vaccinations": ws.vaccinations, "matches": ws.matches, "candidates": ws.candidates,
               "registry": ws.registry, "feedback_queue": queue, "feedback_messages": messages}
    schemas = {k: (_parquet(v.iloc[0:0]), _dtypes(v)) for k, v in schemas.items() if v is not None}
    rows: dict[str, int] = {}
    parts = []
    for p, tables in slices.items():
        for name in TABLES:
            t = tables.get(name)
            if t is None or t.empty:
                continue
            rows[name] = rows.get(name, 0) + len(t)
            for i, start in enumerate(range(0, len(t), PART_ROWS)):
                chunk = t.iloc[start:start + PART_ROWS]
                parts.append((p, name, i, len(chunk), _parquet(chunk)))
    records = rows.get("vaccinations", 0)
    backend = ledger.backend
    conn = backend.conn
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    try:
        with backend._lock:
            if not conn.execute("SELECT to_regclass('review_parts') IS NOT NULL").fetchone()[0]:
                # a ledger made before publishing existed: add the tables once, in their own transaction
                # (their DDL locks the tables: never inside a publish, where it would block every reader)
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (PUBLISH_LOCK,))
                    ensure_schema(conn)
        with backend._lock, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (PUBLISH_LOCK,))
            old = conn.execute("SELECT max(version) FROM review_versions").fetchone()[0]
            version = int(old or 0) + 1
            conn.execute("INSERT INTO review_versions (version, published_at, published_by, run, provinces, "
                         "records) VALUES (%s, %s, current_user, %s, %s, %s)",
                         (version, now, _run_label(Path(run_dir)), len([p for p in slices if p]), records))
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO review_schemas (version, name, data, dtypes) VALUES (%s, %s, %s, %s)",
                                [(version, k, data, dtypes) for k, (data, dtypes) in schemas.items()])
                with cur.copy("COPY review_parts (version, province, name, part, rows, data) FROM STDIN") as copy:
                    for p, name, i, n, data in parts:
                        copy.write_row((version, p, name, i, n, data))
            fault_point("publish:parts")  # tests: the new version is in, the old not yet deleted
            conn.execute("DELETE FROM review_parts WHERE version < %s", (version,))
            conn.execute("DELETE FROM review_schemas WHERE version < %s", (version,))
            fault_point("publish:commit")
    except psycopg.errors.InsufficientPrivilege as exc:
        raise LedgerError.say("publish_refused", reason=_one_line(exc)) from None
    except psycopg.Error as exc:
        raise LedgerError.say("publish_failed", reason=_one_line(exc)) from None
    return PublishResult(version=version, provinces=len([p for p in slices if p]), records=records, rows=rows,
                         replaced=int(old) if old else None)


# --------------------------------------------------------------------------- reading it back

@dataclass
class Published:
    """The published tables this role may read (see :func:`load_published`)."""

    version: int
    published_at: str
    run: str
    location: str
    scope: tuple[str, ...] | None
    tables: dict[str, pd.DataFrame | None]

    def workspace(self, root: str | Path | None = None) -> Any:
        """As a :class:`vaxlib.workspace.Workspace` (``root`` only names it; nothing is read there)."""
        from vaxlib.workspace import Workspace

        t = self.tables
        return Workspace(root=Path(root) if root is not None else Path("."), vaccinations=t["vaccinations"],
                         matches=t["matches"], candidates=t.get("candidates"), registry=t.get("registry"),
                         scope=self.scope, source=f"{self.location} (v{self.version}, {self.run})")

    def feedback(self) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
        """The feedback queue and messages, as :func:`vaxlib.workspace.load_feedback` returns them."""
        return self.tables.get("feedback_queue"), self.tables.get("feedback_messages")


#: key columns: a row published under two of a role's provinces (a register person, a feedback item) comes once
_KEYS = {"registry": "person_id", "feedback_queue": "feedback_id", "feedback_messages": "feedback_id"}


def load_published(ledger: Any, tables: Sequence[str] = TABLES) -> Published:
    """Read the current published version as ``ledger``'s own role (row-level security scopes the rows).

    One ``REPEATABLE READ`` snapshot: a republish running at the same time is seen whole or not at all.

    Raises
    ------
    LedgerError
        Nothing published yet (names ``vax ledger publish``), or the database refused the read.
    """
    import psycopg

    from vaxlib.review.pg import _one_line

    backend = ledger.backend
    conn = backend.conn
    try:
        with backend._lock:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try:
                exists = conn.execute("SELECT to_regclass('review_versions') IS NOT NULL").fetchone()[0]
                head = conn.execute("SELECT version, published_at, run FROM review_versions "
                                    "ORDER BY version DESC LIMIT 1").fetchone() if exists else None
                if head is None:
                    raise LedgerError.say("publish_nothing", where=backend.location())
                schemas = {name: (data, dtypes) for name, data, dtypes in conn.execute(
                    "SELECT name, data, dtypes FROM review_schemas WHERE version = %s AND name = ANY(%s)",
                    (head[0], list(tables))).fetchall()}
                parts = conn.execute("SELECT name, data FROM review_parts WHERE version = %s AND name = ANY(%s) "
                                     "ORDER BY province, name, part", (head[0], list(tables))).fetchall()
                scope = conn.execute("SELECT ledger_my_provinces()").fetchone()[0]
            finally:
                conn.execute("COMMIT")
    except psycopg.Error as exc:
        raise LedgerError.say("publish_unreadable", reason=_one_line(exc)) from None
    frames: dict[str, list[pd.DataFrame]] = {}
    for name, data in parts:
        frames.setdefault(name, []).append(_frame(data))
    out: dict[str, pd.DataFrame | None] = {}
    for name in tables:
        if name not in schemas:
            out[name] = None  # the run had no such table
            continue
        got = frames.get(name)
        # every part is a slice of one frame, so the parts share its types; the empty schema
        # stands in only when this role may read no part
        t = pd.concat(got, ignore_index=True) if got else _frame(schemas[name][0])
        if name in _KEYS and got and len(got) > 1:
            t = t.drop_duplicates(_KEYS[name]).reset_index(drop=True)
        out[name] = _restore(t, schemas[name][1])
    return Published(version=int(head[0]), published_at=head[1], run=head[2], location=backend.location(),
                     scope=None if scope is None else tuple(scope), tables=out)
