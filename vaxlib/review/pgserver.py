"""A throwaway PostgreSQL server for tests and benchmarks.

``initdb`` + ``pg_ctl`` from Debian's ``postgresql`` package, listening only
on a unix socket in a fresh temporary folder, password authentication
(``scram-sha-256``) so that analysts' roles really are separate identities.
PostgreSQL refuses to run as root: when we are root the server runs as the
``postgres`` user (or ``nobody``).  The server is our child process with a
parent-death signal (``PR_SET_PDEATHSIG`` = SIGQUIT, PostgreSQL's immediate
shutdown), so it dies with the test run or benchmark even when that is
killed; :meth:`ThrowawayPostgres.stop` stops it and removes the folder, and
is registered with :mod:`atexit`.
"""
from __future__ import annotations

import atexit
import ctypes
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["ThrowawayPostgres", "find_pg_bin", "PgNotAvailable"]


def _die_with_parent() -> None:
    """In the server's process, before exec: SIGQUIT when our parent (the test run) dies."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGQUIT)


def _sweep_stale() -> None:
    """Remove folders of earlier throwaway servers whose run was killed (their server died with it)."""
    for folder in Path(tempfile.gettempdir()).glob("vax-pg-*"):
        pidfile = folder / "data" / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split()[0]) if pidfile.exists() else None
        except (OSError, ValueError, IndexError):
            continue
        if pid is not None and Path(f"/proc/{pid}").exists():
            continue  # a live server (another run)
        if pid is None and time.time() - folder.stat().st_mtime < 600:
            continue  # maybe one being set up right now
        shutil.rmtree(folder, ignore_errors=True)


class PgNotAvailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (install Debian's ``postgresql``)."""


def find_pg_bin() -> Path:
    """Folder holding ``initdb`` and ``pg_ctl``."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    raise PgNotAvailable("PostgreSQL server binaries not found (apt-get install postgresql)")


class ThrowawayPostgres:
    """One PostgreSQL cluster in a temporary folder.

    Attributes
    ----------
    admin_password
        Password of the superuser ``vaxadmin``.
    socket_dir
        Folder of the unix socket (the ``host`` of every URL).
    """

    ADMIN = "vaxadmin"

    def __init__(self, *, settings: dict[str, str] | None = None):
        self.bin = find_pg_bin()
        _sweep_stale()
        self.root = Path(tempfile.mkdtemp(prefix="vax-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self.log = self.root / "server.log"
        self.admin_password = secrets.token_hex(12)
        self.settings = {"listen_addresses": "", "unix_socket_directories": str(self.socket_dir),
                         "max_connections": "100", "shared_buffers": "32MB", "fsync": "on",
                         "synchronous_commit": "on", **(settings or {})}
        self._user: tuple[int, int] | None = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    pw = pwd.getpwnam(name)
                except KeyError:
                    continue
                self._user = (pw.pw_uid, pw.pw_gid)
                break
            else:  # pragma: no cover - every Debian has nobody
                raise PgNotAvailable("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")
            os.chown(self.root, *self._user)
        self.running = False

    def _as_user(self) -> dict:
        return {"user": self._user[0], "group": self._user[1], "extra_groups": []} if self._user else {}

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        kw = self._as_user()
        proc = subprocess.run(list(args), capture_output=True, text=True, cwd=self.root, timeout=120, **kw)
        if proc.returncode != 0:
            raise PgNotAvailable(f"{Path(args[0]).name} failed: {(proc.stderr or proc.stdout).strip()[-500:]}")
        return proc

    def start(self) -> "ThrowawayPostgres":
        pwfile = self.root / "pw"
        pwfile.write_text(self.admin_password + "\n")
        if self._user:
            os.chown(pwfile, *self._user)
        os.chmod(pwfile, 0o600)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", self.ADMIN, "--pwfile", str(pwfile),
                  "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale")
        pwfile.unlink()
        args = [str(self.bin / "postgres"), "-D", str(self.data)]
        for k, v in self.settings.items():
            args += ["-c", f"{k}={v}"]
        log = open(self.log, "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.root, preexec_fn=_die_with_parent, **self._as_user())
        log.close()
        self.running = True
        atexit.register(self.stop)
        deadline = time.monotonic() + 60
        while not (self.socket_dir / ".s.PGSQL.5432").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise PgNotAvailable(f"postgres did not start: {self.log.read_text(errors='replace')[-500:]}")
            time.sleep(0.05)
        self._wait_ready(deadline)
        return self

    def _wait_ready(self, deadline: float) -> None:
        import psycopg

        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=5).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def url(self, user: str | None = None, password: str | None = None, dbname: str = "postgres") -> str:
        """``postgresql://`` URL for ``user`` (default the superuser) over the unix socket."""
        user = user or self.ADMIN
        password = self.admin_password if password is None and user == self.ADMIN else password
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@/{dbname}?host={self.socket_dir}"

    def create_database(self, name: str) -> str:
        """Create an empty database (owned by the superuser); return its superuser URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(dbname=name)

    def stop(self) -> None:
        """Stop the server and remove its folder.

        Immediate shutdown: the folder is deleted next, so the shutdown checkpoint (a minute of
        fsyncs after a test session's few dozen databases) would be wasted.
        """
        if self.running:
            self.proc.send_signal(signal.SIGQUIT)  # immediate shutdown
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.running = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "ThrowawayPostgres":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
