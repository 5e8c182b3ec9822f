"""`vax match --engine dask` closes its LocalCluster without the cluster's own log lines on stderr.

CI (2026-12-07, load 8): a refused input part gave the one-line error *and* a worker's ERROR traceback
("Failed to communicate with scheduler during heartbeat"): the scheduler had closed while a worker's
heartbeat was in flight. Here the scheduler is closed under running workers on purpose, and stderr must
hold none of the cluster's lines.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("distributed")

SCRIPT = textwrap.dedent("""
    import time
    from vaxlib.match import distributed as d

    def main():
        client = d.open_cluster(workers=2)
        assert client.submit(sum, [1, 2]).result() == 3
        cluster = client._vax_cluster
        close = client.close

        def close_and_lose_the_scheduler():
            # the scheduler gone under the running workers: they log the lost scheduler, as at a loaded shutdown
            close()
            cluster.sync(cluster.scheduler.close)
            time.sleep(3)

        client.close = close_and_lose_the_scheduler
        d.close_cluster(client)
        print("closed", flush=True)

    if __name__ == "__main__":
        main()
""")


def test_closing_the_cluster_writes_none_of_its_log_lines(tmp_path):
    script = tmp_path / "close.py"
    script.write_text(SCRIPT, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "closed"
    leaked = [line for line in done.stderr.splitlines() if " - distributed." in line]
    assert leaked == [], done.stderr[-3000:]


def test_closing_restores_this_process_log_levels():
    import logging

    from vaxlib.match import distributed as d

    logging.getLogger("distributed.worker").setLevel(logging.WARNING)
    before = d._quiet_cluster_logs()
    assert logging.getLogger("distributed.worker").level == logging.CRITICAL
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)
    assert logging.getLogger("distributed.worker").level == logging.WARNING
