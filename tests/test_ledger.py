"""The decision ledger: concurrency, undo, idempotency, validation, tamper detection.

Tests taking ``site`` run on SQLite and on a throwaway PostgreSQL (ids ``[sqlite]`` /
``[postgres]``: ``pytest -k postgres`` selects the PostgreSQL cases); ``url`` is SQLite only.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaxlib.review.ledger import (
    LedgerError,
    GENESIS_HASH,
    IdempotencyConflictError,
    InvalidEditError,
    Ledger,
    LedgerBackendError,
    SQLiteBackend,
    UnknownEventError,
    event_hash,
)


from vaxlib.cli import main as vax_main  # noqa: E402  (one broken part no longer breaks the CLI)

from conftest import make_site  # noqa: E402


@pytest.fixture
def url(tmp_path):
    """A new, empty ledger (made the only way a ledger is made: asked for)."""
    u = f"sqlite:///{tmp_path / 'ledger.db'}"
    Ledger.open(u, create=True).close()
    return u


def _writer(url: str, worker: int, n: int, barrier) -> None:
    with Ledger.open(url) as led:
        assert led.identity() in (None, f"analyst{worker}")
        barrier.wait()  # everyone has the database open: the appends really start together
        for i in range(n):
            key = f"w{worker}-{i}"
            ev = led.accept(f"R{worker}-{i}", analyst=f"analyst{worker}", idempotency_key=key)
            if i % 50 == 0:  # a client retrying a confirmed append must not duplicate it
                assert led.accept(f"R{worker}-{i}", analyst=f"analyst{worker}", idempotency_key=key) == ev
            if i % 100 == 1:  # 10 undos per worker
                led.undo(ev.id, analyst=f"analyst{worker}", idempotency_key=f"u{key}")
            if i % 250 == 3:  # 4 bulk acceptances of 3 records per worker
                led.bulk_accept([f"B{worker}-{i}-{j}" for j in range(3)], analyst=f"analyst{worker}",
                                idempotency_key=f"b{key}")


@pytest.mark.slow
@pytest.mark.parametrize("backend, synchronous, per_worker", [
    ("sqlite", "NORMAL", 1000), ("sqlite", "FULL", 120), ("postgres", None, 250),
], ids=["sqlite-NORMAL", "sqlite-FULL", "postgres"])
def test_concurrent_processes_lose_and_duplicate_nothing(backend, synchronous, per_worker, tmp_path, request):
    """4 processes at once, each as its own analyst (on PostgreSQL its own login role).

    Serialisation does not depend on the fsync mode, so the big run uses SQLite's NORMAL (fast); a
    smaller run checks the default FULL (one fsync per commit, ~100-250 appends/s here).  PostgreSQL
    always commits with synchronous_commit = on."""
    workers = 4
    site = make_site(backend, tmp_path, request)
    url = site.url
    if site.backend == "sqlite":
        urls = [f"{url}?synchronous={synchronous}"] * workers
    else:
        urls = [site.url_for(f"analyst{w}") for w in range(workers)]
    ctx = mp.get_context("fork")  # children inherit the imports: start-up is not what we measure
    barrier = ctx.Barrier(workers)
    procs = [ctx.Process(target=_writer, args=(urls[w], w, per_worker, barrier)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * workers
    with Ledger.open(url) as led:
        events = led.events()
        n_undo = len(range(1, per_worker, 100))
        total = workers * (per_worker + n_undo + 3 * len(range(3, per_worker, 250)))
        assert len(events) == total
        assert events["id"].tolist() == list(range(1, total + 1))
        accepted = {f"R{w}-{i}" for w in range(workers) for i in range(per_worker)}
        bulk = {f"B{w}-{i}-{j}" for w in range(workers) for i in range(3, per_worker, 250) for j in range(3)}
        assert set(events["record_id"]) == accepted | bulk
        assert events["idempotency_key"].is_unique
        assert (events["action"] == "undo").sum() == n_undo * workers
        # the writers really interleaved (otherwise this test proves little): one block per
        # writer, one after another, would make workers - 1 switches.  SQLite's lock is not
        # fair, so writers run in long stretches (8 switches seen on a busy 2-core machine);
        # under FULL (slow commits) one writer may even run to the end.
        switches = int((events["analyst"] != events["analyst"].shift()).sum()) - 1
        assert set(events["analyst"]) == {f"analyst{w}" for w in range(workers)}
        if synchronous != "FULL":
            assert switches > workers - 1, switches
        result = led.verify()
        assert result.ok, result.describe()
        assert result.events_checked == total
        decided = set(led.current_decisions()["record_id"])
        undone = {f"R{w}-{i}" for w in range(workers) for i in range(1, per_worker, 100)}
        assert decided == (accepted - undone) | bulk


def test_chain_links_and_hashes(site):
    with Ledger.open(site.url) as led:
        a = led.accept("R1", analyst="lan", reason="khớp CCCD")
        b = led.reject("R2", reason_code="wrong_person", analyst="minh")
    assert a.id == 1 and b.id == 2
    assert a.prev_hash == GENESIS_HASH and b.prev_hash == a.hash
    assert a.hash == event_hash(a.to_dict()) and len(a.hash) == 64
    assert a.time.endswith("Z") and a.time[:4] >= "2024"


def test_undo_and_redo(site):
    with Ledger.open(site.url) as led:
        e1 = led.accept("R1", analyst="lan")
        e2 = led.reject("R1", reason_code="wrong_person", analyst="lan", reason="sai người")
        decided = led.current_decisions().set_index("record_id")
        assert decided.loc["R1", "action"] == "reject" and decided.loc["R1", "decision_id"] == e2.id
        u1 = led.undo(e2.id, analyst="lan")
        assert u1.record_id == "R1" and u1.undoes == e2.id and u1.action == "undo"
        decided = led.current_decisions().set_index("record_id")
        assert decided.loc["R1", "action"] == "accept" and decided.loc["R1", "decision_id"] == e1.id
        led.undo(e1.id, analyst="lan")
        assert "R1" not in set(led.current_decisions()["record_id"])
        led.undo(u1.id, analyst="lan", reason="làm lại")  # undo the undo: the reject is back
        decided = led.current_decisions().set_index("record_id")
        assert decided.loc["R1", "decision_id"] == e2.id
        # history is never rewritten
        assert led.events()["action"].tolist() == ["accept", "reject", "undo", "undo", "undo"]
        assert led.verify().ok
        with pytest.raises(UnknownEventError):
            led.undo(99, analyst="lan")
        assert len(led.events()) == 5


def test_bulk_accept_and_undo_bulk(site):
    with Ledger.open(site.url) as led:
        led.defer("R2", analyst="lan")
        cid = "dob:day_month_swap|79|CS-79-0123|2021-10"
        evs = led.bulk_accept(["R1", "R2", "R3", "R1"], analyst="lan", cluster_id=cid)
        assert [e.record_id for e in evs] == ["R1", "R2", "R3"]
        assert len({e.bulk_id for e in evs}) == 1 and evs[0].bulk_id
        assert evs[0].values == {"cluster_id": cid}
        d = led.current_decisions().set_index("record_id")
        assert d["action"].to_dict() == {"R1": "bulk_accept", "R2": "bulk_accept", "R3": "bulk_accept"}
        undos = led.undo_bulk(evs[0].bulk_id, analyst="lan")
        assert [u.undoes for u in undos] == [e.id for e in evs]
        d = led.current_decisions().set_index("record_id")
        assert d["action"].to_dict() == {"R2": "defer"}
        assert led.verify().ok


def test_idempotency_keys(site):
    with Ledger.open(site.url) as led:
        a = led.accept("R1", analyst="lan", idempotency_key="k1")
        again = led.accept("R1", analyst="lan", idempotency_key="k1")
        assert again == a and len(led.events()) == 1
        with pytest.raises(IdempotencyConflictError):
            led.reject("R1", reason_code="wrong_person", analyst="lan", idempotency_key="k1")
        bulk = led.bulk_accept(["R2", "R3"], analyst="lan", idempotency_key="b1")
        assert led.bulk_accept(["R2", "R3"], analyst="lan", idempotency_key="b1") == bulk
        assert len(led.events()) == 3


@pytest.mark.parametrize("values, expected", [
    ({"full_name": "  trần   thị  BÌNH "}, {"full_name": "Trần Thị Bình"}),
    ({"dob": "03/12/1985"}, {"dob": "1985-12-03"}),
    ({"dob": "1985-12-03"}, {"dob": "1985-12-03"}),
    ({"sex": "Nữ"}, {"sex": "F"}),
    ({"sex": "nam"}, {"sex": "M"}),
    ({"id_number": "079 185 000 002"}, {"id_number": "079185000002"}),
    ({"id_number": "024123456"}, {"id_number": "024123456"}),
])
def test_edit_values_are_validated_and_normalised(site, values, expected):
    with Ledger.open(site.url) as led:
        ev = led.edit("R1", values, reason_code="document_checked", analyst="lan")
        assert ev.values == expected
        assert led.current_decisions().loc[0, "values"] == expected


@pytest.mark.parametrize("values, field", [
    ({"dob": "31/02/1990"}, "dob"),
    ({"dob": "không rõ"}, "dob"),
    ({"sex": "không rõ"}, "sex"),
    ({"id_number": "12ab"}, "id_number"),
    ({"full_name": "Nguyễn 2"}, "full_name"),
    ({"full_name": "   "}, "full_name"),
    ({"phone": "0912345678"}, "phone"),
    ({}, "values"),
])
def test_invalid_edit_rejected_without_appending(site, values, field):
    with Ledger.open(site.url) as led:
        with pytest.raises(InvalidEditError) as info:
            led.edit("R1", values, reason_code="document_checked", analyst="lan")
        assert info.value.field == field
        # no personal value in the message
        for v in values.values():
            if v.strip():
                assert v not in str(info.value)
        assert len(led.events()) == 0


def test_append_only_guard_and_url_forms(tmp_path):
    path = tmp_path / "sub" / "l.db"
    with Ledger.open(f"sqlite:///{path}", create=True) as led:
        led.accept("R1", analyst="lan")
    assert path.exists()
    with Ledger.open(path) as led:  # plain path
        assert len(led.events()) == 1
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            led.backend.conn.execute("DELETE FROM ledger_events")
        mode = led.backend.conn.execute("PRAGMA journal_mode").fetchone()[0]
        sync = led.backend.conn.execute("PRAGMA synchronous").fetchone()[0]
        assert (mode, sync) == ("wal", 2)  # 2 = FULL
    with Ledger.open("sqlite://") as mem:
        mem.accept("R1", analyst="lan")
        assert mem.verify().ok
    assert isinstance(Ledger.open("sqlite://").backend, SQLiteBackend)


def test_analyst_required(url):
    from vaxlib.review.ledger import LedgerError

    with Ledger.open(url) as led, pytest.raises(LedgerError, match="analyst"):
        led.accept("R1", analyst=" ")


# ---------------------------------------------------------------- tampering

def _seeded(url) -> Path:
    with Ledger.open(url) as led:
        led.accept("R1", analyst="lan")
        led.edit("R2", {"dob": "03/12/1985"}, reason_code="document_checked", analyst="lan")
        led.reject("R3", reason_code="wrong_person", analyst="minh")
        led.defer("R4", analyst="minh")
        led.accept("R5", analyst="minh")
        assert led.verify().ok
    return Path(url.removeprefix("sqlite:///"))


def _raw(db: Path, *sql: str) -> None:
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER IF EXISTS ledger_events_no_update")
    con.execute("DROP TRIGGER IF EXISTS ledger_events_no_delete")
    for s in sql:
        con.execute(s)
    con.commit()
    con.close()


SWAP_3_4 = (
    "UPDATE ledger_events SET id = -3 WHERE id = 3",
    "UPDATE ledger_events SET id = 3 WHERE id = 4",
    "UPDATE ledger_events SET id = 4 WHERE id = -3",
)
# swap two events' contents but keep each row's position and (re-linked) prev_hash
SWAP_CONTENTS = (
    "CREATE TEMP TABLE t AS SELECT * FROM ledger_events WHERE id IN (3, 4)",
    "UPDATE ledger_events SET record_id = (SELECT record_id FROM t WHERE id = 4), "
    "action = (SELECT action FROM t WHERE id = 4), analyst = (SELECT analyst FROM t WHERE id = 4) WHERE id = 3",
)


@pytest.mark.parametrize("sql, bad_id, words", [
    (("UPDATE ledger_events SET \"values\" = '{\"dob\":\"1986-12-03\"}' WHERE id = 2",), 2, "altered"),
    (("UPDATE ledger_events SET action = 'accept' WHERE id = 3",), 3, "altered"),
    (("UPDATE ledger_events SET analyst = 'someone' WHERE id = 1",), 1, "altered"),
    (("UPDATE ledger_events SET time = '2020-01-01T00:00:00.000000Z' WHERE id = 4",), 4, "altered"),
    (("DELETE FROM ledger_events WHERE id = 3",), 4, "missing"),
    (("DELETE FROM ledger_events WHERE id = 1",), 2, "missing"),
    (("DELETE FROM ledger_events WHERE id = 3", "UPDATE ledger_events SET id = id - 1 WHERE id > 3"), 3,
     "prev_hash"),
    (SWAP_3_4, 3, "prev_hash"),
    (SWAP_CONTENTS, 3, "altered"),
    (("DELETE FROM ledger_events WHERE id = 5",), 5, "newest events deleted"),
    (("UPDATE ledger_events SET hash = (CASE WHEN substr(hash, 1, 1) = '0' THEN '1' ELSE '0' END) "
      "|| substr(hash, 2) WHERE id = 5",), 5, "altered"),
], ids=["values", "action", "analyst", "time", "delete-middle", "delete-first", "delete-renumber",
        "reorder", "swap-contents", "delete-last", "hash"])
def test_tampering_is_detected_and_named(url, sql, bad_id, words):
    db = _seeded(url)
    _raw(db, *sql)
    with Ledger.open(url) as led:
        result = led.verify()
    assert not result.ok
    assert result.first_bad_id == bad_id, result.describe()
    assert words in result.problem


def test_tail_deletion_with_head_rewritten_is_caught_by_the_anchors(url):
    db = _seeded(url)
    with Ledger.open(url) as led:
        head = led.head()
    _raw(db, "DELETE FROM ledger_events WHERE id = 5",
         "UPDATE ledger_meta SET value = '4' WHERE key = 'head_id'",
         "UPDATE ledger_meta SET value = (SELECT hash FROM ledger_events WHERE id = 4) WHERE key = 'head_hash'")
    with Ledger.open(url) as led:
        result = led.verify(expected_head=head)
        assert not result.ok and result.first_bad_id == 5
        # and without being told: the head witnessed by the appends outside the database
        result = led.verify()
        assert not result.ok and result.first_bad_id == 5 and "witnessed" in result.problem, result.describe()


def test_cli_verify_exit_codes(url, tmp_path, capsys):
    db = _seeded(url)
    assert vax_main(["ledger", "verify", "--ledger", url]) == 0
    assert "Sổ quyết định toàn vẹn: 5 sự kiện" in capsys.readouterr().out
    out = tmp_path / "events.jsonl"
    assert vax_main(["ledger", "export", "--ledger", url, "--out", str(out)]) == 0
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == [1, 2, 3, 4, 5] and lines[1]["values"] == {"dob": "1985-12-03"}
    _raw(db, "UPDATE ledger_events SET record_id = 'R9' WHERE id = 4")
    assert vax_main(["ledger", "verify", "--ledger", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Sổ quyết định BỊ SỬA ĐỔI tại sự kiện 4: nội dung không khớp mã băm"), err
    assert vax_main(["ledger", "verify", "--ledger", url, "--lang", "en"]) == 1
    err = capsys.readouterr().err
    assert "TAMPERED" in err and "event 4" in err and "event altered" in err
    assert vax_main(["--lang", "en", "ledger", "verify", "--ledger", url]) == 1
    assert capsys.readouterr().err == err


def test_history_and_last_event(site):
    with Ledger.open(site.url_for("lan")) as led, Ledger.open(site.url_for("minh")) as minh:
        assert led.last_event() is None
        a = led.accept("R1", analyst="lan")
        b = minh.defer("R2", analyst="minh")
        u = minh.undo(a.id, analyst="minh")
        assert [e.id for e in led.history("R1")] == [a.id, u.id]
        assert led.last_event() == u and led.last_event("lan") == a
        assert led.last_event("nobody") is None
        assert led.history("R2") == [b]


def test_vax_cli_routes_to_this_module():
    from vaxlib.cli import COMMANDS

    assert COMMANDS["apply"] == COMMANDS["ledger"] == "vaxlib.review.cli"


def test_confirmed_appends_survive_a_killed_process(site):
    """SIGKILL inside an append's transaction: confirmed events stay, the torn one is absent."""
    import signal
    import subprocess
    import sys

    url = site.url
    script = f"""
import os, signal
from vaxlib.review import ledger as L
led = L.Ledger.open({url!r})
for i in range(20):
    print(led.accept(f"R{{i}}", analyst="lan").id, flush=True)
if {site.backend!r} == "postgres":  # the server ran ledger_append (rows in, lock held); no COMMIT yet
    from vaxlib.review import pg as P
    P._fault_before_commit = lambda: os.kill(os.getpid(), signal.SIGKILL)
else:
    real = L._SQLiteTransaction.insert
    def dying(self, rows):
        real(self, rows)
        os.kill(os.getpid(), signal.SIGKILL)  # after the insert, before COMMIT
    L._SQLiteTransaction.insert = dying
led.accept("R-torn", analyst="lan")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    confirmed = [int(x) for x in proc.stdout.split()]
    assert confirmed == list(range(1, 21))
    with Ledger.open(url) as led:  # (PostgreSQL rolled the killed session's transaction back)
        events = led.events()
        assert events["id"].tolist() == confirmed and "R-torn" not in set(events["record_id"])
        assert led.verify().ok
        assert led.accept("R-next", analyst="lan").id == 21  # no lock left behind
        assert led.verify().ok


def test_cli_expect_head(url, capsys):
    db = _seeded(url)
    assert vax_main(["ledger", "verify", "--ledger", url]) == 0
    head = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]
    assert head.startswith("5:") and len(head) == 2 + 64
    assert vax_main(["ledger", "verify", "--ledger", url, "--expect-head", head]) == 0
    _raw(db, "DELETE FROM ledger_events WHERE id = 5",
         "UPDATE ledger_meta SET value = '4' WHERE key = 'head_id'",
         "UPDATE ledger_meta SET value = (SELECT hash FROM ledger_events WHERE id = 4) WHERE key = 'head_hash'")
    assert vax_main(["ledger", "verify", "--ledger", url, "--expect-head", head]) == 1
    assert "BỊ SỬA ĐỔI tại sự kiện 5" in capsys.readouterr().err
    assert vax_main(["ledger", "verify", "--ledger", url, "--expect-head", "nonsense"]) == 2
    assert "--expect-head cần dạng ID:HASH" in capsys.readouterr().err


def test_two_handles_see_each_others_appends(site):
    with Ledger.open(site.url) as a, Ledger.open(site.url) as b:
        a.accept("R1", analyst="lan")
        assert [e.record_id for e in b.events_list()] == ["R1"]
        first = b.current_decisions()
        b.reject("R2", reason_code="wrong_person", analyst="minh")
        a.defer("R3", analyst="lan")
        assert [e.id for e in a.events_list()] == [e.id for e in b.events_list()] == [1, 2, 3]
        assert b.current_decisions()["record_id"].tolist() == ["R1", "R2", "R3"]
        assert first["record_id"].tolist() == ["R1"]  # an earlier result is not changed behind the caller
        b.current_decisions().loc[0, "values"]["x"] = 1
        assert b.current_decisions().loc[0, "values"] == {}


# ---------------------------------------------------------------- property: undo semantics

_ops = st.lists(
    st.one_of(
        st.tuples(st.just("decide"), st.sampled_from(["R1", "R2", "R3"]),
                  st.sampled_from(["accept", "reject", "defer"])),
        st.tuples(st.just("undo"), st.integers(min_value=0, max_value=30), st.none()),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(_ops)
def test_current_decisions_match_a_recursive_model(ops):
    with Ledger.open("sqlite://") as led:
        events = []
        for kind, a, b in ops:
            if kind == "decide":
                extra = {"reason_code": "wrong_person"} if b == "reject" else {}
                events.append(getattr(led, b)(a, analyst="lan", **extra))
            elif events:
                events.append(led.undo(events[a % len(events)].id, analyst="lan"))
        by_id = {e.id: e for e in events}
        undoers: dict[int, list[int]] = {}
        for e in events:
            if e.action == "undo":
                undoers.setdefault(e.undoes, []).append(e.id)
        memo: dict[int, bool] = {}

        def active(eid: int) -> bool:  # an event is active unless an active undo cancels it
            if eid not in memo:
                memo[eid] = not any(active(u) for u in undoers.get(eid, []))
            return memo[eid]

        expected = {}
        for e in events:
            if e.action != "undo" and active(e.id):
                expected[e.record_id] = (e.id, e.action)
        got = led.current_decisions()
        assert dict(zip(got["record_id"], zip(got["decision_id"], got["action"]))) == expected
        assert all(by_id[u].undoes in by_id for us in undoers.values() for u in us)
        assert led.verify().ok


# ---------------------------------------------------------------- a ledger must exist; the anchor

def _rewrite_fully(db: Path, event_id: int, **changes) -> None:
    """What a tamperer with the database can do: change an event and recompute every hash after it."""
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER IF EXISTS ledger_events_no_update")
    cols = [r[1] for r in con.execute("PRAGMA table_info(ledger_events)")]
    rows = [dict(zip(cols, r)) for r in con.execute("SELECT * FROM ledger_events ORDER BY id")]
    prev = GENESIS_HASH
    for r in rows:
        if r["id"] == event_id:
            r.update(changes)
        r["prev_hash"] = prev
        r["hash"] = prev = event_hash({**r, "values": json.loads(r["values"])})
        con.execute('UPDATE ledger_events SET record_id=?, action=?, "values"=?, analyst=?, prev_hash=?, hash=? '
                    "WHERE id=?", (r["record_id"], r["action"], r["values"], r["analyst"], r["prev_hash"],
                                   r["hash"], r["id"]))
    con.execute("UPDATE ledger_meta SET value = ? WHERE key = 'head_hash'", (prev,))
    con.commit()
    con.close()


def test_a_full_rewrite_is_caught_by_default(url, tmp_path, capsys, monkeypatch):
    db = _seeded(url)
    _rewrite_fully(db, 3, action="accept")  # an analyst's rejection turned into an acceptance
    with Ledger.open(url, readonly=True) as led:
        assert led.verify(witness=False).events_checked == 5
        result = led.verify()
    # every append witnessed its head, so the first rewritten event is named
    assert not result.ok and result.first_bad_id == 3 and "rewritten" in result.problem, result.describe()
    assert vax_main(["ledger", "verify", "--ledger", url]) == 1
    assert "sổ đã bị viết lại từ sự kiện 3 trở về trước" in capsys.readouterr().err
    # the anchors are what catches it: a machine that never witnessed this ledger cannot tell
    monkeypatch.setenv("VAX_LEDGER_ANCHORS", str(tmp_path / "elsewhere"))
    assert vax_main(["ledger", "verify", "--ledger", url]) == 0
    assert "đã đối chiếu 0 đầu chuỗi ghi nhận bên ngoài" in capsys.readouterr().out


def test_a_replaced_database_is_caught(url, tmp_path):
    db = _seeded(url)
    other = tmp_path / "other.db"
    with Ledger.open(other, create=True) as led:  # a fresh, self-consistent ledger (new uid)
        led.accept("R1", analyst="lan")
    other.replace(db)
    Path(f"{other}-wal").unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with Ledger.open(url, readonly=True) as led:
        result = led.verify()
    assert not result.ok and "replaced" in result.problem


def test_verify_counts_and_records_witnessed_heads(url):
    with Ledger.open(url) as led:
        led.accept("R1", analyst="lan")
        led.accept("R2", analyst="lan")
        first = led.verify()
        assert first.ok and first.anchors_checked >= 3  # create, two appends
        assert led.verify().anchors_checked == first.anchors_checked + 1  # the verify itself


def test_ledger_edit_validation_uses_the_vn_parsers():
    """No second parser in the ledger: its edits go through vaxlib.vn's one implementation."""
    import vaxlib.review.ledger as L
    from vaxlib.vn import dates, ids, names, sex

    assert L.parse_typed_dob is dates.parse_typed_dob and L.parse_id is ids.parse_id
    assert L.canonical_name is names.canonical_name and L.parse_sex is sex.parse_sex
    assert not [n for n in vars(L) if "fallback" in n.lower()]


