"""config/README.md from the config schema: every key, its defaults and its meaning, by stage.

The schema (schemas/config.schema.yaml) is the single source: each key's `description` is its
meaning, its `default` the value used when the key is left out; the embedded default
(config.yaml) supplies the value `make run` uses. Regenerate with `make config-docs`.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

# Stages in pipeline order; a top-level key not listed here follows them, in schema order.
STAGES = {
    "runs": "Runs: the models analysed",
    "corpus": "Corpus: the text samples",
    "activations": "Activations and the model-health gate",
    "jacobians": "Per-layer Jacobians",
    "spectra": "Spectra of the mean Jacobians",
    "cumulative": "Cumulative Jacobian products",
    "schur": "Schur surgery",
    "graphs": "Activation-correlation graphs",
    "communities": "Communities",
    "coupling": "Coupling of communities to the Jacobian",
    "protocol_comparison": "Protocol comparison (single-token against in-context)",
    "checkpoint_series": "Checkpoint series",
    "lyapunov": "Lyapunov exponents through depth",
    "token_trajectories": "Token trajectories during generation",
    "loops": "Loop transformers",
}

HEADER = """\
# Configuration

`config.yaml` is the embedded default that `make run` uses; `config/paper.yaml` is the paper's
protocol on a cluster, `config/loops.yaml` the loop-transformer study, `config/pythia.yaml` a
Pythia checkpoint series and `config/tiny.yaml` the test suite's tiny models. Pass another one
with `--configfile` (it replaces `config.yaml`, it is not merged into it) or
`make run CONFIG=config/tiny.yaml`.

The workflow validates the config against
[`schemas/config.schema.yaml`](../schemas/config.schema.yaml) before any work: an unknown key,
a value of the wrong type or outside its allowed set stops it naming the key. Checks that need
two keys at once (`resdyn/core/config_checks.py`) follow, e.g. `spectra.k` larger than a run's
hidden size d, `graphs.knn` ≥ d, `corpus.min_chars` > `corpus.max_chars`, a `null_of` naming
no run. Key order does not matter: the workflow reads every mapping with its keys sorted, so
runs are taken in name order and reordering a config reruns nothing.

Columns: **schema default** is used when a key is left out (— : no default; the key is required
or optional without one); **`config.yaml`** is the embedded default's value (— : not set there).
`<name>` stands for a name you choose (a run, a series, a loop model); `[]` for the items of a
list.

This page is generated from the schema's descriptions by `make config-docs`; a test fails when
it and the schema disagree.
"""


def _branch_properties(node: dict) -> dict:
    """Properties of an object node, with those of its if/then branches (run sources)."""
    props = dict(node.get("properties", {}))
    for branch in node.get("allOf", []):
        for key, sub in branch.get("then", {}).get("properties", {}).items():
            if sub or key not in props:
                props[key] = sub
    return props


def schema_keys(schema: dict) -> list[tuple[str, dict]]:
    """Every key of the schema as (dotted path, its schema node), depth first, schema order."""
    out: list[tuple[str, dict]] = []

    def walk(node: dict, prefix: str) -> None:
        for key, sub in _branch_properties(node).items():
            path = f"{prefix}{key}"
            out.append((path, sub))
            _children(sub, path)

    def _children(sub: dict, path: str) -> None:
        if "properties" in sub or "allOf" in sub:
            walk(sub, path + ".")
        named = sub.get("additionalProperties")
        if isinstance(named, dict):
            walk(named, path + ".<name>.")
        items = sub.get("items")
        if isinstance(items, dict) and "properties" in items:
            walk(items, path + "[].")

    walk(schema, "")
    return out


def _lookup(config: dict, path: str):
    node = config
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None, False
        node = node[part]
    return node, True


def _value(value, present: bool = True) -> str:
    if not present:
        return "—"
    text = json.dumps(value, ensure_ascii=False)
    if len(text) > 60:
        text = text[:57] + "…"
    return "`" + text.replace("|", "\\|") + "`"


def _meaning(node: dict) -> str:
    text = " ".join(str(node.get("description", "")).split())
    allowed = node.get("enum")
    if allowed and not all(str(a) in text for a in allowed):
        text = (text + " " if text else "") + "(one of: " + ", ".join(f"`{a}`" for a in allowed) + ")"
    return text.replace("|", "\\|")


def render(schema: dict, config: dict) -> str:
    keys = schema_keys(schema)
    tops = [k for k, _ in keys if "." not in k and "[" not in k]
    order = [k for k in STAGES if k in tops] + [k for k in tops if k not in STAGES]
    lines = [HEADER]
    for top in order:
        node = schema["properties"][top]
        lines += ["", f"## `{top}` — {STAGES.get(top, top)}", ""]
        if node.get("description"):
            lines += [" ".join(node["description"].split()), ""]
        lines += ["| key | schema default | `config.yaml` | meaning |", "|---|---|---|---|"]
        for path, sub in keys:
            if path != top and not path.startswith(top + ".") and not path.startswith(top + "["):
                continue
            if "properties" in sub or "allOf" in sub or isinstance(sub.get("additionalProperties"), dict):
                continue  # a section: its keys follow
            default = _value(sub.get("default"), "default" in sub)
            embedded = _value(*_lookup(config, path)) if "<name>" not in path and "[]" not in path else "—"
            lines.append(f"| `{path}` | {default} | {embedded} | {_meaning(sub)} |")
        named = config.get(top) if top in ("runs", "checkpoint_series", "loops") else None
        if isinstance(named, dict) and named:
            names = named.get("models", named) if top == "loops" else named
            lines += ["", "`config.yaml` declares: " + "; ".join(
                f"`{name}` ({', '.join(f'{k}: {v}' for k, v in spec.items() if k in ('source', 'base', 'null_of', 'runs', 'arch'))})"
                for name, spec in names.items()) + "."]
    return "\n".join(lines) + "\n"


def documented_keys(markdown: str) -> set[str]:
    """The key column of every table row of a config/README.md."""
    keys = set()
    for line in markdown.splitlines():
        if line.startswith("| `"):
            keys.add(line.split("`")[1])
    return keys


def main() -> None:
    root = Path(__file__).resolve().parents[2]  # resdyn/core/config_docs.py -> the checkout
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", default=root / "schemas" / "config.schema.yaml", type=Path)
    parser.add_argument("--config", default=root / "config.yaml", type=Path)
    parser.add_argument("--write", type=Path, help="write here instead of printing")
    args = parser.parse_args()
    text = render(yaml.safe_load(args.schema.read_text()), yaml.safe_load(args.config.read_text()))
    if args.write:
        args.write.write_text(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
