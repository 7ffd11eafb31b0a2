"""Text samples, following the paper's protocol: WikiText-2 train, character-length
filtered, taken in dataset order, the first N that pass.

Sources:
- wikitext_hf: the Hugging Face dataset (clusters with hub access).
- wikitext_local: a local file in the dataset's format (parquet with a `text`
  column, as the hub stores it; .jsonl with a `text` field; or .txt, one row per line).
- offline_pydoc: real English prose that every Python ships — the paragraphs of
  `pydoc_data.topics` (the language reference), code blocks excluded, in order.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable, Iterator


class CorpusError(ValueError):
    pass


def length_filtered(rows: Iterable[str], min_chars: int, max_chars: int) -> Iterator[str]:
    """Rows in order, stripped, without WikiText section headings (`= Title =`), within the length window."""
    for row in rows:
        text = row.strip()
        if text.startswith("=") and text.endswith("="):
            continue
        if min_chars <= len(text) <= max_chars:
            yield text


def pydoc_paragraphs() -> Iterator[str]:
    """Prose paragraphs of the Python language reference, in the order pydoc stores them.

    Topics share some paragraphs; only the first occurrence is kept.
    """
    from pydoc_data.topics import topics

    seen = set()
    for text in topics.values():
        for block in re.split(r"\n\s*\n", text):
            lines = block.split("\n")
            if any(line.startswith(" ") for line in lines):  # indented: code or a table
                continue
            paragraph = " ".join(line.strip() for line in lines).strip()
            if paragraph not in seen:
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
    elif source == "wikitext_local":
        if "path" not in corpus:
            raise CorpusError("corpus.path is required when corpus.source is wikitext_local")
        rows = wikitext_local(corpus["path"])
    elif source == "wikitext_hf":
        rows = wikitext_hf(corpus.get("dataset", "Salesforce/wikitext"), corpus.get("dataset_config", "wikitext-2-raw-v1"))
    else:
        raise CorpusError(f"corpus.source: unknown {source!r}; use offline_pydoc, wikitext_local or wikitext_hf")
    n = corpus["n_samples"]
    samples = []
    for text in length_filtered(rows, corpus.get("min_chars", 200), corpus.get("max_chars", 800)):
        samples.append(text)
        if len(samples) == n:
            return samples
    raise CorpusError(
        f"corpus.n_samples = {n}, but source {source!r} has only {len(samples)} texts of "
        f"{corpus.get('min_chars', 200)}–{corpus.get('max_chars', 800)} characters"
    )


def write_jsonl(path, samples: list[str]) -> None:
    from resdyn.io import save_text

    save_text(path, "".join(json.dumps({"index": i, "text": t}) + "\n" for i, t in enumerate(samples)))


def read_jsonl(path) -> list[str]:
    with open(path) as fh:
        return [json.loads(line)["text"] for line in fh]
