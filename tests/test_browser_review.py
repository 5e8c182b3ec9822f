"""One real-browser test: JupyterLab on localhost, Debian's Chromium driven by Playwright.

The committed review notebook is copied, unchanged, into a temporary project
whose ``outputs/demo`` holds a small synthetic dataset (the notebook's
default ``data_dir``/``ledger_url`` point there); the test runs every cell,
clicks **Duyệt** on the first record of the queue and checks that the
ledger on disk then holds that decision.  A screenshot of the panel goes to
``outputs/screenshots/review-panel.png`` (git-ignored).

Skipped with a reason when /usr/bin/chromium or Playwright is missing
(``.ci/run`` installs Debian's ``chromium``; Playwright's own browser
download does not work offline).
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from vaxlib.config import NOTEBOOKS_DIR, OUTPUTS_DIR

from conftest import free_port

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
NOTEBOOK = "02-review-queue.ipynb"
SCREENSHOT = OUTPUTS_DIR / "screenshots" / "review-panel.png"


def _lab_settings(tmp_path) -> dict:
    """Environment of a private JupyterLab: its own config, runtime and settings folders, no news pop-up."""
    settings = tmp_path / "lab-settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    # no news/update pop-up over the notebook (and no network call for it)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}', encoding="utf-8")
    return {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "jrt"),
            "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-ws")}


def start_lab(web_server, tmp_path, project: Path):
    """JupyterLab over ``project`` (token off, 127.0.0.1 only), stopped with its kernels when the test ends."""
    port = free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={project}",
           "--allow-root", "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
           "--LabApp.extension_manager=readonly"]
    return web_server(cmd, port=port, ready="/api/status", env=_lab_settings(tmp_path), cwd=project,
                      name="jupyterlab", timeout=40)


@pytest.fixture
def lab(tmp_path, web_server):
    """A temporary project with the notebook and data, served by JupyterLab (token off, localhost only)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    from test_notebooks_review import make_dataset

    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    shutil.copy(NOTEBOOKS_DIR / NOTEBOOK, project / "notebooks" / NOTEBOOK)
    demo = project / "outputs" / "demo"
    matches = make_dataset(demo, persons=200)
    server = start_lab(web_server, tmp_path, project)
    return {"port": server.port, "project": project, "ledger": demo / "ledger.db", "matches": matches,
            "log": server.log}


