"""Atomic writers: every output appears complete or not at all.

Each writer fills a temporary file (or folder) beside the destination and renames it
into place, so a killed job never leaves a file Snakemake would take as done.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

if TYPE_CHECKING:  # pandas costs ~0.6 s to import; the Jacobian jobs write no tables
    import pandas as pd


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def give_umask_mode(path: str | os.PathLike) -> None:
    """Give a file, or a folder and everything in it, the mode an ordinary write would
    (0o666 / 0o777 less the umask): temporary files and folders are made 0o600 / 0o700,
    which would hide results from the rest of a group on a shared file system."""
    umask, path = _umask(), Path(path)
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.chmod(item, (0o777 if item.is_dir() else 0o666) & ~umask)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        give_umask_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success give it the mode an ordinary
    write would and rename it onto ``path`` (replacing a folder there), else remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        give_umask_mode(tmp)
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save_npy(path, array: np.ndarray) -> None:
    with atomic_path(path, ".npy") as tmp:
        np.save(tmp, array)


def save_npz(path, **arrays: np.ndarray) -> None:
    with atomic_path(path, ".npz") as tmp:
        np.savez(tmp, **arrays)


def save_csv(path, table: pd.DataFrame) -> None:
    with atomic_path(path, ".csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.10g")


def save_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def save_json(path, obj) -> None:
    save_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
