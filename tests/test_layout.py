"""The package layout: imports flow one way, from the packages that compute the basics up to
the ones that draw and judge, and no module reaches itself again through its imports.

Every import counts, also those inside functions (a function-local import runs too, just
later), except under `if TYPE_CHECKING:` and in an ImportError-guarded try (as tests/test_envs.py
reads them).
"""
import ast
import graphlib
import re
from pathlib import Path

import pytest
from test_envs import _imports  # the env test's reading of a module's imports

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "resdyn"

# A package may import its own modules and those of packages at its level or below; packages on
# one level may import each other as long as no circle forms (checked below).
LEVELS = {
    "core": 0,
    "data": 1, "models": 1,
    "dynamics": 2, "topology": 2, "lyapunov": 2, "loops": 2, "trajectories": 2,
    "coupling": 3,
    "findings": 4,
    "plots": 5,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def resdyn_imports(tree: ast.AST, name: str, is_package: bool) -> set[str]:
    """The resdyn modules a module imports (`from a import b` counts a, and a.b where that is a
    module), relative imports resolved against the module's package."""
    package = name if is_package else name.rpartition(".")[0]
    return {m for m in _imports(tree, package) if m.startswith("resdyn.") and is_module(m)}


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """{module: the resdyn modules it imports} for every module under resdyn/."""
    return {module_name(p): resdyn_imports(ast.parse(p.read_text()), module_name(p), p.name == "__init__.py")
            for p in sorted((root / "resdyn").rglob("*.py"))}


def package_of(module: str) -> str:
    return module.split(".")[1]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [f"{m} (level {LEVELS[package_of(m)]}) imports {t} (level {LEVELS[package_of(t)]})"
            for m, targets in graph.items() if m != "resdyn" for t in sorted(targets)
            if LEVELS[package_of(t)] > LEVELS[package_of(m)]]


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out = {}
    for m, targets in graph.items():
        if m != "resdyn":
            out.setdefault(package_of(m), set()).update(package_of(t) for t in targets if package_of(t) != package_of(m))
    return out


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        return err.args[1]
    return None


GRAPH = import_graph()


def test_the_top_level_holds_only_packages():
    flat = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert not flat, f"modules outside a package: {flat}; give each a package of LEVELS"
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(LEVELS), f"packages without a level, or levels without a package: {packages ^ set(LEVELS)}"


def test_the_graph_sees_function_local_and_relative_imports():
    source = "from . import stats\nfrom resdyn.core import io\n\ndef f():\n    from resdyn.dynamics.spectra import eigenvalues\n"
    found = resdyn_imports(ast.parse(source), "resdyn.coupling.a", is_package=False)
    assert found == {"resdyn.coupling", "resdyn.coupling.stats", "resdyn.core", "resdyn.core.io",
                     "resdyn.dynamics.spectra"}
    assert GRAPH["resdyn.topology.communities"] >= {"resdyn.topology.participation"}  # imported inside a function
    assert upward_imports({"resdyn.core.a": {"resdyn.findings.b"}}) == [
        "resdyn.core.a (level 0) imports resdyn.findings.b (level 4)"]
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None and cycle({"a": {"b"}, "b": set()}) is None


def test_imports_flow_one_way():
    assert not upward_imports(GRAPH), "imports against the layout:\n" + "\n".join(upward_imports(GRAPH))


@pytest.mark.parametrize("level", ["module", "package"])
def test_no_circle(level):
    graph = GRAPH if level == "module" else package_graph(GRAPH)
    found = cycle(graph)
    assert found is None, f"{level}s import each other in a circle: {' -> '.join(found)}"


def _index_entries(package: Path) -> dict[str, str]:
    """{module: its text} for the "- module: ..." lines (with their continuations) of a package's docstring."""
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    entries, current = {}, None
    for line in doc.splitlines():
        head = re.match(r"- (\w+):", line)
        if head:
            current = head.group(1)
            entries[current] = line[head.end():]
        elif current and line.startswith("  "):
            entries[current] += line
        else:
            current = None
    return entries


def _top_level_names(module: Path) -> set[str]:
    names = set()
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


@pytest.mark.parametrize("package", sorted(LEVELS))
def test_each_package_docstring_indexes_its_modules_and_their_names_exist(package):
    """A researcher finds a formula from the package's index: every module is named there, and
    every public name an index line lists is defined in that module."""
    folder = PACKAGE / package
    modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text())) or ""
    unnamed = sorted(m for m in modules if not re.search(rf"(``|- ){m}\b", doc))
    assert not unnamed, f"resdyn/{package}/__init__.py does not name: {unnamed}"
    for module, text in _index_entries(folder).items():
        assert module in modules, f"resdyn/{package}/__init__.py indexes a module that does not exist: {module}"
        listed = {m.split("(")[0] for m in re.findall(r"``([^`]+)``", text)}
        missing = sorted(n for n in listed if n.isidentifier() and n not in _top_level_names(folder / f"{module}.py"))
        assert not missing, f"resdyn/{package}/__init__.py lists under {module} names it does not define: {missing}"
