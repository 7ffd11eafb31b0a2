"""The rule files share names only through rules/common.smk and rules/resources.smk.

A stage file (rules/<stage>.smk) may read what it defines itself, what Snakemake provides
(config, expand, rules, ...) and what common.smk / resources.smk define; never a name another
stage file defines, which would work only through the include order. A name is defined once.
Each file is translated to Python by Snakemake's own parser, so rule bodies, lambdas and
comprehensions are read as Python scopes (a lambda's argument is not a top-level name).
"""
import ast
import re
import symtable
from pathlib import Path
from types import SimpleNamespace

from snakemake.parser import parse

ROOT = Path(__file__).resolve().parents[1]
SHARED = ("rules/common.smk", "rules/resources.smk")


class _Source:
    def __init__(self, path: Path):
        self.path = str(path)

    def get_path_or_uri(self, secret_free=True):
        return self.path


def python_of(path: Path) -> str:
    """The Python that Snakemake compiles a rule file into."""
    workflow = SimpleNamespace(sourcecache=SimpleNamespace(open=lambda source: open(source.path)))
    code, _ = parse(_Source(path), workflow, {})
    return code


def _top_level_statements(body):
    """Statements run at import: the module's, and those inside its if/for/with/try blocks."""
    for node in body:
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody"):
            yield from _top_level_statements(getattr(node, field, []))
        for handler in getattr(node, "handlers", []):
            yield from _top_level_statements(handler.body)


def _target_names(target):
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _target_names(element)


def definitions(code: str) -> tuple[set[str], set[str]]:
    """(names a file binds at top level by assignment, def or class; names it imports).

    `X += ...` is not a definition: the stages extend common.smk's registries that way.
    Names Snakemake generates for rule bodies (__rule_*) are left out."""
    bound, imported = set(), set()
    for node in _top_level_statements(ast.parse(code).body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                bound.update(_target_names(target))
        elif isinstance(node, ast.AnnAssign):
            bound.update(_target_names(node.target))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imported.update((a.asname or a.name).split(".")[0] for a in node.names)
    return {n for n in bound if not n.startswith("__")}, imported


def global_reads(code: str) -> set[str]:
    """Every name the file reads from module scope, at top level or inside a function,
    lambda or comprehension (names bound locally there are not module-scope reads)."""
    names, todo = set(), [symtable.symtable(code, "<rules>", "exec")]
    while todo:
        table = todo.pop()
        top = table.get_type() == "module"
        for sym in table.get_symbols():
            if sym.is_referenced() and (top or sym.is_global()):
                names.add(sym.get_name())
        todo.extend(table.get_children())
    return names


def rule_files() -> dict[str, str]:
    """{path relative to the checkout: its Python} for rules/*.smk and the Snakefile."""
    paths = sorted((ROOT / "rules").glob("*.smk")) + [ROOT / "Snakefile"]
    return {str(p.relative_to(ROOT)): python_of(p) for p in paths}


def cross_file_reads(files: dict[str, str]) -> list[str]:
    """'file reads NAME, defined in other' for every read of another stage file's name."""
    defined = {path: definitions(code) for path, code in files.items()}
    found = []
    for path, code in files.items():
        own = defined[path][0] | defined[path][1]
        if path == "Snakefile":  # the top file reads what its includes define
            continue
        for name in sorted(global_reads(code) - own):
            owners = [other for other, (bound, _) in defined.items() if name in bound and other != path]
            found += [f"{path} reads {name}, defined in {other}" for other in owners if other not in SHARED]
    return found


def duplicate_definitions(files: dict[str, str]) -> list[str]:
    """Names bound (not imported) at top level by more than one file."""
    owners = {}
    for path, code in files.items():
        for name in definitions(code)[0]:
            owners.setdefault(name, []).append(path)
    return [f"{name}: {', '.join(paths)}" for name, paths in sorted(owners.items()) if len(paths) > 1]


def test_no_rule_file_reads_a_name_another_stage_file_defines():
    assert cross_file_reads(rule_files()) == []


def test_every_name_is_defined_in_one_rule_file():
    assert duplicate_definitions(rule_files()) == []


def test_the_snakefile_includes_every_rule_file_the_shared_ones_first():
    includes = re.findall(r'^\s*include: "(rules/[\w.]+\.smk)"', (ROOT / "Snakefile").read_text(), re.M)
    assert includes[:2] == list(SHARED)
    assert sorted(set(includes)) == sorted(str(p.relative_to(ROOT)) for p in (ROOT / "rules").glob("*.smk"))
    nested = [p.name for p in (ROOT / "rules").glob("*.smk") if re.search(r"^\s*include:", p.read_text(), re.M)]
    assert nested == [], "rule files include nothing themselves: the Snakefile includes them all"


def test_the_checker_sees_a_name_read_across_stage_files(tmp_path):
    # known answers for the checker itself: a stage's own lambda argument and local names are
    # not reads of another file's top-level name; a bare read and a read inside a rule are
    stage_a = python_of_text(tmp_path, "SHARED_BY_A = 1\n\ndef helper(x):\n    return x\n")
    stage_b = python_of_text(
        tmp_path,
        "OWN = [helper(v) for v in range(2)]\n\n"
        "rule r:\n    output:\n        'x'\n    params:\n        n=lambda SHARED_BY_A: SHARED_BY_A,\n"
        "        m=lambda wc: SHARED_BY_A,\n    shell:\n        'touch {output}'\n"
    )
    files = {"rules/a.smk": stage_a, "rules/b.smk": stage_b}
    assert cross_file_reads(files) == [
        "rules/b.smk reads SHARED_BY_A, defined in rules/a.smk",
        "rules/b.smk reads helper, defined in rules/a.smk",
    ]
    assert cross_file_reads({"rules/common.smk": stage_a, "rules/b.smk": stage_b}) == []
    assert duplicate_definitions({"rules/a.smk": stage_a, "rules/c.smk": stage_a}) == [
        "SHARED_BY_A: rules/a.smk, rules/c.smk", "helper: rules/a.smk, rules/c.smk"]


def python_of_text(folder: Path, text: str) -> str:
    path = folder / "stage.smk"
    path.write_text(text)
    return python_of(path)
