"""Prompts with a category: the first N length-filtered paragraphs of each category of the
offline Python docs (resdyn.data.corpus.python_docs_categorised), whatever the main corpus is,
so that every config (WikiText on clusters included) has the same categorised prompts.

After Bosange Batuli (2026), "Four Dynamical Regimes in Large Language Models: An Empirical
Phase Map" and "Conditional Dynamic Signatures in Large Language Models" (prompt categories).
"""
from __future__ import annotations

from resdyn.data.corpus import CorpusError, length_filtered, python_docs_categorised

CATEGORIES = ("language_reference", "module_docstring", "function_docstring")


def categorised_prompts(categories, per_category: int, min_chars: int, max_chars: int) -> list[tuple[str, str]]:
    """[(category, text)]: per_category texts of each category, categories in the given order,
    texts in corpus order."""
    unknown = set(categories) - set(CATEGORIES)
    if unknown:
        raise CorpusError(f"token_trajectories.categories: unknown {sorted(unknown)}; use {', '.join(CATEGORIES)}")
    found = {c: [] for c in categories}
    for category, paragraph in python_docs_categorised():
        if category in found and len(found[category]) < per_category:
            if list(length_filtered([paragraph], min_chars, max_chars)):
                found[category].append(paragraph.strip())
        if all(len(v) == per_category for v in found.values()):
            break
    short = {c: len(v) for c, v in found.items() if len(v) < per_category}
    if short:
        raise CorpusError(f"token_trajectories.prompts_per_category = {per_category}, but only {short} texts of "
                          f"{min_chars}-{max_chars} characters")
    return [(c, t) for c in categories for t in found[c]]
