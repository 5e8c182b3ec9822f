"""Two analysts of two provinces and a supervisor, in three Chromium contexts, through ``vax review-app`` (Voilà).

A throwaway PostgreSQL ledger (the session's ``pg_server``) with four logins:
``lan`` (analyst, province 79), ``minh`` (analyst, 01), ``sup`` (supervisor,
79) and ``hoa`` (analyst, 48).  The operator publishes the run into the
database (``vax ledger publish``) and the run folder is then deleted, so the
app can only have read the database.  ``vax review-app`` serves the review
notebook; each browser context signs in as one person and sees nothing of the
other province (queue size, names, feedback items).  Lan accepts, rejects (with a reason) and edits (with a
reason) while Minh rejects his province's record; Lan's acceptance of a
24-record cluster then waits for a supervisor, and Sup confirms it in his own
page.  Afterwards the ledger holds every decision under the right login and
province, verifies, and a fourth role's own SQL sees none of it.

Screenshots go to ``outputs/screenshots/team-*.png`` (git-ignored).  Skipped
with a reason when /usr/bin/chromium or Playwright is missing (``.ci/run``
installs Chromium and PostgreSQL).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from vaxlib.config import OUTPUTS_DIR

from conftest import free_port
from test_browser_review import CHROMIUM, CHROMIUM_ARGS
from test_team import write_project
from test_widgets import NO_DIACRITICS_CLUSTER, _candidate, make_review_tables

pytestmark = pytest.mark.browser

SHOTS = OUTPUTS_DIR / "screenshots"
EXTRA = [f"R1{i:02d}" for i in range(22)]  # 22 more records of the no-diacritics cluster: 24 with R01 and R08


def make_team_tables():
    """The hand-written fixture plus 22 records of Lan's no-diacritics cluster (a bulk above the threshold)."""
    registry, vacc, matches, cands = make_review_tables()
    base_v = vacc[vacc["record_id"] == "R08"].iloc[0]
    base_m = matches[matches["record_id"] == "R08"].iloc[0]
    vacc = pd.concat([vacc, pd.DataFrame([{**base_v, "record_id": r, "vaccination_date": "2021-10-07"}
                                          for r in EXTRA])], ignore_index=True)
    matches = pd.concat([matches, pd.DataFrame([{**base_m, "record_id": r} for r in EXTRA])], ignore_index=True)
    cands = pd.concat([cands, pd.DataFrame([_candidate(r, "079085001234", 1, 0.88) for r in EXTRA])],
                      ignore_index=True)
    return registry, vacc, matches, cands


@pytest.fixture
def team_app(tmp_path, pg_server, web_server):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    import psycopg

    from vaxlib.review.ledger import Ledger
    from vaxlib.review.pg import add_user

    project = tmp_path / "project"
    tables = make_team_tables()
    write_project(project, tables)
    owner = pg_server.create_database("team_browser")
    Ledger.open(owner, create=True).close()
    logins = {"lan": ("analyst", ["79"]), "minh": ("analyst", ["01"]), "sup": ("supervisor", ["79"]),
              "hoa": ("analyst", ["48"])}
    with psycopg.connect(owner, autocommit=True) as conn:
        for name, (role, provinces) in logins.items():
            add_user(conn, name, role, provinces, password=f"{name}-Mật-khẩu-1")
    # the operator publishes the run, then the run folder is gone: the app can only read the database
    publish = subprocess.run([sys.executable, "-m", "vaxlib.cli", "ledger", "publish", "--run", str(project),
                              "--ledger", owner], capture_output=True, text=True, timeout=120)
    assert publish.returncode == 0, publish.stderr
    shutil.rmtree(project)
    address = f"postgresql:///team_browser?host={pg_server.socket_dir}"
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "jrt"),
           "JUPYTER_DATA_DIR": str(tmp_path / "jdata")}
    # ready = the port listens (asking for a page would start a kernel and run the notebook)
    server = web_server([sys.executable, "-m", "vaxlib.cli", "review-app", "--ledger", address, "--port",
                         str(port)], port=port, ready=None, env=env, name="review-app", timeout=60)
    return {"port": port, "owner": owner, "tables": tables, "log": server.log, "server": pg_server,
            "publish": publish.stdout, "app": server}


def _sign_in(page, port: int, user: str) -> None:
    page.goto(f"http://127.0.0.1:{port}/", timeout=120_000)
    page.locator(".vax-login-user input").fill(user, timeout=120_000)
    page.locator(".vax-login-password input").fill(f"{user}-Mật-khẩu-1")
    page.locator(".vax-login-button").click()
    page.locator(".vax-review-panel").wait_for(state="visible", timeout=120_000)
    page.locator(".vax-signed-in").get_by_text(f"Đã đăng nhập: {user}").wait_for(timeout=10_000)


