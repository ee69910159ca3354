"""Format registry: detect a log's format by content and read it with the matching reader.

READERS lists one module per format (in `inspector/runlog/readers/`), each following the `Reader` protocol.
`head` is the first HEAD_BYTES of the file (b"" for a directory). Detection picks the highest score; ties go
to the earlier entry in READERS (the more specific formats come first).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import pyarrow as pa

from inspector.errors import InspectorError
from inspector.paths import file_kind
from inspector.registry import Registry
from inspector.runlog.recognise import MAGIC, describe_content, expected
from inspector.runlog.record import RunLog

# Enough to see a header line, a JSON object or a few CSV rows; small enough to be instant.
HEAD_BYTES = 64 * 1024


@runtime_checkable
class Reader(Protocol):
    """What a reader module defines."""

    NAME: str  # the format's name, as registered: "ultralytics_csv"
    DESCRIPTION: str  # one line for the UI's format picker

    def sniff(self, path: Path, head: bytes) -> float:
        """0.0 (not mine) .. 1.0 (certainly mine), from the file's first HEAD_BYTES."""
        ...

    def read(self, path: Path, companions: Sequence[Path] = ()) -> RunLog:
        """The log as a RunLog; `companions` are config files given beside it."""
        ...


READERS: Registry[Reader] = Registry("log format", lambda reader: reader.DESCRIPTION)
for _name, _module in (
    ("inspector_jsonl", "native"),
    ("tfevents", "tfevents"),
    ("ultralytics_csv", "ultralytics"),
    ("detectron2_json", "detectron2"),
    ("mmengine_json", "mmengine"),
    ("mmdet2_json", "mmdet_json"),
    ("wandb_csv", "wandb_csv"),
    ("detr", "detr"),
    ("jsonl", "jsonl"),
    ("csv", "csv_table"),
    ("yolo_results_txt", "yolo_results_txt"),
    ("text", "text"),
):
    READERS.declare(_name, f"inspector.runlog.readers.{_module}")

# Files that configure a run rather than log it; passed to readers as companions.
COMPANION_SUFFIXES = (".yaml", ".yml", ".py", ".cfg")
# ...and config dumps whose suffix logs also use (`.json`: Detectron2's metrics.json and MMEngine's
# scalars.json are logs), known by name: DINO's main.py writes config_args_raw.json/config_args_all.json,
# DN-DETR and DAB-DETR config.json, DETR forks print their argparse Namespace to args.txt.
COMPANION_NAMES = ("config.json", "config_args_all.json", "config_args_raw.json", "args.json", "args.txt")


# A checkpoint given beside a log: its train config's loss gains are evidence for the log's weights.
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


def is_companion(path: Path) -> bool:
    """Whether `path`, uploaded or given beside a log, configures the run rather than logs it."""
    return (
        path.suffix.lower() in COMPANION_SUFFIXES + CHECKPOINT_SUFFIXES
        or path.name.lower() in COMPANION_NAMES
    )


def with_checkpoint_gains(log: RunLog, checkpoints: Sequence[Path]) -> RunLog:
    """`log` with the loss gains its checkpoint's train config states, where no file of its own stated them.

    A log that already holds gains keeps them; where the checkpoint disagrees, a warning names both. A
    checkpoint that cannot be read safely is named with the reason; it never costs the log.
    """
    from inspector.checkpoint import train_gains  # torch: imported only when a checkpoint is given

    for path in checkpoints:
        try:
            gains = train_gains(path)
        except InspectorError as exc:
            log.warnings.append(f"{path.name} ignored ({str(exc).removeprefix(str(path) + ': ')}).")
            continue
        if not gains:
            log.warnings.append(f"{path.name} states no loss gains; it was not used.")
            continue
        sources = log.config.get("weight_sources") or {}
        # A framework's shipped default the reader filled in
        # is weaker evidence than the run's own train config.
        own = {
            k: v
            for k, v in (log.config.get("loss_weights") or {}).items()
            if not str(sources.get(k, "")).startswith("default")
        }
        if not own:
            log.config["loss_weights"], log.config["weights_file"] = dict(gains), path.name
            log.config.pop("weight_sources", None)
            continue
        differ = {k: (own[k], v) for k, v in gains.items() if k in own and abs(float(own[k]) - v) > 1e-9}
        if differ:
            shown = ", ".join(f"{k} {a:g} vs {b:g}" for k, (a, b) in differ.items())
            log.warnings.append(
                f"{path.name} states other loss gains than the log ({shown}); the log's are used."
            )
    return log


