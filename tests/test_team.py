"""Team mode: the supervisor's side of the two-person rule (CLI and widget), on SQLite and PostgreSQL."""
from __future__ import annotations

import pandas as pd
import pytest

from vaxlib.cli import main as vax_main
from vaxlib.review.ledger import Ledger

from test_widgets import NO_DIACRITICS_CLUSTER, make_review_tables


def _decisions(ledger) -> dict[str, str]:
    d = ledger.current_decisions()
    return dict(zip(d["record_id"], d["action"]))


def test_cli_lists_and_confirms_a_waiting_bulk_acceptance(site, capsys):
    lan_url, sup_url = site.url_for("lan", "analyst", ["79"]), site.url_for("sup", "supervisor", ["79"])
    records = [f"R{i}" for i in range(25)]
    with Ledger.open(lan_url) as lan:
        lan.record_provinces = {r: "79" for r in records}
        bulk_id = lan.bulk_accept(records, analyst="lan", cluster_id="c")[0].bulk_id
    capsys.readouterr()
    assert vax_main(["--lang", "en", "ledger", "pending", "--ledger", sup_url]) == 0
    out = capsys.readouterr().out
    assert bulk_id in out and "25 records" in out and "province 79" in out and "by lan" in out
    sup = ["--analyst", "sup"] if site.backend == "sqlite" else []
    # refused, one line each, exit 2: too short an id, the analyst confirming her own bulk, no name on SQLite
    assert vax_main(["--lang", "en", "ledger", "confirm-bulk", "--ledger", sup_url, bulk_id[:5], *sup]) == 2
    assert "at least 8" in capsys.readouterr().err
    lan_args = ["--analyst", "lan"] if site.backend == "sqlite" else []
    assert vax_main(["--lang", "en", "ledger", "confirm-bulk", "--ledger", lan_url, bulk_id, *lan_args]) == 2
    err = capsys.readouterr().err
    assert ("another person" if site.backend == "sqlite" else "only a supervisor") in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    if site.backend == "sqlite":
        assert vax_main(["--lang", "en", "ledger", "confirm-bulk", "--ledger", sup_url, bulk_id]) == 2
        assert "--analyst" in capsys.readouterr().err
    assert vax_main(["--lang", "en", "ledger", "confirm-bulk", "--ledger", sup_url, bulk_id[:10], *sup]) == 0
    assert f"confirmed bulk acceptance {bulk_id} (25 records) as sup" in capsys.readouterr().out
    assert vax_main(["--lang", "en", "ledger", "pending", "--ledger", sup_url]) == 0
    assert "no bulk acceptance waits" in capsys.readouterr().out
    assert vax_main(["--lang", "en", "ledger", "confirm-bulk", "--ledger", sup_url, bulk_id, *sup]) == 2  # nothing waits now
    assert "no bulk acceptance" in capsys.readouterr().err
    assert vax_main(["ledger", "pending", "--ledger", sup_url]) == 0  # Vietnamese unless asked
    assert capsys.readouterr().out == "Không có lần duyệt cả cụm nào chờ xác nhận\n"
    with Ledger.open(site.url, readonly=True) as owner:
        last = owner.events_list()[-1]
        assert (last.action, last.bulk_id, last.analyst, last.province) == ("confirm_bulk", bulk_id, "sup", "79")
        assert set(_decisions(owner)) == set(records)
        assert owner.verify().ok


