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