def test_click_duyet_in_jupyterlab_writes_the_ledger(lab):
    from playwright.sync_api import sync_playwright

    from vaxlib.review.ledger import Ledger

    matches = lab["matches"]
    queue = sorted(matches.loc[matches["status"] == "review", "record_id"].astype(str))
    assert queue, "the synthetic set has records to review"
    first = queue[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(f"http://127.0.0.1:{lab['port']}/lab/tree/notebooks/{NOTEBOOK}", timeout=30_000)
            page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget "
                                   "&& window.jupyterapp.shell.currentWidget.sessionContext "
                                   "&& window.jupyterapp.shell.currentWidget.sessionContext.session "
                                   "&& window.jupyterapp.shell.currentWidget.sessionContext.session.kernel "
                                   "&& window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                                   ".connectionStatus === 'connected'", timeout=30_000)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            accept = page.locator(".vax-review-panel button").filter(has_text=re.compile(r"^\s*Duyệt\s*$"))
            accept.wait_for(state="visible", timeout=40_000)
            page.locator(".vax-review-panel").get_by_text(f"Bản ghi {first} ·").wait_for(timeout=10_000)
            page.wait_for_timeout(500)  # let the waterfall finish drawing
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.locator(".vax-review-panel").screenshot(path=str(SCREENSHOT))
            assert accept.get_attribute("accesskey") == "1"  # set by the panel's access-key helper
            accept.click()
            page.locator(".vax-review-panel").get_by_text(f"cho bản ghi {first}").wait_for(timeout=15_000)
        finally:
            browser.close()
    with Ledger.open(f"sqlite:///{lab['ledger']}") as ledger:
        events = ledger.events_list()
        assert [(e.record_id, e.action, e.analyst) for e in events] == [(first, "accept", "analyst")]
        assert ledger.verify().ok


# --------------------------------------------------------------------------- the hand-written fixture in a real browser

@pytest.fixture
def fixture_lab(tmp_path, web_server):
    """JupyterLab over a project holding notebooks 01 and 02 and the hand-written review fixture
    (test_widgets.RECORDS: R02 with a proposed ID fix, R04 with two candidates, a 2-record cluster)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    from test_widgets import make_review_tables

    from vaxlib.runs import atomic_run

    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    for nb in (NOTEBOOK, "01-explore-errors.ipynb"):
        shutil.copy(NOTEBOOKS_DIR / nb, project / "notebooks" / nb)
    demo = project / "outputs" / "demo"
    (demo / "data").mkdir(parents=True)
    registry, vacc, matches, cands = make_review_tables()
    registry.to_parquet(demo / "data" / "registry.parquet", index=False)
    vacc.to_parquet(demo / "data" / "vaccinations.parquet", index=False)
    with atomic_run(demo / "match", command="match") as run:  # readers refuse a folder without a manifest
        matches.to_parquet(run / "matches.parquet", index=False)
        cands.to_parquet(run / "candidates.parquet", index=False)
    server = start_lab(web_server, tmp_path, project)
    return {"port": server.port, "project": project, "ledger": demo / "ledger.db"}


def _open_and_run(page, port: int, notebook: str) -> None:
    page.goto(f"http://127.0.0.1:{port}/lab/tree/notebooks/{notebook}", timeout=30_000)
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget "
                           "&& window.jupyterapp.shell.currentWidget.context "
                           f"&& window.jupyterapp.shell.currentWidget.context.path.endsWith('{notebook}') "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext.session "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext.session.kernel "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                           ".connectionStatus === 'connected'", timeout=30_000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def test_edit_flow_candidate_two_and_cluster_export_in_jupyterlab(fixture_lab):
    """Sửa keeps the proposed ID; Duyệt ứng viên 2 links the second candidate; a cluster is exported as .xlsx."""
    from playwright.sync_api import sync_playwright

    from vaxlib.io import read_table
    from vaxlib.review.ledger import Ledger

    shots = OUTPUTS_DIR / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    port = fixture_lab["port"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            _open_and_run(page, port, NOTEBOOK)
            panel = page.locator(".vax-review-panel")
            try:
                panel.get_by_text("Bản ghi R01 ·").wait_for(timeout=60_000)
            except Exception:
                page.screenshot(path=str(shots / "review-timeout.png"))
                raise
            panel.locator("button").filter(has_text=re.compile(r"Tiếp")).first.click()
            panel.get_by_text("Bản ghi R02 ·").wait_for(timeout=10_000)
            # --- Sửa: change only Ngày sinh; the masked ID box stays empty
            panel.locator("button").filter(has_text=re.compile(r"^\s*Sửa\s*$")).click()
            form = page.locator(".vax-edit-form")
            form.wait_for(state="visible", timeout=10_000)
            dob = form.locator("input[placeholder='dd/mm/yyyy']")
            dob.fill("02/12/1985")
            dob.press("Tab")
            form.get_by_text("(bạn nhập)").wait_for(timeout=10_000)  # the preview follows the typing
            preview = form.inner_text()
            assert "0790******34" in preview and "02/12/1985" in preview, preview
            form.screenshot(path=str(shots / "edit-form-preview.png"))
            # the ledger wants a reason for Sửa: first Lưu without one is refused, then pick one
            form.locator("button").filter(has_text=re.compile(r"Lưu")).click()
            form.get_by_text("Chọn lý do trong danh sách").wait_for(timeout=10_000)  # said in the form too
            reason = panel.locator("select").filter(has=page.locator("option", has_text="— Lý do —"))
            assert reason.count() == 1
            reason.select_option(label="Đã đối chiếu giấy tờ")
            form.locator("button").filter(has_text=re.compile(r"Lưu")).click()
            panel.get_by_text("cho bản ghi R02").wait_for(timeout=15_000)
            # --- candidate 2 of R04 (province Hà Nội)
            panel.locator("select").first.select_option(label="01 · Hà Nội")
            panel.get_by_text("Bản ghi R04 ·").wait_for(timeout=10_000)
            panel.locator("button").filter(has_text=re.compile(r"Ứng viên 2")).click()
            accept2 = panel.locator("button").filter(has_text=re.compile(r"Duyệt ứng viên 2"))
            accept2.wait_for(state="visible", timeout=10_000)
            panel.screenshot(path=str(shots / "review-candidate-2.png"))
            accept2.click()
            panel.get_by_text("cho bản ghi R04").wait_for(timeout=15_000)
            # --- notebook 01: export a cluster for its facility
            _open_and_run(page, port, "01-explore-errors.ipynb")
            explore = page.locator(".vax-explore-panel")
            try:
                explore.wait_for(state="visible", timeout=60_000)
            except Exception:
                page.screenshot(path=str(shots / "explore-timeout.png"))
                raise
            chooser = explore.locator(".vax-cluster-chooser select")
            texts = chooser.locator("option").evaluate_all("os => os.map(o => o.textContent)")
            found = [o for o in texts if "gõ tên không dấu" in o.replace("\xa0", " ")]  # ipywidgets: nbsp
            assert found, (explore.locator("select").count(), texts[:5])
            label = found[0]
            chooser.select_option(label=label)
            export = explore.locator(".vax-export-cluster button, button.vax-export-cluster").first
            page.wait_for_function("() => { const b = document.querySelector('.vax-export-cluster');"
                                   " return b && !b.disabled; }", timeout=10_000)
            export.click()
            explore.get_by_text("Đã xuất 2 bản ghi").wait_for(timeout=15_000)
            explore.screenshot(path=str(shots / "cluster-export.png"))
        finally:
            browser.close()
    with Ledger.open(f"sqlite:///{fixture_lab['ledger']}") as ledger:
        events = {e.record_id: e for e in ledger.events_list()}
    assert events["R02"].action == "edit"
    assert events["R02"].values == {"dob": "1985-12-02", "id_number": "079085001234"}  # the ID fix kept
    assert events["R02"].reason_code == "document_checked"
    assert events["R04"].action == "edit" and events["R04"].reason == "candidate 2"
    assert events["R04"].values["id_number"] == "001075004322"
    exported = fixture_lab["project"] / "outputs" / "exports" / "cum-CS-79-0001-name_no_diacritics-2021-10.xlsx"
    back = read_table(exported, "vaccinations").table
    assert sorted(back["record_id"]) == ["R01", "R08"]


def test_web_server_fixture_kills_the_server_and_what_it_started(web_server, tmp_path):
    """The browser tests' server fixture leaves nothing: a child in a session of its own (as a Jupyter
    kernel is) that ignores SIGTERM, and a server that ignores SIGTERM too, are both gone after stop()."""
    script = tmp_path / "stubborn.py"
    script.write_text(
        "import http.server, signal, subprocess, sys\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "kid = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'], start_new_session=True)\n"
        "open(sys.argv[2], 'w').write(str(kid.pid))\n"
        "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)"
        ".serve_forever()\n", encoding="utf-8")
    port = free_port()
    server = web_server([sys.executable, str(script), str(port), str(tmp_path / "kid.pid")], port=port, ready="/",
                        cwd=tmp_path, name="stubborn")
    kid = int((tmp_path / "kid.pid").read_text())
    tree = server.tree()
    assert set(tree) == {server.proc.pid, kid}
    killed = server.stop(grace=1.0)
    assert sorted(killed) == sorted(tree)  # both needed SIGKILL
    assert not any(server._alive(p, s) for p, s in tree.items())