def test_supervisor_confirms_in_the_review_panel(site):
    from vaxlib.widgets import review_panel

    registry, vacc, matches, cands = make_review_tables()
    lan = Ledger.open(site.url_for("lan", "analyst", ["79"]))
    sup = Ledger.open(site.url_for("sup", "supervisor", ["79"]))
    try:
        lan.bulk_confirm_above = 1  # the fixture's cluster has 2 records: make it need a supervisor
        p_lan = review_panel(vacc, matches, cands, lan, "lan", registry=registry)
        p_sup = review_panel(vacc, matches, cands, sup, "sup", registry=registry)
        if site.backend == "postgres":
            assert p_lan.supervisor is None  # an analyst's role may not confirm: no button at all
        assert p_sup.supervisor is not None and p_sup.supervisor.box.layout.display == "none"
        p_lan.filters.cluster.value = NO_DIACRITICS_CLUSTER
        p_lan.bulk.click()
        p_lan.bulk_confirm.click()
        assert "chờ giám sát xác nhận" in p_lan.message.value
        assert _decisions(lan) == {}  # waiting: not a decision yet
        if p_lan.supervisor is not None:  # SQLite (typed names): the box lists other people's bulks only
            assert p_lan.supervisor.choice.options == () and p_lan.supervisor.box.layout.display == "none"
            assert p_lan.supervisor.confirm_selected() is None
        p_sup.refresh()
        box = p_sup.supervisor
        assert box.box.layout.display == "flex" and len(box.choice.options) == 1
        label = box.choice.options[0][0]
        assert "2 bản ghi" in label and "do lan duyệt" in label
        utc = sup.pending_bulks()["time"].iloc[0]  # shown in Viet Nam time (UTC+7), dd/mm/yyyy
        assert pd.Timestamp(utc).tz_convert("Asia/Ho_Chi_Minh").strftime("%H:%M %d/%m/%Y") in label
        queued_before = set(p_sup.queue())
        assert {"R01", "R08"} <= queued_before
        box.confirm.click()
        assert "Đã xác nhận duyệt 2 bản ghi của lan" in box.message.value
        assert box.row.layout.display == "none" and box.choice.options == ()
        assert box.box.layout.display == "flex"  # still up: the message stays readable
        assert set(p_sup.queue()) == queued_before - {"R01", "R08"}  # the panel re-read its queue
        assert _decisions(sup) == {"R01": "bulk_accept", "R08": "bulk_accept"}
        last = sup.events_list()[-1]
        assert (last.action, last.analyst) == ("confirm_bulk", "sup")
    finally:
        lan.close()
        sup.close()
    with Ledger.open(site.url, readonly=True) as owner:
        assert owner.verify().ok


# ---------------------------------------------------------------- the analyst's view holds only their provinces

def write_project(root, tables=None):
    """The hand-written fixture as a vax demo folder (records of provinces 79 and 01) with a feedback queue."""
    import pandas as pd

    from vaxlib.runs import atomic_run

    registry, vacc, matches, cands = tables if tables is not None else make_review_tables()
    (root / "data").mkdir(parents=True)
    registry.to_parquet(root / "data" / "registry.parquet", index=False)
    vacc.to_parquet(root / "data" / "vaccinations.parquet", index=False)
    with atomic_run(root / "match", command="match") as run:
        matches.to_parquet(run / "matches.parquet", index=False)
        cands.to_parquet(run / "candidates.parquet", index=False)
    (root / "feedback").mkdir()
    queue = pd.DataFrame({"feedback_id": ["PA79", "PA01", "PAX"], "submitted_at": ["2022-04-20T08:00:00+07:00"] * 3,
                          "age_hours": [80.0, 10.0, 5.0], "overdue": [True, False, False],
                          "category_citizen": ["missing_dose"] * 3, "category_system": ["missing_dose"] * 3,
                          "reason": ["missing_dose"] * 3, "reason_vi": ["Thiếu mũi"] * 3,
                          "reason_en": ["Dose missing"] * 3,
                          "province": ["79", "01", "48"], "record_ids": ["R01", "R04", "R04"]})
    queue.to_parquet(root / "feedback" / "queue.parquet", index=False)
    pd.DataFrame({"feedback_id": ["PA79", "PA01", "PAX"], "message": ["a", "b", "c"]}).to_parquet(
        root / "data" / "feedback.parquet", index=False)
    return registry, vacc, matches, cands


