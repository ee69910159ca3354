"""Datasets: readers (COCO JSON, YOLO txt, reference-image + video samples), synthetic shapes, episodes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from inspector.data.coco import find_annotations, read_coco
from inspector.data.dataset import ClipEntry, Dataset, ImageEntry
from inspector.data.records import Clip, Episode, Sample
from inspector.data.video import is_video_dataset, read_video
from inspector.data.yolo import find_yaml, read_yolo
from inspector.errors import InspectorError
from inspector.registry import Registry, doc_summary


@dataclass(frozen=True)
class DatasetFormat:
    """A dataset layout: whether a path holds one, and its reader."""

    claims: Callable[[Path], bool]
    read: Callable[[Path], Dataset]


# In detection order: a sample-folder root may hold an annotations.json of its own, so video comes first.
READERS: Registry[DatasetFormat] = Registry("dataset format", lambda f: doc_summary(f.read))
READERS.add("video", DatasetFormat(is_video_dataset, read_video))
READERS.add("yolo", DatasetFormat(lambda p: find_yaml(p) is not None, read_yolo))
READERS.add("coco", DatasetFormat(lambda p: find_annotations(p) is not None, read_coco))


def detect_format(path: Path) -> str | None:
    """The first format in READERS that claims the dataset at `path`, or None when none does."""
    return next((name for name, f in READERS if f.claims(path)), None)


def read_dataset(path: str | Path, format: str | None = None) -> Dataset:
    """The Dataset at `path`, its format detected unless given ('coco', 'yolo' or 'video')."""
    path = Path(path)
    if not path.exists():
        raise InspectorError("no such file or folder", path=path)
    if format is None:
        format = detect_format(path)
        if format is None:
            raise InspectorError(
                "not a dataset inspector reads: expected a COCO annotations.json, a YOLO data.yaml, "
                "or sample folders with object_images/",
                path=path,
            )
    if format not in READERS:
        raise InspectorError(
            f"unknown dataset format '{format}' (known: {', '.join(READERS.names())})", path=path
        )
    return READERS.get(format).read(path)


__all__ = [
    "Clip",
    "ClipEntry",
    "DatasetFormat",
    "Dataset",
    "Episode",
    "ImageEntry",
    "InspectorError",
    "READERS",
    "Sample",
    "detect_format",
    "read_dataset",
]
