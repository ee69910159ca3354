"""The runs under a sweep root: log files inspector can read, and TensorBoard run directories.

After a sweep (configs × seeds) the runs sit under one directory, flat (`lr1e-3_seed2.jsonl`) or nested
(`lr1e-3/seed2/metrics.json`). `walk` lists the root within bounds (depth, entries) and keys what it saw
by names, sizes and modification times; `find_runs` decides, directory by directory, which files are runs:

- A directory that directly holds `events.out.tfevents.*` files is ONE run; event files in its
  subdirectories belong to it, as the tfevents reader reads them.
- Every other file with a log suffix is detected by content (`inspector.runlog.detect`, here where a
  directory's files must be told apart, else when the run is read); a file no reader claims is no run,
  and `skipped` says so.
- Logs of several formats in one directory are one run written by several loggers (Detectron2 writes
  metrics.json, log.txt and an event file of the same scalars): only those of the most telling format
  (`FORMAT_PREFERENCE`) are runs, the others its `alternates`. Several logs of one format in one directory
  are several runs (a flat sweep).
- An empty or unopenable log file is a run that died early, kept with its error, when its directory has
  no other run or runs of its own suffix (a flat sweep's broken member); otherwise it is skipped, named.
- Config files beside a log (`runlog.registry.is_companion`: args.yaml, hyp.yaml, config.json, …) ride
  along with each run of their directory. Checkpoints do not: a `torch.load` per run would cost more
  than the read.

A run's name is its path relative to the root: its directory's when that directory yields one run
(`lr1e-3/seed2`), its file's otherwise (`lr1e-3_seed2.jsonl`). Hidden entries, symbolic links (they may
lead outside the roots the server confines paths to) and `SKIP_DIRS` are not walked.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from inspector.errors import InspectorError
from inspector.runlog import detect
from inspector.runlog.registry import CHECKPOINT_SUFFIXES, is_companion
from inspector.sweep.records import Discovery, RunKind, RunSpec

# A sweep of a few configs × seeds has tens of runs; a thousand covers a large grid search while keeping a
# read of all of them to minutes on two cores (bench/bench_sweep.py: ~0.07 s per 10k-step run).
MAX_RUNS = 1_000
# root/config/seed/run holds the log three levels down; Hydra's multirun adds a date and a time level.
MAX_DEPTH = 6
# Directory entries looked at before the walk stops: a root that also holds a dataset (100k images) must
# not keep the page waiting on its listing.
MAX_ENTRIES = 200_000
# Suffixes of the logs the readers know (docs/formats.md); event files are known by name.
LOG_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".txt", ".log", ".out")
EVENTS_MARKER = "tfevents"
# Folders that hold copies of a run's output rather than runs (W&B's local mirror of the console log)
# or no logs at all.
SKIP_DIRS = frozenset({"wandb", "__pycache__", "node_modules"})
# Which format speaks for a directory holding several: a framework's own log first (it carries the
# framework's loss conventions and its config companions), TensorBoard's copy of the scalars next, then
# generic tables and console text. Formats not listed come last.
FORMAT_PREFERENCE = (
    "inspector_jsonl",
    "ultralytics_csv",
    "detectron2_json",
    "mmengine_json",
    "mmdet2_json",
    "detr",
    "yolo_results_txt",
    "wandb_csv",
    "tfevents",
    "jsonl",
    "csv",
    "text",
)


@dataclass(frozen=True)
class ListedFile:
    """A file the walk kept (a log, an event file or a companion): name, size and mtime for the key."""

    name: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ListedDir:
    """One directory under the root: its path relative to the root ("" for the root) and kept files."""

    rel: str
    files: tuple[ListedFile, ...]

    @property
    def has_events(self) -> bool:
        return any(EVENTS_MARKER in f.name for f in self.files)


@dataclass(frozen=True)
class Listing:
    """What `walk` saw under a root, and `key`: a hash of its files' names, sizes and mtimes."""

    root: str
    dirs: tuple[ListedDir, ...]
    key: str
    truncated: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


