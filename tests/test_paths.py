import os
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


def test_fifo_is_refused_not_opened(tmp_path: Path):
    fifo = tmp_path / "events.out.tfevents.1"
    os.mkfifo(fifo)
    with pytest.raises(InspectorError, match="not a regular file or a directory \\(a FIFO\\)"):
        confined_path(str(fifo), [tmp_path.resolve()])


def test_overlong_component_and_symlink_loop_give_messages(tmp_path: Path):
    with pytest.raises(InspectorError, match="File name too long"):
        confined_path(str(tmp_path / ("a" * 300)), [tmp_path.resolve()])
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(InspectorError, match="symlink loop|Too many levels"):
        confined_path(str(tmp_path / "a"), [tmp_path.resolve()])


def test_refusal_shows_roots_as_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INSPECTOR_ROOTS", "runs")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(InspectorError) as err:
        confined_path("/etc/passwd")
    assert "(runs)" in str(err.value)
    assert str(tmp_path) not in str(err.value)


def test_readers_refuse_a_fifo_instead_of_blocking(tmp_path: Path):
    from inspector.runlog import read_log

    fifo = tmp_path / "log.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(InspectorError, match="FIFO"):
        read_log(fifo)


def test_not_found_is_said_before_outside_the_roots(tmp_path: Path):
    """A mistyped path outside the roots is reported as not found, not as outside the roots (issue 21)."""
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(InspectorError, match="no such file") as missing:
        confined_path(str(tmp_path / "elsewhere" / "log.csv"), [root.resolve()])
    assert "outside" not in str(missing.value)
    (tmp_path / "there.csv").write_text("x")
    with pytest.raises(InspectorError, match="outside the allowed roots"):
        confined_path(str(tmp_path / "there.csv"), [root.resolve()])