def _button(page, text: str):
    return page.locator(".vax-review-panel button").filter(has_text=re.compile(rf"^\s*{text}\s*$"))


def _reason_select(page):
    return page.locator(".vax-review-panel select").filter(has=page.locator("option", has_text="— Lý do —"))


def test_two_analysts_and_a_supervisor_in_chromium(team_app):
    from playwright.sync_api import sync_playwright

    import psycopg

    from vaxlib.i18n import t
    from vaxlib.review.clusters import find_clusters
    from vaxlib.review.ledger import Ledger

    port = team_app["port"]
    _, vacc, matches, _ = team_app["tables"]
    clusters = find_clusters(vacc, matches, min_size=2, top=200)
    row = clusters[clusters["cluster_id"] == NO_DIACRITICS_CLUSTER].iloc[0]
    cluster_label = f"#{row['rank']} · {row['description_vi']}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pages = {}
            for user in ("lan", "minh"):
                ctx = browser.new_context(viewport={"width": 1400, "height": 1200})
                pages[user] = ctx.new_page()
            # a wrong password first: refused, nothing else shown
            lan, minh = pages["lan"], pages["minh"]
            lan.goto(f"http://127.0.0.1:{port}/", timeout=120_000)
            lan.locator(".vax-login-user input").fill("lan", timeout=120_000)
            lan.locator(".vax-login-password input").fill("đoán-mò")
            lan.locator(".vax-login-button").click()
            lan.get_by_text(t("team.login_failed", "vi")).wait_for(timeout=30_000)
            lan.screenshot(path=str(SHOTS / "team-login-refused.png"))
            assert lan.locator(".vax-review-panel").count() == 0
            _sign_in(lan, port, "lan")
            _sign_in(minh, port, "minh")
            # each sees only their province's queue
            lan.get_by_text("Bản ghi R01 ·").wait_for(timeout=30_000)
            minh.get_by_text("Bản ghi R04 ·").wait_for(timeout=30_000)
            lan.screenshot(path=str(SHOTS / "team-lan.png"), full_page=True)
            minh.screenshot(path=str(SHOTS / "team-minh.png"), full_page=True)
            assert "R04" not in lan.locator(".vax-review-panel").inner_text()
            assert "R01" not in minh.locator(".vax-review-panel").inner_text()
            lan.get_by_text("Đã xem xét 0 / 26 · Đang chờ 26").wait_for(timeout=10_000)  # 79's queue, all of it
            minh.get_by_text("Đã xem xét 0 / 1 · Đang chờ 1").wait_for(timeout=10_000)  # 01's: R04 alone
            # nothing of the other province anywhere on the page: names, feedback items
            lan_text, minh_text = lan.locator("body").inner_text(), minh.locator("body").inner_text()
            # (each page does show its own record's name and its own province's complaints)
            assert "Nguyen Thi Hoa" in lan_text and "PA79" in lan_text, lan_text[-800:]
            assert "Phạm Minh Tuấn" in minh_text and "PA01" in minh_text and "PAX" in minh_text, minh_text[-800:]
            for name in ("Phạm Minh Tuấn", "Hoàng Văn Nam", "PA01", "PAX"):  # R04, R07 and 01's complaints
                assert name not in lan_text, name
            for name in ("Nguyen Thi Hoa", "Trần Văn Dũng", "Tran Van Dung", "Lê Thị Thủy", "PA79"):
                assert name not in minh_text, name
            lan_provinces = lan.locator(".vax-review-panel select").first.locator("option").all_inner_texts()
            assert not any("01" in o or "Hà Nội" in o for o in lan_provinces), lan_provinces
            # Lan: accept R01; Minh at the same time: reject R04 with a reason
            _button(lan, "Duyệt").click()
            _reason_select(minh).select_option(label=t("reason.wrong_person", "vi"))
            _button(minh, "Từ chối").click()
            lan.get_by_text("cho bản ghi R01").wait_for(timeout=30_000)
            minh.get_by_text("cho bản ghi R04").wait_for(timeout=30_000)
            # Lan: reject R02 with a reason, then edit R03 with a reason
            lan.get_by_text("Bản ghi R02 ·").wait_for(timeout=30_000)
            _reason_select(lan).select_option(label=t("reason.typed_value_correct", "vi"))
            _button(lan, "Từ chối").click()
            lan.get_by_text("cho bản ghi R02").wait_for(timeout=30_000)
            lan.get_by_text("Bản ghi R03 ·").wait_for(timeout=30_000)
            _button(lan, "Sửa").click()
            lan.locator(".vax-edit-form").wait_for(state="visible", timeout=30_000)
            _reason_select(lan).select_option(label=t("reason.document_checked", "vi"))
            lan.locator(".vax-edit-form button").filter(has_text=re.compile(r"^\s*Lưu")).click()
            lan.get_by_text("cho bản ghi R03").wait_for(timeout=30_000)
            # Lan: accept the whole 23-record cluster: above the threshold, it waits for a supervisor
            lan.locator(".vax-review-panel select").filter(
                has=lan.locator("option", has_text=cluster_label)).select_option(label=cluster_label)
            _button(lan, "Duyệt cả cụm").click()
            lan.get_by_text("Duyệt 23 bản ghi").wait_for(timeout=30_000)
            _button(lan, t("review.confirm", "vi")).click()
            lan.get_by_text("chờ giám sát xác nhận").wait_for(timeout=30_000)
            lan.screenshot(path=str(SHOTS / "team-lan-bulk-pending.png"), full_page=True)
            assert lan.locator(".vax-bulk-supervisor-confirm").count() == 0  # an analyst has no confirm button
            # the supervisor signs in and confirms
            sup = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
            _sign_in(sup, port, "sup")
            box = sup.locator(".vax-bulk-supervisor")
            box.locator(".vax-bulk-supervisor-confirm").wait_for(state="visible", timeout=30_000)
            assert "23 bản ghi · tỉnh 79" in box.locator("select").input_value()
            assert "do lan duyệt" in box.locator("select").input_value()
            sup.screenshot(path=str(SHOTS / "team-supervisor.png"), full_page=True)
            box.locator(".vax-bulk-supervisor-confirm").click()
            box.get_by_text("Đã xác nhận duyệt 23 bản ghi của lan").wait_for(timeout=30_000)
            box.locator(".vax-bulk-supervisor-confirm").wait_for(state="hidden", timeout=30_000)  # none waits
            # the confirmed records left his queue: Lan's 3 decisions + 23 confirmed of 26 in province 79
            sup.get_by_text("Đã xem xét 26 / 26 · Đang chờ 0").wait_for(timeout=30_000)
            sup.screenshot(path=str(SHOTS / "team-supervisor-confirmed.png"), full_page=True)
        finally:
            browser.close()
    with Ledger.open(team_app["owner"], readonly=True) as led:
        events = led.events_list()
        decided = [(e.record_id, e.action, e.analyst, e.province, e.reason_code) for e in events
                   if e.action in ("accept", "reject", "edit")]
        assert sorted(decided) == sorted([
            ("R01", "accept", "lan", "79", None), ("R04", "reject", "minh", "01", "wrong_person"),
            ("R02", "reject", "lan", "79", "typed_value_correct"), ("R03", "edit", "lan", "79", "document_checked")])
        bulk = [e for e in events if e.action == "bulk_accept"]
        assert len(bulk) == 23 and {(e.analyst, e.province) for e in bulk} == {("lan", "79")}
        assert all(e.values.get("needs_confirmation") for e in bulk)
        confirm = [e for e in events if e.action == "confirm_bulk"]
        assert [(e.analyst, e.bulk_id, e.province) for e in confirm] == [("sup", bulk[0].bulk_id, "79")]
        assert led.pending_bulks().empty
        assert set(led.current_decisions()["record_id"]) == {"R01", "R02", "R03", "R04", "R08", *EXTRA}
        assert led.verify().ok
    # a fourth role, of another province, reading the table with its own SQL: nothing
    srv = team_app["server"]
    with psycopg.connect(srv.url("hoa", "hoa-Mật-khẩu-1", "team_browser"), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM ledger_events").fetchone()[0] == 0
    with psycopg.connect(srv.url("minh", "minh-Mật-khẩu-1", "team_browser"), autocommit=True) as conn:
        assert conn.execute("SELECT DISTINCT province FROM ledger_events").fetchall() == [("01",)]
    # what each analyst's own login could read with hand-written SQL from the published queue
    for user, provinces in (("lan", [("79",)]), ("minh", [("01",)]), ("hoa", [("48",)])):
        with psycopg.connect(srv.url(user, f"{user}-Mật-khẩu-1", "team_browser"), autocommit=True) as conn:
            assert conn.execute("SELECT DISTINCT province FROM review_parts").fetchall() == provinces
    assert "Đã công bố phiên bản 1 (lần đầu): 29 bản ghi cần xem xét" in team_app["publish"]  # 27 of 79, 2 of 01
    log = team_app["log"].read_text(encoding="utf-8", errors="replace")
    assert "Mật-khẩu" not in log and "đoán-mò" not in log  # no password in the server's log
