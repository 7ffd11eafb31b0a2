"""The documentation cannot drift: config/README.md against the schema, links, README size, wording."""
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from resdyn.core.config_docs import documented_keys, render, schema_keys

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())
CONFIG_README = ROOT / "config" / "README.md"
DOC_PAGES = [ROOT / "README.md", CONFIG_README, *sorted((ROOT / "docs").glob("*.md"))]
# Words of a project tracker, not of a user's documentation; papers are cited by authors and title.
TRACKER = re.compile(r"issue [0-9]+|stop [0-9]+|seed 00[0-9]|seed-00[0-9]|this round|\b00[0-9]_[0-9a-f]{16}\b", re.I)


def _leaf_keys():
    return {path for path, node in schema_keys(SCHEMA)
            if not ("properties" in node or "allOf" in node or isinstance(node.get("additionalProperties"), dict))}


def test_schema_key_walk_on_a_known_schema():
    schema = {"properties": {
        "a": {"type": "integer"},
        "b": {"properties": {"c": {"type": "string"}}},
        "runs": {"additionalProperties": {"properties": {"source": {}},
                                          "allOf": [{"then": {"properties": {"source": {}, "path": {"type": "string"}}}}]}},
        "s": {"properties": {"series": {"type": "array", "items": {"properties": {"step": {}}}}}},
    }}
    assert [p for p, _ in schema_keys(schema)] == [
        "a", "b", "b.c", "runs", "runs.<name>.source", "runs.<name>.path", "s", "s.series", "s.series[].step"]


def test_every_schema_key_is_documented_and_every_documented_key_exists():
    documented, schema = documented_keys(CONFIG_README.read_text()), _leaf_keys()
    assert not schema - documented, f"schema keys missing from config/README.md: {sorted(schema - documented)}"
    assert not documented - schema, f"config/README.md documents keys not in the schema: {sorted(documented - schema)}"


def test_every_schema_key_has_a_description():
    missing = [path for path, node in schema_keys(SCHEMA) if path in _leaf_keys() and not node.get("description")]
    assert not missing, f"schema keys without a description: {missing}"


def test_config_readme_is_the_generated_page():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert CONFIG_README.read_text() == render(SCHEMA, config), "config/README.md is stale: run `make config-docs`"


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'src="([^"]+)"', text)
    broken = [t for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")
              and not (page.parent / t.split("#")[0]).exists()]
    assert not broken, f"{page.name}: links to missing files {broken}"


def test_readme_is_short_and_names_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert len(text.encode()) <= 10 * 1024, f"README.md is {len(text.encode())} bytes"
    assert "make run" in text and "make test" in text


def test_no_tracker_vocabulary_outside_tests():
    try:
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    hits = []
    for name in files:
        path = ROOT / name
        if name.startswith("tests/") or not path.is_file() or path.suffix in {".png", ".pdf", ".npz", ".npy"}:
            continue
        for n, line in enumerate(path.read_text(errors="ignore").splitlines(), 1):
            if TRACKER.search(line):
                hits.append(f"{name}:{n}: {line.strip()[:100]}")
    assert not hits, "tracker words in user-facing files:\n" + "\n".join(hits)


def _paper_map_rows():
    for line in (ROOT / "docs" / "paper_map.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 5 and cells[0] not in ("quantity", "---"):
            yield cells


def test_paper_map_names_functions_and_rules_that_exist():
    import importlib
    text = "\n".join(p.read_text() for p in (ROOT / "rules").glob("*.smk"))
    rules = set(re.findall(r"^\s*(?:rule|checkpoint) (\w+):", text, re.M)) | {
        word for line in re.findall(r"^\s*name:\s*\n(.*)$", text, re.M) for word in re.findall(r'"(\w+)"', line)}
    missing, rows = [], list(_paper_map_rows())
    assert len(rows) > 50
    for quantity, _, functions, rule, _ in rows:
        module = None
        for name in re.findall(r"`([\w.]+)`", functions):
            if name.startswith("resdyn."):
                module, attr = name.rsplit(".", 1)
            elif module is None:
                continue
            else:
                attr = name
            try:
                obj = importlib.import_module(module)
                assert hasattr(obj, attr.split(".")[0])
            except (ImportError, AssertionError):
                missing.append(f"{quantity}: {module}.{attr}")
        missing += [f"{quantity}: rule {r}" for r in re.findall(r"`(\w+)`", rule) if r not in rules]
    assert not missing, missing
