"""Datasets: readers (COCO JSON, YOLO txt, reference-image + video samples), synthetic shapes, episodes."""

from __future__ import annotations

from pathlib import Path

from inspector.data.coco import find_annotations, read_coco
from inspector.data.dataset import ClipEntry, Dataset, ImageEntry
from inspector.data.records import Clip, Episode, Sample
from inspector.data.video import is_video_dataset, read_video
from inspector.data.yolo import find_yaml, read_yolo
from inspector.errors import InspectorError

READERS = {"coco": read_coco, "yolo": read_yolo, "video": read_video}


def detect_format(path: Path) -> str | None:
    """'video', 'yolo' or 'coco' for the dataset at `path`, or None when it is none of them."""
    if is_video_dataset(path):
        return "video"  # checked first: such a root may hold an annotations.json of its own
    if find_yaml(path) is not None:
        return "yolo"
    if find_annotations(path) is not None:
        return "coco"
    return None


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
        raise InspectorError(f"unknown dataset format '{format}' (known: {', '.join(READERS)})", path=path)
    return READERS[format](path)


__all__ = [
    "Clip",
    "ClipEntry",
    "Dataset",
    "Episode",
    "ImageEntry",
    "InspectorError",
    "READERS",
    "Sample",
    "detect_format",
    "read_dataset",
]
