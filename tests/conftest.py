"""Shared test set-up: anchors in a per-test folder, a throwaway PostgreSQL, ledger sites on both backends."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings

# Property tests check results, not speed: on a shared 2-core machine (and in CI) one example can take
# longer than Hypothesis's 200 ms default without anything being wrong.  Benchmarks measure speed.
settings.register_profile("vaxlib", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("vaxlib")


@pytest.fixture(autouse=True)
def _ledger_anchors_in_tmp(tmp_path_factory, monkeypatch):
    """Ledger anchors (witnessed heads) go to a per-test folder, never the user's state folder."""
    monkeypatch.setenv("VAX_LEDGER_ANCHORS", str(tmp_path_factory.mktemp("anchors")))


@pytest.fixture(scope="session")
def pg_server():
    """One throwaway PostgreSQL for the session (unix socket, temp folder).

    Never skipped: without Debian's ``postgresql`` package this fails, and
    ``.ci/run`` installs it.
    """
    from vaxlib.review.pgserver import ThrowawayPostgres

    srv = ThrowawayPostgres().start()
    yield srv
    srv.stop()


_db_numbers = itertools.count(1)


@dataclass
class LedgerSite:
    """Where one test's ledger lives: ``url`` is the owner's URL (the ledger exists, empty)."""

    backend: str
    url: str
    server: object = None
    dbname: str = ""
    users: set = field(default_factory=set)

    def url_for(self, name: str, role: str = "national", provinces=()) -> str:
        """URL an analyst called ``name`` connects with (on SQLite: the same file; the name is typed)."""
        if self.backend == "sqlite":
            return self.url
        import psycopg

        from vaxlib.review.pg import add_user

        with psycopg.connect(self.url, autocommit=True) as conn:
            add_user(conn, name, role, list(provinces), password=f"pw-{name}")
        return self.server.url(name, f"pw-{name}", self.dbname)


def make_site(backend: str, tmp_path, request) -> LedgerSite:
    from vaxlib.review.ledger import Ledger

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
        Ledger.open(url, create=True).close()
        return LedgerSite("sqlite", url)
    srv = request.getfixturevalue("pg_server")
    dbname = f"ledger_t{next(_db_numbers)}"
    url = srv.create_database(dbname)
    Ledger.open(url, create=True).close()
    return LedgerSite("postgres", url, srv, dbname)


@pytest.fixture(params=["sqlite", "postgres"])
def site(request, tmp_path) -> LedgerSite:
    """A new, empty ledger on each backend (PostgreSQL cases have ``postgres`` in their id)."""
    return make_site(request.param, tmp_path, request)


# --------------------------------------------------------------------------- web servers of the browser tests

class WebServer:
    """One server process started by :func:`web_server` (JupyterLab, ``vax review-app``).

    ``stop()`` always leaves nothing running: it snapshots the server's whole
    process tree first (Jupyter kernels run in sessions of their own, so a
    process-group kill misses them), sends SIGTERM to the server's group so it
    can shut its kernels down, and after ``grace`` seconds SIGKILLs whatever of
    that tree is still there.  The server also gets SIGTERM when the test run
    dies (``PR_SET_PDEATHSIG``), so even a killed pytest leaves no server behind.
    """

    def __init__(self, proc, port: int, log_path, name: str):
        self.proc, self.port, self.log, self.name = proc, port, log_path, name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tree(self) -> dict[int, str]:
        """pid -> start time of the server and every process below it (now)."""
        import os

        children: dict[int, list[int]] = {}
        start: dict[int, str] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
            start[int(entry)] = fields[19]
        out, todo = {}, [self.proc.pid]
        while todo:
            pid = todo.pop()
            if pid in start and pid not in out:
                out[pid] = start[pid]
                todo.extend(children.get(pid, []))
        return out

    @staticmethod
    def _alive(pid: int, started: str) -> bool:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            return False
        return fields[19] == started and fields[0] != "Z"  # the same process (not a reused pid), not a zombie

    def stop(self, grace: float = 20.0) -> list[int]:
        """Stop the server and everything it started; returns the pids that needed SIGKILL."""
        import os
        import signal
        import subprocess
        import time

        tree = self.tree()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + (grace if self.proc.poll() is None else 5.0)
        while time.monotonic() < deadline and any(self._alive(p, s) for p, s in tree.items()):
            time.sleep(0.1)  # kernels shutting down after their server
        killed = [p for p, s in tree.items() if self._alive(p, s)]
        for pid in killed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and any(self._alive(p, tree[p]) for p in killed):
            time.sleep(0.05)  # SIGKILL is delivered asynchronously
        return killed

    def wait_ready(self, path: str | None, timeout: float) -> None:
        """Until ``path`` answers 200 (or, with None, until the port accepts connections)."""
        import socket
        import time
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.proc.returncode} (log: {self.log})")
            try:
                if path is None:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                with urllib.request.urlopen(self.url + path, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{self.name} did not answer on port {self.port} within {timeout:.0f} s (log: {self.log})")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _term_with_parent() -> None:
    """In the server's process, before exec: SIGTERM when the test run dies (Linux)."""
    import signal

    from vaxlib.runs import die_with_parent

    die_with_parent(signal.SIGTERM)


@pytest.fixture
def web_server(tmp_path):
    """Start servers for a browser test; every one is stopped (its whole tree killed) when the test ends.

    ``start(cmd, port=..., ready=PATH_OR_NONE, env=..., cwd=..., name=..., timeout=...)`` returns a
    :class:`WebServer` once it answers: ``ready`` is an HTTP path that must answer 200, or None to wait
    only for the port (a Voilà page request would start a kernel).
    """
    import subprocess

    started: list[WebServer] = []

    def start(cmd, *, port: int, ready: str | None = None, env=None, cwd=None, name: str = "server",
              timeout: float = 60.0) -> WebServer:
        log_path = tmp_path / f"{name}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_term_with_parent)
        server = WebServer(proc, port, log_path, name)
        started.append(server)
        server.wait_ready(ready, timeout)
        return server

    yield start
    for server in reversed(started):
        server.stop()
