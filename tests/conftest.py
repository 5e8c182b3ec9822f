"""Shared test set-up."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _ledger_anchors_in_tmp(tmp_path_factory, monkeypatch):
    """Ledger anchors (witnessed heads) go to a per-test folder, never the user's state folder."""
    monkeypatch.setenv("VAX_LEDGER_ANCHORS", str(tmp_path_factory.mktemp("anchors")))
