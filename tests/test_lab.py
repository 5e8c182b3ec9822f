"""`make lab` opens working copies under outputs/notebooks, whose paths point at the same files."""
from __future__ import annotations

import nbformat

from vaxlib.config import NOTEBOOKS_DIR
from vaxlib.lab import _rebase_parameters, working_copies


def _params(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    return next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))


def test_copies_point_at_the_same_files_and_never_overwrite_work(tmp_path):
    project = tmp_path / "project"
    src = project / "notebooks"
    src.mkdir(parents=True)
    for name in ("01-explore-errors.ipynb", "02-review-queue.ipynb", "province-report.ipynb"):
        (src / name).write_bytes((NOTEBOOKS_DIR / name).read_bytes())
    dest = project / "outputs" / "notebooks"
    made = working_copies(src, dest)
    assert [(p.name, created) for p, created in made] == [("01-explore-errors.ipynb", True),
                                                          ("02-review-queue.ipynb", True)]
    scope: dict = {}
    exec(_params(dest / "02-review-queue.ipynb"), scope)  # noqa: S102 - the notebook's own literals
    original: dict = {}
    exec(_params(src / "02-review-queue.ipynb"), original)  # noqa: S102
    assert (dest / scope["data_dir"]).resolve() == (src / original["data_dir"]).resolve()
    assert scope["ledger_url"] == "sqlite:///../../outputs/demo/ledger.db"
    assert (src / "02-review-queue.ipynb").read_bytes() == (NOTEBOOKS_DIR / "02-review-queue.ipynb").read_bytes()
    (dest / "01-explore-errors.ipynb").write_text("analyst's work", encoding="utf-8")
    again = working_copies(src, dest)
    assert [created for _, created in again] == [False, False]
    assert (dest / "01-explore-errors.ipynb").read_text(encoding="utf-8") == "analyst's work"


def test_rebase_parameters_only_touches_relative_paths():
    cell = ('data_dir: str = "../outputs/demo"  # x\nurl: str = "sqlite:///../outputs/l.db"\n'
            'abs_dir: str = "/srv/data"\nlang: str = "vi"\n')
    assert _rebase_parameters(cell, 1) == ('data_dir: str = "../../outputs/demo"  # x\n'
                                           'url: str = "sqlite:///../../outputs/l.db"\n'
                                           'abs_dir: str = "/srv/data"\nlang: str = "vi"\n')
