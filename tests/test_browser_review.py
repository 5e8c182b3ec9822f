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
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from vaxlib.config import NOTEBOOKS_DIR, OUTPUTS_DIR

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
NOTEBOOK = "02-review-queue.ipynb"
SCREENSHOT = OUTPUTS_DIR / "screenshots" / "review-panel.png"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {proc.returncode} (see its log)")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {timeout:.0f} s")


@pytest.fixture
def lab(tmp_path):
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
    settings = tmp_path / "lab-settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    # no news/update pop-up over the notebook (and no network call for it)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}', encoding="utf-8")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "jrt"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-ws")}
    port = _free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={project}",
           "--allow-root", "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
           "--LabApp.extension_manager=readonly"]
    log = open(tmp_path / "jupyterlab.log", "wb")
    proc = subprocess.Popen(cmd, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/status", 40, proc)
        yield {"port": port, "project": project, "ledger": demo / "ledger.db", "matches": matches,
               "log": tmp_path / "jupyterlab.log"}
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernel it started
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


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