@pytest.mark.parametrize("scope, records, persons, feedback", [
    (None, ["R01", "R02", "R03", "R04", "R05", "R06", "R07", "R08"], 6, ["PA79", "PA01", "PAX"]),
    (("79",), ["R01", "R02", "R03", "R05", "R06", "R08"], 4, ["PA79"]),
    (("01",), ["R04", "R07"], 2, ["PA01", "PAX"]),  # PAX: another province's complaint about an 01 record
    (("48",), [], 0, ["PAX"]),
    ((), [], 0, []),
])
def test_workspace_reads_only_the_scope(tmp_path, scope, records, persons, feedback):
    from vaxlib.workspace import load_feedback, load_workspace

    write_project(tmp_path)
    ws = load_workspace(tmp_path, scope=scope)
    assert sorted(ws.vaccinations["record_id"]) == records
    assert sorted(ws.matches["record_id"]) == records
    assert set(ws.candidates["record_id"]) <= set(records) and (len(ws.candidates) > 0) == bool(records)
    assert len(ws.registry) == persons
    if scope == ("01",):  # the register: residents of 01 and the persons suggested for 01's records
        assert set(ws.registry["person_id"]) == {"001075004321", "001075004322"}
    queue, messages = load_feedback(tmp_path, scope=scope, record_ids=set(records))
    assert sorted(queue["feedback_id"]) == sorted(feedback)
    assert sorted(messages["feedback_id"]) == sorted(feedback)
    assert (ws.scope is None) == (scope is None)


def test_signed_in_analysts_see_and_decide_only_their_province(pg_server, tmp_path, caplog):
    """The web app's session (no browser): a bad password is refused without a trace in the logs; each analyst's
    tables, queue and decisions stay in their province, and the ledger records the login, not a typed name."""
    import logging

    from vaxlib.review.app import review_session
    from vaxlib.review.ledger import Ledger
    from vaxlib.review.pg import add_user
    import psycopg

    write_project(tmp_path)
    owner = pg_server.create_database("app_session")
    Ledger.open(owner, create=True).close()
    with psycopg.connect(owner, autocommit=True) as conn:
        add_user(conn, "lan", "analyst", ["79"], password="pw-lan-secret")
        add_user(conn, "minh", "analyst", ["01"], password="pw-minh-secret")
        add_user(conn, "nobody_yet", "analyst", ["48"], password="pw-nobody")
    from vaxlib.review.published import publish

    with Ledger.open(owner) as led:  # the operator publishes; the sessions below never read tmp_path
        publish(tmp_path, led)
    address = owner.split("@", 1)[1]  # the server's address without a login
    address = f"postgresql://@{address}".replace("//@/", "///")
    caplog.set_level(logging.DEBUG)
    s = review_session("/nonexistent", address, lang="vi", sign_in=True)
    assert s.panel is None and s.widget.children == (s.form,) and s.summary() == ""
    assert s.sign_in("lan", "wrong password") is False
    assert "không thành công" in s.message.value and s.panel is None
    assert s.sign_in("lan_typo", "pw-lan-secret") is False and "không thành công" in s.message.value
    assert s.password.value == ""
    s.password.value = "pw-lan-secret"
    s.user.value = "lan"
    s.button.click()
    assert s.panel is not None and s.widget.children[1] is s.panel.widget
    assert "lan" in s.signed_in.value and "79" in s.signed_in.value
    # her province's records that need review (R06 is verified: not published)
    assert sorted(s.workspace.vaccinations["record_id"]) == ["R01", "R02", "R03", "R05", "R08"]
    assert set(s.panel.queue()) == {"R01", "R02", "R03", "R08"}  # R04 (province 01) is not in her queue
    s.panel.accept.click()
    m = review_session("/nonexistent", address, lang="en", sign_in=True)
    assert m.sign_in("minh", "pw-minh-secret")
    assert set(m.panel.queue()) == {"R04"} and sorted(m.workspace.vaccinations["record_id"]) == ["R04", "R07"]
    m.panel.reason.value = "wrong_person"
    m.panel.reject.click()
    assert sorted(m.feedback.visible()["feedback_id"]) == ["PA01", "PAX"]  # PAX: about an 01 record
    # an analyst of a province with no records sees an empty queue, not anyone else's
    n = review_session("/nonexistent", address, sign_in=True)
    assert n.sign_in("nobody_yet", "pw-nobody") and n.workspace.vaccinations.empty and n.panel.queue() == []
    for sess in (s, m, n):
        sess.ledger.close()
    with Ledger.open(owner, readonly=True) as led:
        assert [(e.record_id, e.action, e.analyst, e.province) for e in led.events_list()] == [
            ("R01", "accept", "lan", "79"), ("R04", "reject", "minh", "01")]
        assert led.verify().ok
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "secret" not in logged and "wrong password" not in logged and "lan_typo" not in logged


