"""`rpc.reload.Reloading`: a changed file is loaded again, a broken change keeps the last good
value (once per change), a missing file keeps it too, and the file is not looked at more than
once per `CHECK_EVERY`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from motet_server.rpc import reload
from motet_server.rpc.reload import Reloading


def _write(path: Path, text: str, bump: int) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, (st.st_atime, st.st_mtime + bump))  # a distinct mtime even within one clock tick


def test_changes_are_loaded_and_a_broken_change_keeps_the_last_good_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reload, "CHECK_EVERY", 0.0)
    path = tmp_path / "v.json"
    _write(path, '{"v": 1}', 0)
    loads: list[int] = []

    def load() -> int:
        value = int(json.loads(path.read_text())["v"])
        loads.append(value)
        return value

    watched = Reloading(str(path), load, "test file")
    assert watched.get() == 1 and loads == [1]
    assert watched.get() == 1 and loads == [1]  # unchanged: not loaded again
    _write(path, '{"v": 2}', 10)
    assert watched.get() == 2
    _write(path, '{"v": ', 20)
    assert watched.get() == 2 and watched.get() == 2
    path.unlink()
    assert watched.get() == 2  # missing mid-rotation
    _write(path, '{"v": 3}', 30)
    assert watched.get() == 3 and loads == [1, 2, 3]


def test_a_bad_file_at_start_raises_the_loaders_error(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    path.write_text("nope")
    with pytest.raises(ValueError):
        Reloading(str(path), lambda: json.loads(path.read_text()), "test file")


def test_the_file_is_looked_at_at_most_once_per_interval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reload, "CHECK_EVERY", 3600.0)
    path = tmp_path / "v.txt"
    _write(path, "1", 0)
    watched = Reloading(str(path), lambda: path.read_text(), "test file")
    _write(path, "2", 10)
    assert watched.get() == "1"  # the next look is an hour away
