"""Atomic writes: the target holds either the old or the complete new content."""

from __future__ import annotations

import json

import pytest

from posetrack.io.atomic import atomic_path, write_json_atomic


def test_json_written_and_no_temp_left(tmp_path):
    target = tmp_path / "out.json"
    write_json_atomic(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    plain = tmp_path / "plain"
    plain.write_text("")
    assert target.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_failure_keeps_old_content_and_removes_temp(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            assert tmp.suffix == ".json"
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="output folder does not exist"):
        write_json_atomic(tmp_path / "nope" / "out.json", {})
