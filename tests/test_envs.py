"""The conda environments in envs/ pin exactly what pyproject.toml pins."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENVS = ("gpu", "graph", "plot")
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*(;.*)?$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse(req: str) -> tuple[str, str]:
    m = _REQ.match(req)
    assert m, f"cannot parse requirement {req!r}"
    spec = ",".join(sorted(s.strip() for s in m.group(3).split(",") if s.strip()))
    return _norm(m.group(1)), spec


def _pyproject_pins() -> dict[str, str]:
    path = ROOT / "pyproject.toml"
    if not path.is_file():
        pytest.fail("pyproject.toml is missing")
    project = tomllib.loads(path.read_text())["project"]
    reqs = list(project.get("dependencies", []))
    for group in project.get("optional-dependencies", {}).values():
        reqs += group
    pins: dict[str, str] = {}
    for req in reqs:
        name, spec = _parse(req)
        if name == "resdyn":  # self-references such as resdyn[graph]
            continue
        assert pins.get(name, spec) == spec, f"pyproject pins {name} twice, differently"
        pins[name] = spec
    return pins


def _env(name: str) -> dict:
    return yaml.safe_load((ROOT / "envs" / f"{name}.yaml").read_text())


def _env_pins(env: dict) -> dict[str, str]:
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for req in dep.get("pip", []):
                name, spec = _parse(req)
                pins[name] = spec
    return pins


@pytest.mark.parametrize("name", ENVS)
def test_env_pins_match_pyproject(name):
    pyproject = _pyproject_pins()
    env_pins = _env_pins(_env(name))
    assert env_pins, f"envs/{name}.yaml lists no pip packages"
    for pkg, spec in env_pins.items():
        assert pkg in pyproject, f"envs/{name}.yaml pins {pkg}, which pyproject.toml does not list"
        assert spec == pyproject[pkg], (
            f"envs/{name}.yaml pins {pkg}{spec} but pyproject.toml pins {pkg}{pyproject[pkg]}"
        )
        assert spec.startswith("=="), f"envs/{name}.yaml: {pkg} is not pinned to one version ({spec!r})"


@pytest.mark.parametrize("name", ENVS)
def test_env_python_satisfies_requires_python(name):
    from packaging.specifiers import SpecifierSet

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("requires-python")
    pythons = [d for d in _env(name)["dependencies"] if isinstance(d, str) and re.match(r"python\b", d)]
    assert len(pythons) == 1, f"envs/{name}.yaml must pin python once"
    version = pythons[0].split("=")[-1]
    if requires:
        assert SpecifierSet(requires).contains(version + ".0"), (
            f"envs/{name}.yaml python {version} outside requires-python {requires}"
        )


def test_envs_cover_what_the_code_imports():
    """gpu has torch+transformers, graph has leidenalg+igraph, plot has matplotlib."""
    need = {"gpu": {"torch", "transformers", "numpy"}, "graph": {"leidenalg", "igraph", "scipy"}, "plot": {"matplotlib"}}
    for name, pkgs in need.items():
        missing = pkgs - set(_env_pins(_env(name)))
        assert not missing, f"envs/{name}.yaml lacks {sorted(missing)}"
