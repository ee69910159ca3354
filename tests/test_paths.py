from pathlib import Path

import pytest

from inspector.errors import InspectorError
from inspector.paths import allowed_roots, confined_path


def test_inside_root_is_resolved(tmp_path: Path):
    (tmp_path / "runs").mkdir()
    log = tmp_path / "runs" / "log.jsonl"
    log.write_text("{}\n")
    assert confined_path(str(log), [tmp_path.resolve()]) == log.resolve()


def test_dotdot_escape_is_refused(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("x")
    with pytest.raises(InspectorError, match="outside the allowed roots"):
        confined_path(str(root / ".." / "secret.txt"), [root.resolve()])


def test_symlink_escape_is_refused(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("x")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(InspectorError, match="outside the allowed roots"):
        confined_path(str(root / "link.txt"), [root.resolve()])


def test_missing_and_nul_paths(tmp_path: Path):
    with pytest.raises(InspectorError, match="no such file"):
        confined_path(str(tmp_path / "nope.csv"), [tmp_path.resolve()])
    with pytest.raises(InspectorError, match="NUL"):
        confined_path("a\x00b", [tmp_path.resolve()])


def test_roots_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INSPECTOR_ROOTS", str(tmp_path))
    assert allowed_roots() == [tmp_path.resolve()]