def formats() -> dict[str, str]:
    """{format name: description} of every reader, in detection order."""
    return READERS.listing()


def _check_kind(path: Path) -> None:
    """InspectorError unless `path` is a regular file or a
    directory (a FIFO would block its reader forever)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InspectorError("no such file or directory", path=path) from None
    except OSError as exc:
        raise InspectorError(f"cannot open ({exc.strerror or exc})", path=path) from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise InspectorError(f"not a regular file or a directory (a {file_kind(mode)})", path=path)


def _head(path: Path) -> bytes:
    if path.is_dir():
        return b""
    try:
        with open(path, "rb") as fh:
            return fh.read(HEAD_BYTES)
    except OSError as exc:
        raise InspectorError(f"cannot open ({exc.strerror or exc})", path=path) from None


def detect(path: str | os.PathLike) -> str:
    """Name of the format whose reader claims `path` most strongly; InspectorError when none does."""
    p = Path(path)
    _check_kind(p)
    head = _head(p)
    if not p.is_dir() and not head:
        raise InspectorError("the file is empty", path=p)
    best: str | None = None
    best_score = 0.0
    for name, reader in READERS:
        score = float(reader.sniff(p, head))
        if score > best_score:
            best, best_score = name, score
    if best is None:
        if not p.is_dir() and b"\x00" in head[:4096] and not any(head.startswith(m) for m, _ in MAGIC):
            raise InspectorError("binary content that is not a TensorBoard event file", path=p)
        found = "a directory with no TensorBoard event file" if p.is_dir() else describe_content(head)
        raise InspectorError(
            f"not a training log inspector recognises: it looks like {found}. Expected one of: "
            f"{expected(formats())}",
            path=p,
        )
    return best


def read_log(
    path: str | os.PathLike, format: str | None = None, companions: Sequence[str | os.PathLike] = ()
) -> RunLog:
    """Read one log (file or TensorBoard run directory) into a RunLog.

    `format` overrides detection; `companions` are config files uploaded beside the log
    (args.yaml, hyp.yaml, …). Raises InspectorError, naming the file, on unreadable input.
    """
    p = Path(path)
    _check_kind(p)
    name = format or detect(p)
    if name not in READERS:
        raise InspectorError(f"unknown format {name!r}; choose one of {', '.join(READERS.names())}", path=p)
    try:
        return READERS.get(name).read(p, [Path(c) for c in companions])
    except InspectorError:
        raise
    except IsADirectoryError:
        raise InspectorError(f"a directory, not a {name} log file", path=p) from None
    except OSError as exc:  # a directory given to a file reader, a permission, a vanished file
        raise InspectorError(f"cannot read ({exc.strerror or exc})", path=p) from None
    except RecursionError:
        raise InspectorError(f"not a valid {name} log (nested too deeply)", path=p) from None
    except UnicodeDecodeError as exc:
        raise InspectorError(f"cannot decode as text ({exc.reason} at byte {exc.start})", path=p) from None
    except (ValueError, KeyError, TypeError, IndexError, OverflowError, MemoryError) as exc:
        raise InspectorError(f"not a valid {name} log ({type(exc).__name__}: {exc})", path=p) from None
    finally:
        # Arrow's allocator (mimalloc) keeps freed pages mapped: after a 1M-line text log ~50 MB stayed
        # resident in a long-running server. Handing them back costs well under a millisecond.
        pa.default_memory_pool().release_unused()


def read_logs(paths: Sequence[str | os.PathLike], format: str | None = None) -> RunLog:
    """Read a log given with its companions (as uploaded together): config files go to the reader."""
    ps = [Path(p) for p in paths]
    companions = [p for p in ps if is_companion(p)]
    logs = [p for p in ps if p not in companions]
    checkpoints = [p for p in companions if p.suffix.lower() in CHECKPOINT_SUFFIXES]
    companions = [p for p in companions if p not in checkpoints]
    if not logs:
        raise InspectorError(
            "only configuration files were given; add the training log itself", path=ps[0] if ps else None
        )
    if len(logs) > 1:
        raise InspectorError(
            f"{len(logs)} logs were given together; give one log (plus its config files)", path=logs[0]
        )
    log = read_log(logs[0], format=format, companions=companions)
    return with_checkpoint_gains(log, checkpoints) if checkpoints else log
