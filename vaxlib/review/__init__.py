"""Review workbench: mismatch clusters, the decision ledger, applying decisions.

* :mod:`vaxlib.review.labels` — Vietnamese/English wording of error codes, statuses, actions;
* :mod:`vaxlib.review.clusters` — :func:`find_clusters`, :func:`cluster_records`;
* :mod:`vaxlib.review.ledger` — :class:`Ledger` (append-only, hash-chained decisions);
* :mod:`vaxlib.review.apply` — :func:`apply_decisions`, :func:`run_apply` (``vax apply``);
* :mod:`vaxlib.review.published` — the review queue published into the team database per province
  (``vax ledger publish``) and read back as an analyst's own role.

Submodules are imported on first use so ``import vaxlib.review`` stays light.

Quick start (what the review widgets build on)::

    import uuid
    from vaxlib.review import Ledger, cluster_records, find_clusters
    from vaxlib.review.labels import action_label, error_label

    clusters = find_clusters(vaccinations, matches)          # largest first
    records = cluster_records(clusters, clusters.cluster_id[0], vaccinations, matches)
    with Ledger.open("sqlite:///outputs/ledger.db") as ledger:
        ev = ledger.accept(rid, analyst="lan", values={"person_id": pid},  # snapshot of what was shown
                           idempotency_key=uuid.uuid4().hex)             # one key per click
        ledger.edit(rid, {"dob": "17/05/1960"}, analyst="lan")           # InvalidEditError if it doesn't parse
        ledger.undo(ev.id, analyst="lan")
        ledger.bulk_accept(records.record_id, analyst="lan", cluster_id=clusters.cluster_id[0])
        decisions = ledger.current_decisions()                            # one row per decided record
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "find_clusters": "vaxlib.review.clusters",
    "cluster_records": "vaxlib.review.clusters",
    "cluster_record_ids": "vaxlib.review.clusters",
    "describe_cluster": "vaxlib.review.clusters",
    "mismatch_records": "vaxlib.review.clusters",
    "explode_error_codes": "vaxlib.review.clusters",
    "Ledger": "vaxlib.review.ledger",
    "LedgerEvent": "vaxlib.review.ledger",
    "VerifyResult": "vaxlib.review.ledger",
    "InvalidEditError": "vaxlib.review.ledger",
    "apply_decisions": "vaxlib.review.apply",
    "run_apply": "vaxlib.review.apply",
    "ApplyResult": "vaxlib.review.apply",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
