"""Text samples, following the paper's protocol: WikiText-2 train, character-length
filtered, taken in dataset order, the first N that pass.

Implements Fernando & Guitchounts (2026), "Dynamics of the Transformer Residual Stream",
Appendix A.1 (models and data).

Sources:
- wikitext_hf: the Hugging Face dataset (clusters with hub access).
- wikitext_local: a local file in the dataset's format (parquet with a `text`
  column, as the hub stores it; .jsonl with a `text` field; or .txt, one row per line).
- offline_pydoc: real English prose that every Python ships — the paragraphs of
  `pydoc_data.topics` (the language reference), code blocks excluded, in order.
- offline_python_docs: the same paragraphs, then the prose paragraphs of the standard
  library's docstrings (modules, classes, functions; read from source, never imported) —
  323 + 1,100 texts of 200-800 characters on Python 3.11, enough for N > d samples.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable, Iterator


class CorpusError(ValueError):
    pass


def length_filtered(rows: Iterable[str], min_chars: int, max_chars: int, strip: bool = True) -> Iterator[str]:
    """Rows in order, without WikiText section headings (`= Title =`), within the length window.

    strip (corpus.strip, default): leading/trailing whitespace removed first (WikiText raw
    rows end in " \n"; the paper does not say). Without it rows are kept as they are and
    the length window counts their whitespace.
    """
    for row in rows:
        text = row.strip() if strip else row
        if row.strip().startswith("=") and row.strip().endswith("="):
            continue
        if min_chars <= len(text) <= max_chars:
            yield text


def prose_paragraphs(text: str) -> Iterator[str]:
    """Blank-line separated paragraphs of a text, re-flowed to one line; indented blocks (code, tables)
    and interactive examples left out."""
    for block in re.split(r"\n\s*\n", text):
        lines = block.split("\n")
        if any(line.startswith(" ") for line in lines) or ">>>" in block:
            continue
        yield " ".join(line.strip() for line in lines).strip()


def pydoc_paragraphs() -> Iterator[str]:
    """Prose paragraphs of the Python language reference, in the order pydoc stores them.

    Topics share some paragraphs; only the first occurrence is kept.
    """
    from pydoc_data.topics import topics

    yield from _first_occurrences(p for text in topics.values() for p in prose_paragraphs(text))


# Standard-library folders that are not the library's own prose (tests, demos, vendored code).
_STDLIB_SKIP = {"test", "tests", "idlelib", "lib2to3", "site-packages", "dist-packages", "turtledemo", "ensurepip", "pydoc_data"}


def stdlib_docstring_paragraphs(with_kind: bool = False) -> Iterator[str] | Iterator[tuple[str, str]]:
    """Prose paragraphs of the public standard library's docstrings, files in sorted path order,
    docstrings in source order; parsed with `ast`, so no module is imported.

    with_kind: yield (kind, paragraph), kind `module_docstring` (module and class docstrings)
    or `function_docstring` (functions and methods), the prompt categories of the
    token-trajectory stage."""
    import ast
    import sysconfig

    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        path for path in root.rglob("*.py")
        if not _STDLIB_SKIP & set(path.relative_to(root).parts[:-1])
        and not any(part.startswith("_") for part in path.relative_to(root).parts)
    )
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                kind = "module_docstring" if isinstance(node, (ast.Module, ast.ClassDef)) else "function_docstring"
                for paragraph in prose_paragraphs(ast.get_docstring(node) or ""):
                    yield (kind, paragraph) if with_kind else paragraph


def python_docs_paragraphs() -> Iterator[str]:
    """The language reference's paragraphs, then the standard library's docstring paragraphs."""
    import itertools

    yield from _first_occurrences(itertools.chain(pydoc_paragraphs(), stdlib_docstring_paragraphs()))


def python_docs_categorised() -> Iterator[tuple[str, str]]:
    """(category, paragraph) of offline_python_docs in its order: `language_reference` (pydoc
    topic pages), then each docstring paragraph with its kind (see stdlib_docstring_paragraphs)."""
    import itertools

    seen = set()
    tagged = itertools.chain((("language_reference", p) for p in pydoc_paragraphs()),
                             stdlib_docstring_paragraphs(with_kind=True))
    for category, paragraph in tagged:
        if paragraph and paragraph not in seen:
            seen.add(paragraph)
            yield category, paragraph


def _first_occurrences(paragraphs: Iterable[str]) -> Iterator[str]:
    seen = set()
    for paragraph in paragraphs:
        if paragraph and paragraph not in seen:
            seen.add(paragraph)
            yield paragraph


def wikitext_local(path) -> Iterator[str]:
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"corpus.path: no such file {path}")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=["text"])
        yield from table.column("text").to_pylist()
    elif path.suffix == ".jsonl":
        with open(path) as fh:
            for line in fh:
                yield json.loads(line)["text"]
    elif path.suffix == ".txt":
        with open(path) as fh:
            yield from fh
    else:
        raise CorpusError(f"corpus.path: unsupported file type {path.suffix!r}; use .parquet, .jsonl or .txt")


def wikitext_hf(dataset: str, config_name: str) -> Iterator[str]:
    from datasets import load_dataset

    yield from load_dataset(dataset, config_name, split="train")["text"]


def load_samples(corpus: dict) -> list[str]:
    """The first corpus.n_samples texts of the configured source that pass the length filter."""
    source = corpus["source"]
    if source == "offline_pydoc":
        rows = pydoc_paragraphs()
    elif source == "offline_python_docs":
        rows = python_docs_paragraphs()
    elif source == "wikitext_local":
        if "path" not in corpus:
            raise CorpusError("corpus.path is required when corpus.source is wikitext_local")
        rows = wikitext_local(corpus["path"])
    elif source == "wikitext_hf":
        rows = wikitext_hf(corpus.get("dataset", "Salesforce/wikitext"), corpus.get("dataset_config", "wikitext-2-raw-v1"))
    else:
        raise CorpusError(f"corpus.source: unknown {source!r}; use offline_pydoc, offline_python_docs, wikitext_local or wikitext_hf")
    n = corpus["n_samples"]
    samples = []
    for text in length_filtered(rows, corpus.get("min_chars", 200), corpus.get("max_chars", 800), corpus.get("strip", True)):
        samples.append(text)
        if len(samples) == n:
            return samples
    raise CorpusError(
        f"corpus.n_samples = {n}, but source {source!r} has only {len(samples)} texts of "
        f"{corpus.get('min_chars', 200)}–{corpus.get('max_chars', 800)} characters"
    )


def write_jsonl(path, samples: list[str]) -> None:
    from resdyn.core.io import save_text

    save_text(path, "".join(json.dumps({"index": i, "text": t}) + "\n" for i, t in enumerate(samples)))


def read_jsonl(path) -> list[str]:
    with open(path) as fh:
        return [json.loads(line)["text"] for line in fh]
