"""The project's own metadata stays consistent."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.split(r"[<>=!~\[ ]", name.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_packages() -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {_norm(d) for d in meta["dependencies"]}
    for extra in meta.get("optional-dependencies", {}).values():
        names |= {_norm(d) for d in extra}
    return names


def _environment_packages() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_norm(d) for d in dep.get("pip", []) if not d.startswith("-")}
        else:
            names.add(_norm(dep))
    return names - {"python", "pip"}


def test_environment_yml_lists_the_same_packages_as_pyproject():
    assert _environment_packages() == _pyproject_packages()


def test_every_dependency_is_pinned_in_constraints():
    pins = {
        _norm(line.split("==")[0])
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    missing = _pyproject_packages() - pins
    assert not missing, f"not pinned in constraints.txt: {sorted(missing)} (run `make lock`)"


def test_environment_python_is_311():
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert "python=3.11" in env["dependencies"]
