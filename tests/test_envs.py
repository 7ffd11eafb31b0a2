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


# --- Every import a rule's script reaches is satisfied by the conda env the rule declares ---
# (checked statically: no conda channel is reachable here). The rules are read from
# rules/*.smk; imports are collected from the script and, transitively, from every resdyn
# module it reaches, function-level (lazy) imports included; imports under
# `if TYPE_CHECKING:` or guarded by `except ImportError` are not needed to run.
import ast
import functools
import importlib.metadata
import sys

_RULE_START = re.compile(r"^\s*(?:rule|checkpoint)\b")
_DIRECTIVE = re.compile(r"^\s*(conda|script):\s*\n?\s*\"([^\"]+)\"", re.M)


def rule_scripts() -> list[tuple[str, str, str]]:
    """(rules file, script path, env name) of every rule with both a script and an env."""
    found = []
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        blocks, current = [], None
        for line in smk.read_text().splitlines(keepends=True):
            if _RULE_START.match(line):
                current = []
                blocks.append(current)
            if current is not None:
                current.append(line)
        for block in map("".join, blocks):
            directives = dict(_DIRECTIVE.findall(block))
            if "script" in directives:
                assert "conda" in directives, f"{smk.name}: a rule runs {directives['script']} without a conda env"
                env = Path(directives["conda"]).stem
                found.append((smk.name, str((smk.parent / directives["script"]).resolve().relative_to(ROOT)), env))
    return found


def _guarded(node: ast.Try) -> bool:
    names = set()
    for handler in node.handlers:
        for n in ast.walk(handler.type) if handler.type is not None else []:
            if isinstance(n, ast.Name):
                names.add(n.id)
    return bool(names & {"ImportError", "ModuleNotFoundError"})


def _imports(tree: ast.AST, package: str) -> set[str]:
    """Absolute dotted names of the modules a module imports (relative imports resolved
    against `package`), skipping TYPE_CHECKING blocks and ImportError-guarded tries."""
    found: set[str] = set()

    def visit(node):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Try) and _guarded(node):
            for child in node.handlers + node.orelse + node.finalbody:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module
            found.add(module)
            # `from resdyn.models import sources` imports the submodule resdyn.models.sources
            found.update(f"{module}.{alias.name}" for alias in node.names if module.split(".")[0] == "resdyn")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _resdyn_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def third_party_imports(script: Path) -> dict[str, str]:
    """{top-level import name: the file that imports it} over everything the script reaches."""
    todo, seen, external = [(script, "")], set(), {}
    while todo:
        path, package = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _imports(ast.parse(path.read_text()), package):
            top = module.split(".")[0]
            if top == "resdyn":
                # the module itself and every package __init__ on the way run on import
                parts = module.split(".")
                for i in range(1, len(parts) + 1):
                    target = _resdyn_file(".".join(parts[:i]))
                    if target is not None:
                        pkg = ".".join(parts[:i]) if target.name == "__init__.py" else ".".join(parts[: i - 1])
                        todo.append((target, pkg))
            elif top not in sys.stdlib_module_names and top != "__future__":
                external.setdefault(top, str(path.relative_to(ROOT)))
    return external


# Import names the installed distributions do not map (none expected): name -> distribution.
_KNOWN_DISTRIBUTIONS = {"yaml": "pyyaml", "sklearn": "scikit-learn", "PIL": "pillow"}


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distributions(import_name: str) -> set[str]:
    """Distributions (normalised) that provide a top-level import name, from the venv's metadata."""
    names = _packages_distributions().get(import_name, [])
    dists = {_norm(n) for n in names}
    if import_name in _KNOWN_DISTRIBUTIONS:
        dists.add(_KNOWN_DISTRIBUTIONS[import_name])
    return dists


def test_rule_scripts_are_found():
    scripts = rule_scripts()
    assert {env for _, _, env in scripts} == set(ENVS)
    assert ("jacobians.smk", "scripts/jacobian_layer.py", "gpu") in scripts
    # every script in scripts/ is run by some rule
    assert {s for _, s, _ in scripts} == {str(p.relative_to(ROOT)) for p in (ROOT / "scripts").glob("*.py")}


def test_import_collector_follows_resdyn_and_skips_what_need_not_run():
    found = third_party_imports(ROOT / "scripts" / "jacobian_layer.py")
    # torch: the script itself; transformers: lazily, in resdyn.models.sources.materialise
    assert {"numpy", "torch", "transformers"} <= set(found), found
    assert found["transformers"].startswith("resdyn/"), found["transformers"]
    # resdyn.core.io imports pandas only under TYPE_CHECKING
    io_imports = _imports(ast.parse((ROOT / "resdyn" / "core" / "io.py").read_text()), "resdyn.core")
    assert "numpy" in io_imports and "pandas" not in io_imports, io_imports
    guarded = "try:\n    import fancy\nexcept ImportError:\n    fancy = None\nfrom . import sibling\n"
    assert _imports(ast.parse(guarded), "resdyn.models") == {"resdyn.models", "resdyn.models.sibling"}


@pytest.mark.parametrize("rules_file, script, env", rule_scripts(), ids=lambda v: str(v))
def test_every_import_of_a_rule_script_is_in_its_env(rules_file, script, env):
    pinned = set(_env_pins(_env(env)))
    missing = {}
    for name, where in third_party_imports(ROOT / script).items():
        dists = _distributions(name)
        assert dists, f"{where} imports {name!r}, which no installed distribution provides"
        if not dists & pinned:
            missing[name] = (sorted(dists), where)
    assert not missing, (
        f"{rules_file}: {script} runs in envs/{env}.yaml, which lacks "
        + "; ".join(f"{d} (import {n} in {w})" for n, (d, w) in sorted(missing.items()))
    )


@pytest.mark.parametrize("package", ["topology", "coupling"])
def test_the_topology_and_coupling_halves_import_no_torch(package):
    """Their stages run in the graph env, which has no torch: nothing they reach may import it
    (nor transformers), at module level or inside a function."""
    reached = {}
    for path in sorted((ROOT / "resdyn" / package).glob("*.py")):
        for name, where in third_party_imports(path).items():
            reached.setdefault(name, where)
    heavy = {name: where for name, where in reached.items() if name in ("torch", "transformers")}
    assert not heavy, f"resdyn.{package} reaches " + ", ".join(f"{n} (in {w})" for n, w in sorted(heavy.items()))
