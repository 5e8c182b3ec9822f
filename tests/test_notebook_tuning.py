"""notebooks/03-tune-thresholds.ipynb runs headless with papermill and saves thresholds."""
from pathlib import Path

import nbformat
import pytest
import yaml

from vaxlib.cli import main as vax
from vaxlib.config import NOTEBOOKS_DIR

NB = NOTEBOOKS_DIR / "03-tune-thresholds.ipynb"


def test_notebook_is_thin_and_committed_clean():
    nb = nbformat.read(NB, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert not any(line.lstrip().startswith(("def ", "class ")) for c in code for line in c.source.splitlines())


@pytest.mark.slow
def test_tuning_notebook_sweeps_and_saves_thresholds(tmp_path: Path):
    papermill = pytest.importorskip("papermill")
    data, match = tmp_path / "data", tmp_path / "match"
    assert vax(["synth", "--persons", "1500", "--seed", "4", "--out", str(data), "--provinces", "79"]) == 0
    assert vax(["match", "--registry", str(data / "registry.parquet"), "--vaccinations",
                str(data / "vaccinations.parquet"), "--out", str(match), "--quiet"]) == 0
    params = tmp_path / "matching.yaml"
    params.write_text("max_block: 77\nauto_threshold: 0.5\nreview_threshold: 0.01\n", encoding="utf-8")
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(NB), str(out), cwd=str(NOTEBOOKS_DIR), kernel_name="python3",
                               progress_bar=False,
                               parameters={"data_dir": str(data), "match_dir": str(match),
                                           "params_path": str(params), "auto_threshold": 0.998,
                                           "review_threshold": 0.2, "save": True, "lang": "en"})
    executed = nbformat.read(out, as_version=4)
    text = "\n".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", ""))
                     for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert "threshold" in text and "precision" in text  # the sweep table was shown
    assert "top_candidate_right" in text  # the review-threshold sweep
    assert "id_kind" in text and "cccd" in text  # ρ per kind of typed ID
    saved = yaml.safe_load(params.read_text(encoding="utf-8"))
    assert saved == {"max_block": 77, "auto_threshold": 0.998, "review_threshold": 0.2}


def test_save_thresholds_refuses_an_inverted_pair(tmp_path: Path):
    from vaxlib.match.tuning import save_thresholds

    with pytest.raises(ValueError):
        save_thresholds(tmp_path / "m.yaml", auto_threshold=0.5, review_threshold=0.9)
