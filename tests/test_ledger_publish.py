"""The review workspace published into the team database (``vax ledger publish``), read back as each role.

The hand-written fixture (test_widgets.RECORDS) as a run folder: records of
provinces 79 (R01-R03, R05, R06, R08) and 01 (R04, R07), feedback items PA79
(79), PA01 (01) and PAX (48, about the 01 record R04).  R06 is ``verified``
and no feedback names it: it needs no review and is never published.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pandas as pd
import psycopg
import pytest

from vaxlib.cli import main as vax_main
from vaxlib.review.ledger import Ledger, LedgerError
from vaxlib.review.pg import add_user
from vaxlib.review.published import load_published, publish
from vaxlib.workspace import load_feedback, load_workspace

from test_team import write_project

LOGINS = {"lan": ("analyst", ["79"]), "minh": ("analyst", ["01"]), "sup": ("supervisor", ["79", "01"]),
          "nat": ("national", []), "hoa": ("analyst", ["48"])}
NOWHERE = "/nonexistent/run-folder"  # the analysts' side never reads files: a folder that is not there


@pytest.fixture
def team(pg_server, tmp_path):
    """A run folder, a team ledger with five logins, and the run published once by the owner."""
    run = tmp_path / "run"
    write_project(run)
    dbname = f"pub_{os.getpid()}_{abs(hash(tmp_path)) % 10**8}"
    owner = pg_server.create_database(dbname)
    Ledger.open(owner, create=True).close()
    with psycopg.connect(owner, autocommit=True) as conn:
        for name, (role, provinces) in LOGINS.items():
            add_user(conn, name, role, provinces, password=f"pw-{name}")
    with Ledger.open(owner) as led:
        result = publish(run, led)
    urls = {name: pg_server.url(name, f"pw-{name}", dbname) for name in LOGINS}
    return {"run": run, "owner": owner, "urls": urls, "result": result, "dbname": dbname, "server": pg_server}


def _as(team, name: str):
    return Ledger.open(team["urls"][name])


@pytest.mark.parametrize("name, records, persons, feedback", [
    ("lan", ["R01", "R02", "R03", "R05", "R08"], ["079085001234", "079190000123", "079195006789", "079300012345"],
     ["PA79"]),
    ("minh", ["R04", "R07"], ["001075004321", "001075004322"], ["PA01", "PAX"]),  # PAX: about an 01 record
    ("sup", ["R01", "R02", "R03", "R04", "R05", "R07", "R08"], None, ["PA01", "PA79", "PAX"]),
    ("nat", ["R01", "R02", "R03", "R04", "R05", "R07", "R08"], None, ["PA01", "PA79", "PAX"]),
    # 48 has no record: empty tables with their columns; PAX is 48's complaint (about 01's R04, not shown)
    ("hoa", [], [], ["PAX"]),
])
def test_postgres_each_role_loads_only_its_provinces_from_the_database(team, name, records, persons, feedback):
    with _as(team, name) as led:
        ws = load_workspace(NOWHERE, ledger=led)
        queue, messages = load_feedback(NOWHERE, ledger=led)
        scope = led.scope()
    assert sorted(ws.vaccinations["record_id"]) == records
    assert sorted(ws.matches["record_id"]) == records
    assert set(ws.candidates["record_id"]) == set(records) - {"R07"}  # R07 is unmatched: no candidate
    if persons is not None:
        assert sorted(ws.registry["person_id"]) == persons
    assert sorted(queue["feedback_id"]) == feedback and sorted(messages["feedback_id"]) == feedback
    assert ws.scope == scope and "(v1," in ws.describe()
    # the same rows, columns and types as the files read for the same provinces (R06 aside: nothing to review)
    files = load_workspace(team["run"], scope=scope)
    for table in ("vaccinations", "matches", "candidates"):
        expected = getattr(files, table)
        expected = expected[expected["record_id"].astype(str).isin(records)]
        got = getattr(ws, table)
        pd.testing.assert_frame_equal(got.sort_values(list(got.columns[:3])).reset_index(drop=True),
                                      expected.sort_values(list(got.columns[:3])).reset_index(drop=True))
    assert list(ws.registry.columns) == list(files.registry.columns)


def test_postgres_direct_sql_of_another_province_returns_nothing(team):
    """What a hand-edited notebook can do with the analyst's own connection: ask SQL, and get only 79."""
    srv, db = team["server"], team["dbname"]
    with psycopg.connect(srv.url("lan", "pw-lan", db), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM review_parts WHERE province = '01'").fetchone()[0] == 0
        assert conn.execute("SELECT DISTINCT province FROM review_parts").fetchall() == [("79",)]
        for statement in ("DELETE FROM review_parts", "UPDATE review_parts SET province = '79'",
                          "INSERT INTO review_parts SELECT * FROM review_parts", "DELETE FROM review_versions",
                          "SET row_security = off; SELECT count(*) FROM review_parts"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    with psycopg.connect(srv.url("sup", "pw-sup", db), autocommit=True) as conn:
        assert sorted(conn.execute("SELECT DISTINCT province FROM review_parts").fetchall()) == [("01",), ("79",)]
    with psycopg.connect(team["owner"], autocommit=True) as conn:  # what the owner stored: 79, 01, and 48 (PAX)
        assert sorted(conn.execute("SELECT DISTINCT province FROM review_parts").fetchall()) == [
            ("01",), ("48",), ("79",)]
        conn.execute("CREATE ROLE stranger LOGIN PASSWORD 'pw-stranger'")  # in no vax_* group
    with psycopg.connect(srv.url("stranger", "pw-stranger", db), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM review_parts")


def test_postgres_only_the_owner_publishes(team, capsys):
    with _as(team, "lan") as led, pytest.raises(LedgerError, match="vax ledger init"):
        publish(team["run"], led)
    assert vax_main(["--lang", "en", "ledger", "publish", "--run", str(team["run"]), "--ledger",
                     team["urls"]["lan"]]) == 2
    err = capsys.readouterr().err
    assert "lan may not publish" in err and len(err.strip().splitlines()) == 1 and "pw-lan" not in err
    sqlite = f"sqlite:///{team['run'] / 'ledger.db'}"
    Ledger.open(sqlite, create=True).close()
    assert vax_main(["--lang", "en", "ledger", "publish", "--run", str(team["run"]), "--ledger", sqlite]) == 2
    assert "PostgreSQL" in capsys.readouterr().err
    with _as(team, "lan") as led:
        assert load_published(led).version == 1  # nothing changed


def test_postgres_nothing_published_yet_is_one_line(pg_server, tmp_path):
    owner = pg_server.create_database("pub_empty")
    Ledger.open(owner, create=True).close()
    with Ledger.open(owner) as led, pytest.raises(LedgerError, match="vax ledger publish"):
        load_workspace(NOWHERE, ledger=led)


def _rerun_match(run, statuses: dict[str, str]) -> None:
    """A new match run over the same records, with some statuses changed."""
    from vaxlib.runs import atomic_run

    matches = pd.read_parquet(run / "match" / "matches.parquet")
    cands = pd.read_parquet(run / "match" / "candidates.parquet")
    matches["status"] = [statuses.get(r, s) for r, s in zip(matches["record_id"], matches["status"])]
    with atomic_run(run / "match", command="match") as st:
        matches.to_parquet(st / "matches.parquet", index=False)
        cands.to_parquet(st / "candidates.parquet", index=False)


def _publish_cli(team, fault: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("VAX_FAULT", None)
    if fault:
        env["VAX_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "vaxlib.cli", "--lang", "en", "ledger", "publish", "--run",
                           str(team["run"]), "--ledger", team["owner"]], env=env, capture_output=True, text=True,
                          timeout=120)


def test_postgres_republish_is_atomic_and_keeps_the_decisions(team, monkeypatch):
    with _as(team, "lan") as lan:
        lan.record_provinces = {"R01": "79", "R02": "79"}
        lan.accept("R01")
        lan.reject("R02", reason_code="wrong_person")
    # the next match run settles R02 and R05 (no longer to review)
    _rerun_match(team["run"], {"R02": "verified", "R05": "verified"})
    # killed mid-publish (new rows in, old not yet deleted, no COMMIT): the old version stays, whole
    killed = _publish_cli(team, "kill:publish:parts")
    assert killed.returncode == -9, killed.stderr
    # a failure raised mid-publish (disk full at the same point, in this process): the same
    monkeypatch.setenv("VAX_FAULT", "enospc:publish:commit")
    with Ledger.open(team["owner"]) as owner, pytest.raises(OSError):
        publish(team["run"], owner)
    monkeypatch.delenv("VAX_FAULT")
    with _as(team, "lan") as lan:
        old = load_published(lan)
        assert old.version == 1 and sorted(old.tables["vaccinations"]["record_id"]) == [
            "R01", "R02", "R03", "R05", "R08"]
    with psycopg.connect(team["owner"], autocommit=True) as conn:
        assert conn.execute("SELECT DISTINCT version FROM review_parts").fetchall() == [(1,)]
        assert conn.execute("SELECT max(version) FROM review_versions").fetchone()[0] == 1
    # the real republish: one version replaces the other
    done = _publish_cli(team, None)
    assert done.returncode == 0, done.stderr
    assert "Published version 2 (replaces version 1)" in done.stdout
    with psycopg.connect(team["owner"], autocommit=True) as conn:
        assert conn.execute("SELECT DISTINCT version FROM review_parts").fetchall() == [(2,)]
        assert conn.execute("SELECT DISTINCT version FROM review_schemas").fetchall() == [(2,)]
    with _as(team, "lan") as lan:
        ws = load_workspace(NOWHERE, ledger=lan)
        assert sorted(ws.vaccinations["record_id"]) == ["R01", "R03", "R08"]
        assert "(v2," in ws.describe()
        # the decisions made on version 1 are all still there, and still count in the panel
        from vaxlib.widgets import review_panel

        panel = review_panel(ws.vaccinations, ws.matches, ws.candidates, lan, "lan", registry=ws.registry)
        assert set(panel.queue()) == {"R03", "R08"}  # R01 decided; R02 settled by the new run
    with Ledger.open(team["owner"], readonly=True) as owner:
        assert [(e.record_id, e.action, e.analyst) for e in owner.events_list()] == [
            ("R01", "accept", "lan"), ("R02", "reject", "lan")]
        assert owner.verify().ok


def test_postgres_a_reader_during_a_republish_sees_one_version(team):
    """A publish holding its transaction open (rows written, not committed) is invisible to a reader."""
    import threading

    import vaxlib.runs as runs

    _rerun_match(team["run"], {"R03": "verified"})
    at_fault, release = threading.Event(), threading.Event()
    real = runs.fault_point

    def pause(name):
        if name == "publish:commit":
            at_fault.set()
            release.wait(30)
        real(name)

    errors = []

    def run_publish():
        try:
            with Ledger.open(team["owner"]) as owner:
                publish(team["run"], owner)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    runs.fault_point = pause
    try:
        t = threading.Thread(target=run_publish)
        t.start()
        assert at_fault.wait(30)
        with _as(team, "lan") as lan:  # old rows deleted, new inserted, not committed: the reader sees v1
            during = load_published(lan)
        release.set()
        t.join(30)
    finally:
        runs.fault_point = real
        release.set()
    assert not errors
    assert during.version == 1 and "R03" in set(during.tables["vaccinations"]["record_id"])
    with _as(team, "lan") as lan:
        after = load_published(lan)
    assert after.version == 2 and "R03" not in set(after.tables["vaccinations"]["record_id"])


def test_postgres_the_app_reads_the_database_and_masks_ids(team):
    """The review notebook's session signs in, loads from the database (no folder), and masks ID numbers."""
    from vaxlib.review.app import review_session

    address = team["owner"].split("@", 1)[1]
    address = f"postgresql://@{address}".replace("//@/", "///")
    s = review_session(NOWHERE, address, lang="vi", sign_in=True)
    assert s.sign_in("lan", "pw-lan")
    assert s.panel.current == "R01" and set(s.panel.queue()) == {"R01", "R02", "R03", "R08"}
    full = "079190000123"
    assert full not in s.panel.record.value and "0791******23" in s.panel.record.value
    s.panel.reveal.value = True  # revealing is an event, under the login
    assert full in s.panel.record.value
    s.ledger.close()
    with Ledger.open(team["owner"], readonly=True) as owner:
        assert [(e.record_id, e.action, e.analyst) for e in owner.events_list()] == [("R01", "reveal", "lan")]


def test_postgres_app_says_when_nothing_is_published(pg_server):
    from vaxlib.i18n import t
    from vaxlib.review.app import review_session

    owner = pg_server.create_database("pub_app_empty")
    Ledger.open(owner, create=True).close()
    with psycopg.connect(owner, autocommit=True) as conn:
        add_user(conn, "lan", "analyst", ["79"], password="pw-lan")
    address = f"postgresql:///pub_app_empty?host={pg_server.socket_dir}"
    s = review_session(NOWHERE, address, sign_in=True)
    assert s.sign_in("lan", "pw-lan") is False
    assert t("team.not_published", "vi") in s.message.value and s.panel is None and s.ledger is None


def test_run_files_are_the_operators(tmp_path):
    """A run's files and folders carry no permission for other users (reports aside: aggregates only)."""
    from vaxlib.runs import atomic_run

    old = os.umask(0o022)
    try:
        write_project(tmp_path / "run")
        with atomic_run(tmp_path / "reports", command="report") as st:
            (st / "summary.html").write_text("aggregates", encoding="utf-8")
    finally:
        os.umask(old)
    run = tmp_path / "run" / "match"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [run, *run.iterdir()]}
    assert modes == {"match": 0o750, "matches.parquet": 0o640, "candidates.parquet": 0o640,
                     "_manifest.json": 0o640}
    assert stat.S_IMODE((tmp_path / "reports" / "summary.html").stat().st_mode) == 0o644


def test_postgres_jupyterlab_notebook_with_a_login_in_the_url_reads_the_database(team):
    """An analyst's own JupyterLab (no sign-in form; their login in ledger_url): the same database-only load."""
    from vaxlib.review.app import review_session

    s = review_session(NOWHERE, team["urls"]["minh"], analyst="typed-name-ignored")
    try:
        assert sorted(s.workspace.vaccinations["record_id"]) == ["R04", "R07"]
        assert set(s.panel.queue()) == {"R04"} and sorted(s.feedback.visible()["feedback_id"]) == ["PA01", "PAX"]
    finally:
        s.ledger.close()


@pytest.fixture
def shared_dir():
    """A folder every account may enter (pytest's own folders are private to us)."""
    import shutil
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp(prefix="vax-shared-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a reader as another account")
def test_another_account_cannot_read_a_run(shared_dir):
    """What a notebook run under an analyst's own OS account meets: the run folder is closed to it."""
    import pwd

    from vaxlib.runs import atomic_run

    nobody = pwd.getpwnam("nobody")
    shared = shared_dir
    old = os.umask(0o022)
    try:
        with atomic_run(shared / "match", command="match") as st:
            pd.DataFrame({"record_id": ["R1"]}).to_parquet(st / "matches.parquet")
        pd.DataFrame({"record_id": ["R1"]}).to_parquet(shared / "loose.parquet")  # not a run: 0644
    finally:
        os.umask(old)

    def read_as_nobody(path) -> int:
        # the shell's head, not our Python: the venv may sit under a private home
        return subprocess.run(["/bin/sh", "-c", 'head -c 1 "$0" > /dev/null', str(path)], user=nobody.pw_uid,
                              group=nobody.pw_gid, extra_groups=[], cwd="/", capture_output=True,
                              timeout=60).returncode

    assert read_as_nobody(shared / "loose.parquet") == 0  # the check itself can succeed
    assert read_as_nobody(shared / "match" / "matches.parquet") != 0
    assert read_as_nobody(shared / "match" / "_manifest.json") != 0


def test_postgres_a_run_without_feedback_publishes_none(pg_server, tmp_path):
    """No `vax feedback` run: the published queue has no feedback tables, and the readers say None as for files."""
    import shutil

    run = tmp_path / "run"
    write_project(run)
    shutil.rmtree(run / "feedback")
    owner = pg_server.create_database("pub_nofeedback")
    Ledger.open(owner, create=True).close()
    with psycopg.connect(owner, autocommit=True) as conn:
        add_user(conn, "lan", "analyst", ["79"], password="pw-lan")
    with Ledger.open(owner) as led:
        assert "feedback_queue" not in publish(run, led).rows
    with Ledger.open(pg_server.url("lan", "pw-lan", "pub_nofeedback")) as lan:
        assert load_feedback(NOWHERE, ledger=lan) == (None, None) == load_feedback(run, scope=("79",))
        assert sorted(load_workspace(NOWHERE, ledger=lan).vaccinations["record_id"]) == [
            "R01", "R02", "R03", "R05", "R08"]


@pytest.mark.parametrize("register, lan_persons", [
    ("residents", {"079085001234", "079190000123", "079195006789", "079300012345", "079299999999"}),
    ("suggested", {"079085001234", "079190000123", "079195006789", "079300012345"}),
])
def test_postgres_register_scope_residents_or_suggested_only(pg_server, tmp_path, register, lan_persons):
    """--register suggested leaves out residents no record of the province was matched to."""
    from test_widgets import make_review_tables

    registry, vacc, matches, cands = make_review_tables()
    loner = pd.DataFrame([{**registry.iloc[0].to_dict(), "person_id": "079299999999", "full_name": "Đinh Văn Lẻ"}])
    run = tmp_path / "run"
    write_project(run, (pd.concat([registry, loner], ignore_index=True), vacc, matches, cands))
    dbname = f"pub_reg_{register}"
    owner = pg_server.create_database(dbname)
    Ledger.open(owner, create=True).close()
    with psycopg.connect(owner, autocommit=True) as conn:
        add_user(conn, "lan", "analyst", ["79"], password="pw-lan")
    assert vax_main(["ledger", "publish", "--run", str(run), "--ledger", owner, "--register", register]) == 0
    with Ledger.open(pg_server.url("lan", "pw-lan", dbname)) as lan:
        assert set(load_workspace(NOWHERE, ledger=lan).registry["person_id"]) == lan_persons
