"""A throwaway PostgreSQL server for tests and benchmarks.

``initdb`` + ``pg_ctl`` from Debian's ``postgresql`` package, listening only
on a unix socket in a fresh temporary folder, password authentication
(``scram-sha-256``) so that analysts' roles really are separate identities.
PostgreSQL refuses to run as root: when we are root the server runs as the
``postgres`` user (or ``nobody``).  :meth:`ThrowawayPostgres.stop` stops the
server and removes the folder; it is also registered with :mod:`atexit`.
"""
from __future__ import annotations

import atexit
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["ThrowawayPostgres", "find_pg_bin", "PgNotAvailable"]


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
        self.root = Path(tempfile.mkdtemp(prefix="vax-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self.log = self.root / "server.log"
        self.admin_password = secrets.token_hex(12)
        self.settings = {"listen_addresses": "''", "unix_socket_directories": f"'{self.socket_dir}'",
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

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        kw = {}
        if self._user:
            kw = {"user": self._user[0], "group": self._user[1], "extra_groups": []}
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
        opts = " ".join(f"-c {k}={v}" for k, v in self.settings.items())
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w",
                  "-t", "60", "start")
        self.running = True
        atexit.register(self.stop)
        return self

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
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.running = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "ThrowawayPostgres":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
