"""The atomic writers: complete files at their paths, with the permissions of an ordinary write."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from resdyn.io import give_umask_mode, save_json, save_npz


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
