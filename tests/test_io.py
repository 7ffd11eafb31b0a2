"""The atomic writers: complete files at their paths, with the permissions of an ordinary write."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from resdyn.core.io import atomic_folder, give_umask_mode, save_json, save_npz


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_outputs_take_the_umask_like_an_ordinary_write(tmp_path, umask):
    old = os.umask(umask)
    try:
        save_npz(tmp_path / "a.npz", x=np.arange(3))
        save_json(tmp_path / "b.json", {"x": 1})
        (tmp_path / "plain.txt").write_text("x")  # what open() gives under this umask
    finally:
        os.umask(old)
    expected = stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    assert expected == 0o666 & ~umask
    for name in ("a.npz", "b.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name
    np.testing.assert_array_equal(np.load(tmp_path / "a.npz")["x"], np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.json", "plain.txt"]  # no temporaries left


def test_a_failed_write_leaves_nothing(tmp_path):
    class Unsaveable:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("cannot be saved")

    with pytest.raises(RuntimeError):
        save_npz(tmp_path / "a.npz", x=Unsaveable())
    assert list(tmp_path.iterdir()) == []


def test_a_folder_and_its_contents_take_the_umask(tmp_path):
    folder = tmp_path / "f"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "x").write_text("x")
    for path, mode in ((folder, 0o700), (folder / "sub", 0o700), (folder / "sub" / "x", 0o600)):
        os.chmod(path, mode)  # as mkdtemp / mkstemp make them
    old = os.umask(0o027)
    try:
        give_umask_mode(folder)
    finally:
        os.umask(old)
    modes = [stat.S_IMODE(p.stat().st_mode) for p in (folder, folder / "sub", folder / "sub" / "x")]
    assert modes == [0o750, 0o750, 0o640]


def test_an_atomic_folder_replaces_the_old_one_with_the_umask_or_leaves_it(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "old.txt").write_text("old")
    old = os.umask(0o027)
    try:
        with pytest.raises(RuntimeError):
            with atomic_folder(out) as tmp:
                (tmp / "half.txt").write_text("half")
                raise RuntimeError("interrupted")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # the temporary is gone
        assert sorted(p.name for p in out.iterdir()) == ["old.txt"]  # the old folder is untouched
        with atomic_folder(out) as tmp:
            (tmp / "sub").mkdir()
            (tmp / "sub" / "new.txt").write_text("new")
    finally:
        os.umask(old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["sub", "sub/new.txt"]
    modes = [stat.S_IMODE(p.stat().st_mode) for p in (out, out / "sub", out / "sub" / "new.txt")]
    assert modes == [0o750, 0o750, 0o640]
