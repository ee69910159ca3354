"""The upload store: untrusted names become plain files in their own folder, one copy per content, bounded."""

import os
import time
from pathlib import Path

import pytest

from inspector import uploads
from inspector.runlog import read_logs
from inspector.uploads import Upload, evict, safe_name, save


@pytest.mark.parametrize(
    "name",
    [
        "..",
        ".",
        "",
        "/",
        "../../etc/passwd",
        "..\\..\\x",
        " .. ",
        "...",
        "a/../..",
        "\x00",
        "C:\\runs\\..",
        "con/..",
    ],
)
def test_hostile_names_become_plain_files_inside_their_own_folder(tmp_path: Path, name: str):
    for size in (4096, 10):  # 4096: the size of a directory, which once made the save skip its write
        (path,) = save([Upload(name, b"x" * size)], root=tmp_path)
        assert path.is_file() and not path.is_symlink()
        assert path.parent.parent == tmp_path / "sets"
        assert path.name not in ("", ".", "..") and not path.name.startswith(".")
        assert path.read_bytes() == b"x" * size


def test_safe_name_keeps_ordinary_names_and_suffixes():
    assert safe_name("results.csv") == "results.csv"
    assert safe_name("C:\\Users\\me\\args.yaml") == "args.yaml"
    assert safe_name("../../hyp.yaml") == "hyp.yaml"
    long = safe_name("a" * 400 + ".tfevents")
    assert long.endswith(".tfevents") and len(long.encode()) <= 200
    assert safe_name("ünïcode log.txt") == "_n_code log.txt"


def test_dotdot_upload_reads_only_its_own_bytes(tmp_path: Path):
    # Another user's event file sits in the store; a ".." upload must not turn into the store's folder.
    save([Upload("events.out.tfevents.1.other", b"\0" * 64)], root=tmp_path)
    (mine,) = save([Upload("..", b'{"step": 1, "loss": 2.0}\n' * 2)], root=tmp_path)
    run = read_logs([mine])
    assert set(run.series) == {"loss"}


def test_same_bytes_are_stored_once_and_never_skipped_on_size(tmp_path: Path):
    files = [Upload(f"f{i}.jsonl", f'{{"step": {i}}}\n'.encode() * 100) for i in range(20)]
    for n in range(1, 21):  # the multi-file uploader: one more file each time
        save(files[:n], root=tmp_path)
    blobs = list((tmp_path / "blobs").iterdir())
    assert len(blobs) == 20  # 20 contents, not 210 copies
    # Same name and size, other bytes: the new bytes are what is read back.
    (a,) = save([Upload("log.jsonl", b"A" * 100)], root=tmp_path)
    (b,) = save([Upload("log.jsonl", b"B" * 100)], root=tmp_path)
    assert a.read_bytes() == b"A" * 100 and b.read_bytes() == b"B" * 100


def test_repeated_names_in_one_set_get_distinct_files(tmp_path: Path):
    paths = save(
        [Upload("log.csv", b"1"), Upload("log.csv", b"2"), Upload("..", b"3"), Upload("", b"4")],
        root=tmp_path,
    )
    assert len(set(paths)) == 4
    assert [p.read_bytes() for p in paths] == [b"1", b"2", b"3", b"4"]


def test_eviction_by_total_size_removes_least_recently_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INSPECTOR_UPLOAD_MAX_AGE_H", str(10**6))
    sets = []
    for i in range(5):
        sets.append(save([Upload(f"{i}.bin", bytes([i]) * 1000)], root=tmp_path)[0])
        os.utime(sets[-1].parent, (1000 + i, 1000 + i))  # set i last used at t = 1000 + i
    uploads.touch([sets[0]])  # set 0 was just used again: it is now the newest
    report = evict(tmp_path, now=time.time(), max_bytes=2500, max_age_s=10**10)
    assert report.sets_removed == 3 and report.bytes_freed == 3000 and report.bytes_kept == 2000
    assert sets[0].is_file() and sets[4].is_file()
    assert not any(p.exists() for p in sets[1:4])
    assert len(list((tmp_path / "blobs").iterdir())) == 2


def test_eviction_by_age_keeps_shared_blobs_and_the_set_just_saved(tmp_path: Path):
    old = save([Upload("a.jsonl", b"shared"), Upload("b.jsonl", b"old only")], root=tmp_path)
    os.utime(old[0].parent, (0, 0))
    new = save([Upload("c.jsonl", b"shared")], root=tmp_path)  # save() evicts: the old set is past any age
    assert not old[0].exists()
    assert new[0].read_bytes() == b"shared"
    assert len(list((tmp_path / "blobs").iterdir())) == 1  # "old only" went with its set; "shared" stays
    big = save([Upload("huge.bin", b"z" * 5000)], root=tmp_path)
    report = evict(tmp_path, keep=big[0].parent, max_bytes=100, max_age_s=10**9)
    assert big[0].is_file() and not new[0].exists() and report.sets_removed == 1


def test_limits_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INSPECTOR_UPLOAD_MAX_MB", "1")
    monkeypatch.setenv("INSPECTOR_UPLOAD_DIR", str(tmp_path))
    first = save([Upload("a.bin", b"a" * 700_000)])
    second = save([Upload("b.bin", b"b" * 700_000)])
    assert first[0].parent.parent == tmp_path / "sets"
    assert second[0].is_file() and not first[0].exists()
