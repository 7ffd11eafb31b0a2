"""Corpus protocol: length filter, dataset order, local WikiText files in the hub's format."""
import json

import pyarrow as pa
import pyarrow.parquet as pq
import numpy as np
import pytest

from resdyn.data.corpus import CorpusError, length_filtered, load_samples, read_jsonl, write_jsonl

ROWS = ["", " = Valkyria Chronicles III = \n", "short line\n", "x" * 250 + "\n", " = = Gameplay = = \n",
        "y" * 120 + "\n", "z" * 900 + "\n", "w" * 300 + "\n"]


@pytest.fixture
def wikitext_parquet(tmp_path):
    """A small file laid out as the hub stores wikitext-2-raw-v1/train (one `text` column)."""
    path = tmp_path / "train-00000-of-00001.parquet"
    pq.write_table(pa.table({"text": ROWS}), path)
    return path


def test_length_filter_keeps_dataset_order_and_drops_headings():
    assert list(length_filtered(ROWS, 100, 400)) == ["x" * 250, "y" * 120, "w" * 300]


def test_local_parquet_takes_the_first_n_that_pass(wikitext_parquet):
    cfg = {"source": "wikitext_local", "path": str(wikitext_parquet), "n_samples": 2, "min_chars": 200, "max_chars": 800}
    assert load_samples(cfg) == ["x" * 250, "w" * 300]


def test_local_jsonl_and_txt_formats(tmp_path):
    (tmp_path / "t.jsonl").write_text("".join(json.dumps({"text": r}) + "\n" for r in ROWS))
    (tmp_path / "t.txt").write_text("".join(r if r.endswith("\n") else r + "\n" for r in ROWS))
    for name in ("t.jsonl", "t.txt"):
        cfg = {"source": "wikitext_local", "path": str(tmp_path / name), "n_samples": 1, "min_chars": 200, "max_chars": 800}
        assert load_samples(cfg) == ["x" * 250]


def test_too_few_samples_names_the_key(wikitext_parquet):
    cfg = {"source": "wikitext_local", "path": str(wikitext_parquet), "n_samples": 5, "min_chars": 200, "max_chars": 800}
    with pytest.raises(CorpusError, match="corpus.n_samples = 5.*only 2"):
        load_samples(cfg)


def test_missing_local_file_is_named(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        load_samples({"source": "wikitext_local", "path": str(tmp_path / "nope.parquet"), "n_samples": 1})


def test_offline_default_is_prose_in_a_fixed_order(tmp_path):
    cfg = {"source": "offline_pydoc", "n_samples": 128, "min_chars": 200, "max_chars": 800}
    samples = load_samples(cfg)
    assert len(samples) == 128 and len(set(samples)) == 128
    assert all(200 <= len(s) <= 800 for s in samples)
    assert samples == load_samples(cfg)
    # prose, not code: mostly letters and spaces, sentences ending in full stops
    assert sum(s.count(". ") > 0 for s in samples) > 100
    write_jsonl(tmp_path / "c.jsonl", samples)
    assert read_jsonl(tmp_path / "c.jsonl") == samples


def test_python_docs_extend_the_language_reference_past_the_largest_d():
    pydoc = load_samples({"source": "offline_pydoc", "n_samples": 300, "min_chars": 200, "max_chars": 800})
    cfg = {"source": "offline_python_docs", "n_samples": 700, "min_chars": 200, "max_chars": 800}
    samples = load_samples(cfg)
    assert samples[:300] == pydoc  # the language reference first, unchanged
    assert len(set(samples)) == 700 and all(200 <= len(s) <= 800 for s in samples)
    assert not any(">>>" in s or "\n" in s for s in samples)  # no interactive examples, re-flowed
    letters = np.mean([sum(c.isalpha() or c == " " for c in s) / len(s) for s in samples[300:]])
    assert letters > 0.9  # prose: docstring paragraphs, not code
    assert samples == load_samples(cfg)


def test_strip_is_an_option(tmp_path):
    rows = tmp_path / "rows.txt"
    rows.write_text(" = Heading = \n" + " " + "x" * 199 + " \n")  # WikiText raw rows end in " \n"
    cfg = {"source": "wikitext_local", "path": str(rows), "n_samples": 1, "min_chars": 200, "max_chars": 800}
    with pytest.raises(CorpusError, match="only 0"):
        load_samples(cfg)  # stripped: 199 characters, below the window
    assert load_samples({**cfg, "strip": False}) == [" " + "x" * 199 + " \n"]


def test_python_docs_categories_tag_the_same_paragraphs_in_the_same_order():
    import itertools

    from resdyn.data.corpus import pydoc_paragraphs, python_docs_categorised, python_docs_paragraphs

    tagged = list(itertools.islice(python_docs_categorised(), 1500))
    assert [p for _, p in tagged] == list(itertools.islice(python_docs_paragraphs(), 1500))
    n_ref = len(list(pydoc_paragraphs()))
    kinds = [c for c, _ in tagged]
    assert set(kinds[:n_ref]) == {"language_reference"}
    assert set(kinds[n_ref:]) == {"module_docstring", "function_docstring"}
    # abc.py is the first file in sorted order: its module docstring, then abstractmethod's
    by_text = {p: c for c, p in tagged}
    assert by_text["Abstract Base Classes (ABCs) according to PEP 3119."] == "module_docstring"
    assert by_text["A decorator indicating abstract methods."] == "function_docstring"
