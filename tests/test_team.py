"""Team mode: the supervisor's side of the two-person rule (CLI and widget), on SQLite and PostgreSQL."""
from __future__ import annotations

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
    assert vax_main(["ledger", "pending", "--ledger", sup_url]) == 0
    out = capsys.readouterr().out
    assert bulk_id in out and "25 records" in out and "province 79" in out and "by lan" in out
    sup = ["--analyst", "sup"] if site.backend == "sqlite" else []
    # refused, one line each, exit 2: too short an id, the analyst confirming her own bulk, no name on SQLite
    assert vax_main(["ledger", "confirm-bulk", "--ledger", sup_url, bulk_id[:5], *sup]) == 2
    assert "at least 8" in capsys.readouterr().err
    lan_args = ["--analyst", "lan"] if site.backend == "sqlite" else []
    assert vax_main(["ledger", "confirm-bulk", "--ledger", lan_url, bulk_id, *lan_args]) == 2
    err = capsys.readouterr().err
    assert ("another person" if site.backend == "sqlite" else "only a supervisor") in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    if site.backend == "sqlite":
        assert vax_main(["ledger", "confirm-bulk", "--ledger", sup_url, bulk_id]) == 2
        assert "--analyst" in capsys.readouterr().err
    assert vax_main(["ledger", "confirm-bulk", "--ledger", sup_url, bulk_id[:10], *sup]) == 0
    assert f"confirmed bulk acceptance {bulk_id} (25 records) as sup" in capsys.readouterr().out
    assert vax_main(["ledger", "pending", "--ledger", sup_url]) == 0
    assert "no bulk acceptance waits" in capsys.readouterr().out
    assert vax_main(["ledger", "confirm-bulk", "--ledger", sup_url, bulk_id, *sup]) == 2  # nothing waits now
    assert "no bulk acceptance" in capsys.readouterr().err
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
        queued_before = set(p_sup.queue())
        assert {"R01", "R08"} <= queued_before
        box.confirm.click()
        assert "Đã xác nhận duyệt 2 bản ghi của lan" in box.message.value
        assert box.box.layout.display == "none"
        assert set(p_sup.queue()) == queued_before - {"R01", "R08"}  # the panel re-read its queue
        assert _decisions(sup) == {"R01": "bulk_accept", "R08": "bulk_accept"}
        last = sup.events_list()[-1]
        assert (last.action, last.analyst) == ("confirm_bulk", "sup")
    finally:
        lan.close()
        sup.close()
    with Ledger.open(site.url, readonly=True) as owner:
        assert owner.verify().ok