@pytest.mark.parametrize("argv", [
    ["ledger", "verify", "--ledger", "{p}"],
    ["ledger", "verify", "--ledger", "sqlite:///{p}"],
    ["ledger", "export", "--ledger", "sqlite:///{p}", "--out", "{d}/e.jsonl"],
])
def test_a_missing_ledger_is_an_error_and_is_never_created(tmp_path, capsys, argv):
    p = tmp_path / "missing.db"
    rc = vax_main([a.format(p=p, d=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2 and not p.exists() and list(tmp_path.iterdir()) == []
    assert err.count("\n") == 1 and "Traceback" not in err and str(p) in err and "vax ledger init" in err


def test_apply_with_a_mistyped_ledger_applies_nothing(tmp_path, capsys):
    p = tmp_path / "ledgr.db"
    rc = vax_main(["apply", "--vaccinations", str(tmp_path / "v.parquet"), "--matches",
                   str(tmp_path / "m.parquet"), "--ledger", f"sqlite:///{p}", "--out", str(tmp_path / "out")])
    assert rc == 2 and not p.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("make, url, words", [
    (lambda p: p.write_bytes(b"not a database at all" * 100), "sqlite:///{p}", "cannot be read"),
    (lambda p: sqlite3.connect(p).execute("CREATE TABLE t(x)").connection.commit(), "{p}", "not a vaxlib ledger"),
    (lambda p: p.mkdir(), "{p}", "not a file"),
    (lambda p: None, "sqlit:///{p}", "no ledger backend"),
    (lambda p: None, "mysql://u@h/db", "no ledger backend"),
])
def test_unusable_ledgers_are_one_line_errors(tmp_path, capsys, make, url, words):
    p = tmp_path / "x.db"
    make(p)
    before = sorted(x.name for x in tmp_path.iterdir())
    rc = vax_main(["ledger", "verify", "--ledger", url.format(p=p), "--lang", "en"])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and err.count("\n") == 1, err
    assert sorted(x.name for x in tmp_path.iterdir()) == before  # nothing created beside it


def test_ledger_init_creates_once(tmp_path, capsys):
    p = tmp_path / "new" / "ledger.db"
    assert vax_main(["ledger", "init", "--ledger", f"sqlite:///{p}"]) == 0
    assert p.exists() and "Đã tạo sổ quyết định trống tại" in capsys.readouterr().out
    with Ledger.open(p) as led:
        led.accept("R1", analyst="lan")
    assert vax_main(["ledger", "init", "--ledger", f"sqlite:///{p}", "--lang", "en"]) == 0
    assert "already exists" in capsys.readouterr().out
    with Ledger.open(p) as led:
        assert len(led.events_list()) == 1 and led.verify().ok


def test_readonly_open_writes_nothing(url):
    db = Path(url.removeprefix("sqlite:///"))
    with Ledger.open(url) as led:
        led.accept("R1", analyst="lan")
    before = db.read_bytes()
    with Ledger.open(url, readonly=True) as led:
        assert led.verify().ok and len(led.events()) == 1
    assert db.read_bytes() == before


# ---------------------------------------------------------------- PostgreSQL: roles, scope, append-only

def test_postgres_cli_init_add_user_verify(pg_server, capsys, monkeypatch):
    admin = pg_server.create_database("cli_init")
    assert vax_main(["ledger", "verify", "--ledger", admin]) == 2  # nothing there yet
    assert "vax ledger init" in capsys.readouterr().err
    assert vax_main(["ledger", "init", "--ledger", admin]) == 0
    out = capsys.readouterr().out
    assert "Đã tạo sổ quyết định trống tại" in out and pg_server.admin_password not in out
    monkeypatch.setenv("LAN_PW", "pw-lan-cli")
    assert vax_main(["ledger", "add-user", "--ledger", admin, "--name", "lan_cli", "--role", "analyst",
                     "--provinces", "79", "--password-env", "LAN_PW"]) == 0
    assert capsys.readouterr().out == "lan_cli: vai trò analyst, phạm vi 79\n"
    with Ledger.open(pg_server.url("lan_cli", "pw-lan-cli", "cli_init")) as lan:
        lan.record_provinces = {"R1": "79"}
        assert lan.accept("R1", analyst="typed name is ignored").analyst == "lan_cli"
    assert vax_main(["ledger", "verify", "--ledger", admin]) == 0
    assert "Sổ quyết định toàn vẹn: 1 sự kiện" in capsys.readouterr().out
    assert vax_main(["ledger", "init", "--ledger", admin, "--lang", "en"]) == 0
    assert "already exists" in capsys.readouterr().out


def test_postgres_identity_and_province_scope(site, request):
    if site.backend != "postgres":
        return  # the sqlite case has no roles; see test_analyst_required
    import psycopg

    lan = Ledger.open(site.url_for("lan", "analyst", ["79"]))
    minh = Ledger.open(site.url_for("minh", "analyst", ["01"]))
    sup = Ledger.open(site.url_for("sup", "supervisor", ["79", "01"]))
    provinces = {"R79": "79", "R01": "01", "R48": "48"}
    for led in (lan, minh, sup):
        led.record_provinces = provinces
    assert (lan.identity(), lan.scope()) == ("lan", ("79",))
    a = lan.accept("R79", analyst="someone else")
    assert a.analyst == "lan" and a.province == "79"
    with pytest.raises(LedgerError, match="refused"):
        lan.accept("R01")  # another province's record
    m = minh.reject("R01", reason_code="wrong_person")
    assert [e.id for e in lan.events_list()] == [a.id] and [e.id for e in minh.events_list()] == [m.id]
    assert [e.id for e in sup.events_list()] == [a.id, m.id]
    with pytest.raises(UnknownEventError):
        lan.undo(m.id)  # cannot even see it
    with pytest.raises(LedgerError, match="refused"):
        sup.accept("R48")  # outside the supervisor's provinces too
    with pytest.raises(LedgerError, match="every province"):
        lan.verify()
    # a hand-written query as an analyst: still only its own province, and no changes at all
    with psycopg.connect(site.url_for("lan", "analyst", ["79"]), autocommit=True) as conn:
        assert conn.execute("SELECT record_id FROM ledger_events").fetchall() == [("R79",)]
        for q in ("UPDATE ledger_events SET action = 'reject'", "DELETE FROM ledger_events",
                  "TRUNCATE ledger_events", "INSERT INTO ledger_scopes VALUES ('lan', '01')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(q)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # analyst must be current_user
            conn.execute("INSERT INTO ledger_events (id, record_id, action, \"values\", analyst, time, prev_hash, "
                         "hash, province) VALUES (99, 'R79', 'accept', '{}', 'minh', 't', 'x', 'y', '79')")
    with Ledger.open(site.url, readonly=True) as owner:
        assert owner.verify().ok and owner.verify().events_checked == 2
    for led in (lan, minh, sup):
        led.close()


def test_postgres_triggers_stop_even_the_owner_and_verify_catches_a_rewrite(site):
    if site.backend != "postgres":
        return  # SQLite's triggers: test_append_only_guard_and_url_forms
    import psycopg

    with Ledger.open(site.url) as led:
        for i in range(5):
            led.accept(f"R{i}", analyst="x")
    with psycopg.connect(site.url, autocommit=True) as conn:
        for q in ("UPDATE ledger_events SET action = 'reject'", "DELETE FROM ledger_events WHERE id = 5",
                  "TRUNCATE ledger_events", "DELETE FROM ledger_meta"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(q)
        # the owner can drop the guard; the chain and the witnessed heads then catch it
        conn.execute("ALTER TABLE ledger_events DISABLE TRIGGER USER")
        conn.execute("DELETE FROM ledger_events WHERE id = 5")
    with Ledger.open(site.url, readonly=True) as led:
        result = led.verify()
    assert not result.ok and result.first_bad_id == 5 and "witnessed" in result.problem, result.describe()


# ---------------------------------------------------------------- accountability and the two-person rule

@pytest.mark.parametrize("call, words", [
    (lambda led: led.reject("R1", analyst="lan"), "needs a reason"),
    (lambda led: led.reject("R1", analyst="lan", reason_code="document_checked"), "needs a reason"),  # edit's list
    (lambda led: led.reject("R1", analyst="lan", reason_code="other"), "written out"),
    (lambda led: led.edit("R1", {"dob": "03/12/1985"}, analyst="lan"), "needs a reason"),
    (lambda led: led.edit("R1", {"dob": "03/12/1985"}, analyst="lan", reason_code="other", reason="  "),
     "written out"),
])
def test_reject_and_edit_need_a_reason_from_the_list(site, call, words):
    from vaxlib.review.ledger import MissingReasonError

    with Ledger.open(site.url) as led:
        with pytest.raises(MissingReasonError, match=words):
            call(led)
        assert led.events_list() == []
        ev = led.reject("R1", analyst="lan", reason_code="other", reason="giấy tờ không khớp ảnh")
        assert (ev.reason_code, ev.reason) == ("other", "giấy tờ không khớp ảnh")
        assert led.verify().ok


def test_reveal_is_an_event_and_undo_names_its_target(site):
    with Ledger.open(site.url) as led:
        r = led.reveal("R1", analyst="lan")
        assert (r.action, r.values) == ("reveal", {"field": "id_number"})
        assert led.current_decisions().empty  # revealing decides nothing
        a = led.reject("R1", analyst="lan", reason_code="wrong_person")
        u = led.undo(a.id, analyst="lan")
        assert (u.undoes, u.record_id, u.values) == (a.id, "R1", {"undone_action": "reject"})
        assert led.verify().ok


def test_two_person_rule_for_big_bulk_acceptances(site, tmp_path, capsys):
    lan_url, sup_url = site.url_for("lan", "analyst", ["79"]), site.url_for("sup", "supervisor", ["79"])
    provinces = {f"R{i}": "79" for i in range(30)}
    with Ledger.open(lan_url) as lan, Ledger.open(sup_url) as sup:
        lan.record_provinces = sup.record_provinces = provinces
        assert lan.bulk_confirm_above == 20  # parameters/review.yaml
        small = lan.bulk_accept([f"R{i}" for i in range(20)], analyst="lan", cluster_id="c1")
        assert "needs_confirmation" not in small[0].values
        big = lan.bulk_accept([f"R{i}" for i in range(20, 30)] + [f"R{i}" for i in range(5)] + ["R29"] * 3
                              + [f"R{i}" for i in range(10, 20)], analyst="lan", cluster_id="c2")
        assert len(big) == 25 and all(e.values["needs_confirmation"] for e in big)
        bulk_id = big[0].bulk_id
        waiting = lan.pending_bulks()
        assert waiting[["bulk_id", "analyst", "records"]].values.tolist() == [[bulk_id, "lan", 25]]
        decided = lan.current_decisions().set_index("record_id")
        assert set(decided.index) == {f"R{i}" for i in range(20)}  # the big bulk does not count yet
        assert (decided["bulk_id"] == small[0].bulk_id).all()
        with pytest.raises(LedgerError, match="another person"):
            lan.confirm_bulk(bulk_id, analyst="lan")
        c = sup.confirm_bulk(bulk_id, analyst="sup")
        assert (c.action, c.bulk_id, c.analyst) == ("confirm_bulk", bulk_id, "sup")
        assert lan.pending_bulks().empty
        decided = lan.current_decisions().set_index("record_id")
        assert set(decided.index) == set(provinces) and decided.loc["R25", "bulk_id"] == bulk_id
        with pytest.raises(UnknownEventError):
            sup.confirm_bulk(bulk_id, analyst="sup")  # nothing waits any more
    with Ledger.open(site.url, readonly=True) as owner:
        assert owner.verify().ok


def test_postgres_only_a_supervisor_may_confirm(site):
    if site.backend != "postgres":
        return  # SQLite has no roles: any other typed name confirms (documented)
    provinces = {f"R{i}": "79" for i in range(25)}
    with Ledger.open(site.url_for("lan", "analyst", ["79"])) as lan, \
            Ledger.open(site.url_for("hoa", "analyst", ["79"])) as hoa, \
            Ledger.open(site.url_for("sup01", "supervisor", ["01"])) as sup01:
        lan.record_provinces = hoa.record_provinces = sup01.record_provinces = provinces
        bulk_id = lan.bulk_accept(list(provinces), cluster_id="c")[0].bulk_id
        with pytest.raises(LedgerError, match="refused"):
            hoa.confirm_bulk(bulk_id)  # another analyst, but not a supervisor
        with pytest.raises(UnknownEventError):
            sup01.confirm_bulk(bulk_id)  # a supervisor of another province cannot even see it
        assert len(lan.pending_bulks()) == 1


def test_apply_ignores_and_reports_unconfirmed_bulk_decisions(tmp_path, capsys):
    import pandas as pd
    from test_apply import VAX_COLS, match_row, vax_row

    ids = [f"R{i:02d}" for i in range(25)]
    v = pd.DataFrame([vax_row(r, "Lê Văn Cường", "1970-07-07", "1", "79070000003") for r in ids], columns=VAX_COLS)
    m = pd.DataFrame([match_row(r, "review", "079070000003", "id:lost_leading_zero", idn="079070000003", p=0.7)
                      for r in ids])
    from vaxlib.runs import atomic_run

    vp, mp = tmp_path / "v.parquet", tmp_path / "match" / "matches.parquet"
    v.to_parquet(vp, index=False)
    with atomic_run(mp.parent, command="match") as run:  # vax apply reads matches of a complete match run
        m.to_parquet(run / mp.name, index=False)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.open(url, create=True) as led:
        bulk_id = led.bulk_accept(ids, analyst="lan", cluster_id="c")[0].bulk_id
    argv = ["apply", "--vaccinations", str(vp), "--matches", str(mp), "--ledger", url]
    assert vax_main([*argv, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "chưa áp dụng: 1 lần duyệt cả cụm (25 bản ghi) đang chờ giám sát xác nhận" in out
    summary = json.loads((tmp_path / "a" / "apply_summary.json").read_text(encoding="utf-8"))
    assert summary["ledger"]["pending_bulk"] == {"bulks": 1, "records": 25}
    assert summary["field_changes_by_source"]["decision"] == 0
    with Ledger.open(url) as led:
        led.confirm_bulk(bulk_id, analyst="sup")
    assert vax_main([*argv, "--out", str(tmp_path / "b")]) == 0
    assert "chưa áp dụng" not in capsys.readouterr().out
    summary = json.loads((tmp_path / "b" / "apply_summary.json").read_text(encoding="utf-8"))
    assert summary["ledger"]["pending_bulk"] == {"bulks": 0, "records": 0}
    assert summary["field_changes_by_source"]["decision"] > 0


def test_csv_export_neutralises_formulas(url, tmp_path):
    import csv

    with Ledger.open(url) as led:
        led.reject("=HYPERLINK(\"http://x\")", analyst="@lan", reason_code="other", reason="+1 gọi lại")
        path = led.export(tmp_path / "events.csv")
        assert led.export(tmp_path / "events.jsonl")  # the JSON lines keep the values as stored
    row = next(csv.DictReader(path.open(encoding="utf-8")))
    assert row["record_id"] == "'=HYPERLINK(\"http://x\")" and row["analyst"] == "'@lan"
    assert row["reason"] == "'+1 gọi lại"
    first = json.loads((tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["record_id"] == "=HYPERLINK(\"http://x\")"


def test_verify_checks_the_heads_recorded_by_apply_runs(tmp_path, capsys, monkeypatch):
    import pandas as pd
    from test_apply import VAX_COLS, match_row, vax_row

    ids = ["R1", "R2", "R3"]
    from vaxlib.runs import atomic_run

    vp, mp = tmp_path / "v.parquet", tmp_path / "match" / "matches.parquet"
    pd.DataFrame([vax_row(r, "Lê Văn Cường", "1970-07-07", "1", "79070000003") for r in ids],
                 columns=VAX_COLS).to_parquet(vp, index=False)
    with atomic_run(mp.parent, command="match") as match_run:  # vax apply reads a complete match run
        pd.DataFrame([match_row(r, "review", "079070000003", "id:lost_leading_zero", idn="079070000003", p=0.7)
                      for r in ids]).to_parquet(match_run / mp.name, index=False)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.open(url, create=True) as led:
        led.accept("R1", analyst="lan")
        led.reject("R2", analyst="lan", reason_code="wrong_person")
    run = tmp_path / "apply-run"
    assert vax_main(["apply", "--vaccinations", str(vp), "--matches", str(mp), "--ledger", url,
                     "--out", str(run)]) == 0
    with Ledger.open(url) as led:
        led.accept("R3", analyst="lan")
    assert vax_main(["ledger", "verify", "--ledger", url, "--runs", str(run)]) == 0
    assert "Sổ quyết định toàn vẹn: 3 sự kiện" in capsys.readouterr().out
    # on a machine that never witnessed the ledger, only the run folder remembers its head
    monkeypatch.setenv("VAX_LEDGER_ANCHORS", str(tmp_path / "other-machine"))
    _rewrite_fully(Path(url.removeprefix("sqlite:///")), 2, action="accept")
    assert vax_main(["ledger", "verify", "--ledger", url]) == 0
    capsys.readouterr()
    assert vax_main(["ledger", "verify", "--ledger", url, "--runs", str(run), "--lang", "en"]) == 1
    err = capsys.readouterr().err
    assert "TAMPERED at event 2" in err and "apply-run" in err
    assert vax_main(["ledger", "verify", "--ledger", url, "--runs", str(tmp_path)]) == 2  # no head there