def natural_key(text: str) -> list:
    """Sort key that puts seed2 before seed10 (and keeps 001 and 0001 apart, so a group stays together)."""
    return [(int(part), part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def _kept(name: str) -> bool:
    """Whether a file can matter to a run: a log, an event file or a config companion (no checkpoints)."""
    p = Path(name)
    suffix = p.suffix.lower()
    if EVENTS_MARKER in name or suffix in LOG_SUFFIXES:
        return True
    return is_companion(p) and suffix not in CHECKPOINT_SUFFIXES


def walk(root: str | os.PathLike, max_depth: int = MAX_DEPTH, max_entries: int = MAX_ENTRIES) -> Listing:
    """The directories under `root` (pre-order, natural name order) with the files that can matter to runs.

    Cheap (one scandir and one stat per kept file): the app walks on every rerun and reads the runs again
    only when `key` changes. InspectorError when `root` is not a directory.
    """
    base = Path(root)
    if not base.is_dir():
        raise InspectorError("not a directory (give the folder that holds the sweep's runs)", path=base)
    dirs: list[ListedDir] = []
    truncated: list[str] = []
    skipped: list[str] = []
    digest = hashlib.sha256()
    seen = links = deeper = 0
    stack: list[tuple[Path, str, int]] = [(base, "", 0)]
    while stack:
        here, rel, depth = stack.pop()
        try:
            with os.scandir(here) as it:
                entries = sorted(it, key=lambda e: natural_key(e.name))
        except OSError as exc:
            skipped.append(f"{rel or '.'}/: cannot be listed ({exc.strerror or exc})")
            continue
        files: list[ListedFile] = []
        subdirs: list[tuple[Path, str, int]] = []
        for entry in entries:
            seen += 1
            if seen > max_entries:
                break
            if entry.name.startswith("."):
                continue
            if entry.is_symlink():
                links += 1
            elif entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIP_DIRS:
                    subdirs.append((Path(entry.path), f"{rel}/{entry.name}".lstrip("/"), depth + 1))
            elif entry.is_file(follow_symlinks=False) and _kept(entry.name):
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # vanished between the listing and the stat
                files.append(ListedFile(entry.name, st.st_size, st.st_mtime_ns))
                digest.update(f"{rel}/{entry.name}|{st.st_size}|{st.st_mtime_ns};".encode())
        dirs.append(ListedDir(rel, tuple(files)))
        if seen > max_entries:
            truncated.append(
                f"the walk stopped after {max_entries:,} directory entries; folders after {rel or '.'}/ "
                "were not searched (give a narrower folder)"
            )
            break
        if depth < max_depth:
            stack.extend(reversed(subdirs))
        else:
            deeper += len(subdirs)
    if deeper:
        truncated.append(
            f"{deeper} folder(s) deeper than {max_depth} levels below the root were not searched"
        )
    if links:
        skipped.append(f"{links} symbolic link(s) not followed (they may lead outside the allowed roots)")
    return Listing(str(base), tuple(dirs), digest.hexdigest()[:24], tuple(truncated), tuple(skipped))


def _preference(fmt: str) -> int:
    return FORMAT_PREFERENCE.index(fmt) if fmt in FORMAT_PREFERENCE else len(FORMAT_PREFERENCE)


@dataclass(frozen=True)
class _Found:
    """A run candidate in one directory: its path, kind, format (None: detected when read) and error."""

    path: Path
    kind: RunKind
    format: str | None
    error: str | None = None


def _broken(path: Path, size: int) -> str | None:
    """Why a log file cannot be a readable run before any reader looks (empty, unopenable); None if fine."""
    if size == 0:
        return "the file is empty (the run wrote nothing)"
    try:
        with open(path, "rb"):
            return None
    except OSError as exc:
        return f"cannot open ({exc.strerror or exc})"


def _runs_in(base: Path, d: ListedDir, absorbed: bool) -> tuple[list[_Found], list[str], list[str]]:
    """(runs, alternates, skipped notes) of one directory, by the rules in the module docstring.

    Detection (~15 ms a file, most of it the console-log sniffer) is paid here only where a choice between
    formats must be made; a directory of logs of one suffix leaves it to the parallel read.
    """
    here = base / d.rel if d.rel else base
    logs = [f for f in d.files if EVENTS_MARKER not in f.name and Path(f.name).suffix.lower() in LOG_SUFFIXES]
    logs = [f for f in logs if not is_companion(Path(f.name))]
    events = d.has_events and not absorbed
    broken = [(f, why) for f in logs if (why := _broken(here / f.name, f.size)) is not None]
    usable = [f for f in logs if all(f is not b for b, _ in broken)]
    skipped: list[str] = []
    chosen: list[_Found] = []
    alternates: list[str] = []
    if not events and len({Path(f.name).suffix.lower() for f in usable}) <= 1:
        chosen = [_Found(here / f.name, "file", None) for f in usable]
    else:
        detected: dict[str, list[_Found]] = {}
        if events:
            detected["tfevents"] = [_Found(here, "tensorboard_dir", "tfevents")]
        for f in usable:
            try:
                fmt = detect(here / f.name)
            except InspectorError as exc:
                skipped.append(f"{_rel(d, f.name)}: {exc.reason}")
                continue
            detected.setdefault(fmt, []).append(_Found(here / f.name, "file", fmt))
        if detected:
            best = min(detected, key=_preference)
            chosen = detected.pop(best)
            alternates = [str(x.path) for found in detected.values() for x in found]
    suffixes = {x.path.suffix.lower() for x in chosen if x.kind == "file"}
    for f, why in broken:
        if not chosen or Path(f.name).suffix.lower() in suffixes:
            chosen.append(_Found(here / f.name, "file", None, why))
        else:
            skipped.append(f"{_rel(d, f.name)}: {why}")
    return chosen, alternates, skipped


def _rel(d: ListedDir, name: str) -> str:
    return f"{d.rel}/{name}" if d.rel else name


def _name(base: Path, d: ListedDir, found: _Found, alone: bool) -> str:
    """The run's name: its directory's relative path when it is the directory's only run, else its file's."""
    if alone and d.rel:
        return d.rel
    if found.kind == "tensorboard_dir":
        return d.rel or base.name
    return _rel(d, found.path.name)


def find_runs(listing: Listing, max_runs: int = MAX_RUNS) -> Discovery:
    """The runs of a listing, in natural name order (at most `max_runs`; `truncated` says when more)."""
    base = Path(listing.root)
    tensorboard = {d.rel for d in listing.dirs if d.has_events}
    runs: list[RunSpec] = []
    skipped = list(listing.skipped)
    truncated = list(listing.truncated)
    names: set[str] = set()
    for d in listing.dirs:
        parent = d.rel.rpartition("/")[0] if "/" in d.rel else ("" if d.rel else None)
        found, alternates, notes = _runs_in(base, d, absorbed=parent in tensorboard)
        skipped += notes
        if not found:
            continue
        here = base / d.rel if d.rel else base
        companions = tuple(
            str(here / f.name)
            for f in d.files
            if is_companion(Path(f.name)) and Path(f.name).suffix.lower() not in CHECKPOINT_SUFFIXES
        )
        for x in found:
            if len(runs) >= max_runs:
                truncated.append(f"only the first {max_runs:,} runs were taken; more lie under the root")
                return _discovery(listing, runs, truncated, skipped)
            name = _name(base, d, x, alone=len(found) == 1)
            if name in names:  # a folder named like a sibling's file: the file's own path is unique
                name = _rel(d, x.path.name)
            names.add(name)
            runs.append(RunSpec(name, str(x.path), x.kind, x.format, companions, tuple(alternates), x.error))
    return _discovery(listing, runs, truncated, skipped)


def _discovery(listing: Listing, runs: list[RunSpec], truncated: list[str], skipped: list[str]) -> Discovery:
    ordered = tuple(sorted(runs, key=lambda r: natural_key(r.name)))
    return Discovery(listing.root, ordered, tuple(truncated), tuple(skipped))


def discover(
    root: str | os.PathLike,
    max_runs: int = MAX_RUNS,
    max_depth: int = MAX_DEPTH,
    max_entries: int = MAX_ENTRIES,
) -> Discovery:
    """The runs under `root` (see the module docstring); InspectorError when `root` is not a directory."""
    return find_runs(walk(root, max_depth, max_entries), max_runs)
