"""Paths and defaults, in one place (cookiecutter-data-science habit).

Every path is a :class:`pathlib.Path`.  ``VAX_SHARED`` overrides where the
shared interoperability material (``shared/dcc``, ``shared/spec``) lives;
by default it is the ``shared`` folder beside the repository.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
PARAMETERS_DIR = PROJECT_ROOT / "parameters"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
OUTPUTS_DIR = PROJECT_ROOT / "outputs"
DEMO_DIR = OUTPUTS_DIR / "demo"
REPORTS_DIR = OUTPUTS_DIR / "reports"
DATA_DIR = PACKAGE_DIR / "data"


def shared_dir() -> Path:
    """Folder of the shared, read-only project material (spec, DCC vectors)."""
    env = os.environ.get("VAX_SHARED")
    if env:
        return Path(env)
    return PROJECT_ROOT.parent / "shared"


def dcc_dir() -> Path:
    """Folder of the EU DCC interoperability material."""
    return shared_dir() / "dcc"


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML parameter file into a dict (an empty file gives ``{}``)."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return data or {}


# Reference date of the campaign: the Ministry's cleaning deadlines (2022).
DEADLINES = {
    "feedback_and_signing": "2022-04-25",
    "cleaning": "2022-04-30",
    "report": "2022-05-05",
}
