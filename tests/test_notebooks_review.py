"""Notebooks 01 (explore errors) and 02 (review queue) run headless with papermill on a small synthetic set."""
from __future__ import annotations

import html
import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from vaxlib.config import NOTEBOOKS_DIR

EXPLORE = NOTEBOOKS_DIR / "01-explore-errors.ipynb"
REVIEW = NOTEBOOKS_DIR / "02-review-queue.ipynb"


def make_dataset(root: Path, persons: int = 300, seed: int = 11) -> pd.DataFrame:
    """Write a ``vax demo``-shaped folder (data/ and match/) under ``root``; return the matches.

    Uses the synthetic generator and the real matcher; the auto threshold is
    raised so that the review queue is not empty on a few hundred persons.
    Falls back to the hand-written fixture of test_widgets if vaxlib.synth is absent.
    """
    (root / "data").mkdir(parents=True, exist_ok=True)
    try:
        from vaxlib.synth import generate
    except ImportError:
        from test_widgets import make_review_tables

        registry, vacc, matches, cands = make_review_tables()
    else:
        from vaxlib.match.pipeline import MatchSettings, run_match

        tables = generate(persons, seed, provinces=["79", "01"])
        registry, vacc = tables["registry"], tables["vaccinations"]
        result = run_match(registry, vacc, MatchSettings(auto_threshold=0.99999, u_pairs=20_000))
        matches, cands = result.matches, result.candidates
    from vaxlib.runs import atomic_run

    registry.to_parquet(root / "data" / "registry.parquet", index=False)
    vacc.to_parquet(root / "data" / "vaccinations.parquet", index=False)
    with atomic_run(root / "match", command="match") as run:
        matches.to_parquet(run / "matches.parquet", index=False)
        cands.to_parquet(run / "candidates.parquet", index=False)
    return matches


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("review-data")
    matches = make_dataset(root)
    return root, matches


def _run(nb: Path, out: Path, parameters: dict) -> nbformat.NotebookNode:
    papermill = pytest.importorskip("papermill")
    papermill.execute_notebook(str(nb), str(out), parameters=parameters, cwd=str(NOTEBOOKS_DIR),
                               kernel_name="python3", progress_bar=False)
    return nbformat.read(out, as_version=4)


def _text_outputs(cell) -> str:
    parts = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            parts.append(o.get("text", ""))
        elif "data" in o:
            parts.append(o["data"].get("text/plain", ""))
            parts.append(o["data"].get("text/html", ""))
    return "".join(parts)


@pytest.mark.parametrize("nb", [EXPLORE, REVIEW], ids=lambda p: p.name)
def test_notebooks_are_thin_and_committed_clean(nb):
    book = nbformat.read(nb, as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    for line in params[0].source.splitlines():
        assert ": " in line and "=" in line and "  # " in line, f"parameters line without annotation/comment: {line}"
    for c in code:
        assert c.outputs == [] and c.execution_count is None
        assert not any(line.lstrip().startswith(("def ", "class ")) for line in c.source.splitlines())


@pytest.mark.slow
def test_review_notebook_runs_with_injected_parameters(dataset, tmp_path):
    root, matches = dataset
    ledger = tmp_path / "ledger.db"
    out = _run(REVIEW, tmp_path / "02.ipynb", {
        "data_dir": str(root), "ledger_url": f"sqlite:///{ledger}", "analyst": "papermill", "lang": "vi",
        "status": "",
    })
    injected = [c for c in out.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and str(root) in injected[0].source and "papermill" in injected[0].source
    n_mismatch = int(matches["status"].isin(["fix", "review", "unmatched"]).sum())
    last = _text_outputs(out.cells[-1])
    assert f"Đã xem xét 0 / {n_mismatch} · Đang chờ {n_mismatch}" in last
    assert "Sổ quyết định toàn vẹn: trống (0 sự kiện)" in last and "ledger" not in last  # one language
    assert ledger.exists()
    widget_outputs = [o for c in out.cells for o in c.get("outputs", [])
                      if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widget_outputs, "the panel cell displays a widget"


@pytest.mark.slow
def test_explore_notebook_runs_in_english(dataset, tmp_path):
    root, matches = dataset
    out = _run(EXPLORE, tmp_path / "01.ipynb", {"data_dir": str(root), "lang": "en", "top": 5})
    injected = [c for c in out.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "top = 5" in injected[0].source
    table = _text_outputs(out.cells[-1])
    assert "Description" in table and "Records" in table
    # every description of the top clusters is shown whole, in English (pandas cut them at 50 characters)
    from vaxlib.review.clusters import find_clusters

    vacc = pd.read_parquet(root / "data" / "vaccinations.parquet")
    expected = find_clusters(vacc, matches).head(5)["description_en"]
    assert len(expected) == 5 and expected.str.len().max() > 50
    for text in expected:
        assert html.escape(text) in table, text
    assert "..." not in table and "…" not in table
    describe = next(c for c in out.cells if "ws.describe(lang)" in c.source)
    assert "vaccinations" in _text_outputs(describe) and "matches" in _text_outputs(describe)
    assert json.dumps(out.metadata.get("papermill", {}).get("parameters", {})).count("top") == 1