def test_review_app_refuses_sqlite_and_shared_logins_and_reads_no_folder(capsys):
    for ledger, words in (("sqlite:///x.db", "needs a PostgreSQL ledger"),
                          ("postgresql://lan:pw@/vax?host=/tmp", "must not carry a login")):
        assert vax_main(["--lang", "en", "review-app", "--ledger", ledger]) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1 and "pw" not in err.replace("postgresql", "")
    with pytest.raises(SystemExit):  # no --data any more: the app reads the published queue from the database
        vax_main(["review-app", "--data", "outputs/demo", "--ledger", "postgresql:///vax"])
    assert "--data" in capsys.readouterr().err


def test_app_notebook_is_the_review_notebook_with_sign_in_injected(tmp_path):
    import nbformat

    from vaxlib.config import NOTEBOOKS_DIR
    from vaxlib.review.app import app_notebook

    path = app_notebook(tmp_path, "postgresql:///vax?host=/run/pg", "en", "fix")
    nb = nbformat.read(path, as_version=4)
    original = nbformat.read(NOTEBOOKS_DIR / "02-review-queue.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    scope: dict = {}
    exec(injected[0].source, scope)  # noqa: S102 - papermill's literals
    assert (scope["sign_in"], scope["create_ledger"], scope["ledger_url"], scope["lang"], scope["status"],
            scope["data_dir"]) == (True, False, "postgresql:///vax?host=/run/pg", "en", "fix", "")
    assert [c.source for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])] == [
        c.source for c in original.cells]


def test_postgres_append_after_a_refused_one_uses_one_round_trip(site):
    """A refused append (another province) leaves the connection usable, and each append is one round trip."""
    if site.backend != "postgres":
        return  # SQLite has no roles and no network
    from vaxlib.review.ledger import LedgerError

    with Ledger.open(site.url_for("lan", "analyst", ["79"])) as lan:
        lan.record_provinces = {"R79": "79", "R01": "01", "R79b": "79"}
        lan.accept("R79")
        with pytest.raises(LedgerError, match="refused"):
            lan.accept("R01")
        conn = lan.backend.conn
        assert conn.info.transaction_status.name == "IDLE"
        import tempfile

        with tempfile.TemporaryFile("w+") as trace:
            conn.pgconn.trace(trace.fileno())
            ev = lan.reject("R79b", reason_code="wrong_person")
            conn.pgconn.untrace()
            trace.seek(0)
            syncs = [line for line in trace if "\tF\t" in line and "Sync" in line]
        assert (ev.id, ev.analyst) == (2, "lan")
        assert len(syncs) == 1, syncs  # BEGIN, SET LOCAL, ledger_append, COMMIT and the durability wait together
    with Ledger.open(site.url, readonly=True) as owner:
        assert [e.record_id for e in owner.events_list()] == ["R79", "R79b"] and owner.verify().ok
