"""Working copies of the analysts' notebooks under ``outputs/notebooks`` (``make lab`` opens those).

JupyterLab autosaves a notebook with its outputs, and the review notebooks
show names and dates of birth; the tracked files in ``notebooks/`` must never
hold personal data.  So ``make lab`` opens copies in the git-ignored
``outputs/notebooks/``: each ``NN-*.ipynb`` is copied there once (an
existing copy is the analyst's work and is never overwritten), with the
relative paths of its parameters cell rewritten so that they point at the
same files from the new folder (``../outputs/demo`` -> ``../../outputs/demo``).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from vaxlib.config import NOTEBOOKS_DIR, OUTPUTS_DIR

__all__ = ["WORKING_DIR", "working_copies"]

WORKING_DIR = OUTPUTS_DIR / "notebooks"
_ANALYST_NOTEBOOK = re.compile(r"\d\d-.+\.ipynb")


def _rebase_parameters(source: str, depth: int) -> str:
    """Prefix every ``../`` path in a parameters cell with ``depth`` more ``../``."""
    extra = "../" * depth
    return re.sub(r'(["\'](?:sqlite:///)?)\.\./', lambda m: m.group(1) + extra + "../", source)


def working_copies(src: Path = NOTEBOOKS_DIR, dest: Path = WORKING_DIR) -> list[tuple[Path, bool]]:
    """Copy each ``NN-*.ipynb`` of ``src`` to ``dest`` unless a copy exists; returns (copy, created)."""
    dest.mkdir(parents=True, exist_ok=True)
    depth = len(dest.resolve().relative_to(src.resolve().parent).parts) - 1
    out = []
    for nb_path in sorted(p for p in src.glob("*.ipynb") if _ANALYST_NOTEBOOK.fullmatch(p.name)):
        target = dest / nb_path.name
        if target.exists():
            out.append((target, False))
            continue
        nb = nbformat.read(nb_path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
                cell.source = _rebase_parameters(cell.source, depth)
        tmp = target.with_name(f".{target.name}.tmp")
        nbformat.write(nb, tmp)
        tmp.replace(target)
        out.append((target, True))
    return out


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    for path, created in working_copies():
        print(f"{'mới / new' if created else 'đã có / kept'}: {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
