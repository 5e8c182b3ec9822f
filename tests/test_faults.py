"""Fault injection on every writing command (scenarios in bench/faults.py).

Each scenario SIGKILLs ``match``, ``apply``, ``sign``, ``feedback`` or ``report``
at one point (mid-file, staged, after the manifest, mid-swap, or from outside
while its workers and kernels run) or fills the disk, then checks that the
previous result is intact, nothing is left behind, no process outlives the
command, and a rerun equals the uninterrupted run.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_BENCH = Path(__file__).resolve().parents[1] / "bench" / "faults.py"
_spec = importlib.util.spec_from_file_location("vax_bench_faults", _BENCH)
faults = importlib.util.module_from_spec(_spec)
sys.modules["vax_bench_faults"] = faults
_spec.loader.exec_module(faults)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL, /proc and prctl: Linux")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return faults.build_reference(tmp_path_factory.mktemp("faults") / "reference")


@pytest.mark.parametrize("scenario", faults.SCENARIOS, ids=lambda s: s.name)
def test_fault_is_survived(reference, tmp_path, scenario):
    problems = faults.run_scenario(reference, tmp_path / "work", scenario)
    assert problems == []


def test_the_checks_can_fail(reference, tmp_path):
    """A result changed behind vaxlib's back is seen (the comparison is not vacuous)."""
    faults.shutil.copytree(reference.root, tmp_path / "w")
    rf = faults.RunFolder(tmp_path / "w")
    before = faults.snapshot(rf.apply)
    xlsx = rf.apply / "vaccinations_reimport.xlsx"
    import openpyxl

    wb = openpyxl.load_workbook(xlsx)
    wb.active["B2"] = "Changed Name"
    wb.save(xlsx)
    with pytest.raises(faults.ManifestError if hasattr(faults, "ManifestError") else Exception):
        faults.snapshot(rf.apply)
    assert before != {**before, "vaccinations_reimport.xlsx": faults._content(xlsx)}
