"""Read reference-image + video samples, the layout of drone few-shot search datasets.

    root/<sample>/object_images/*.jpg   a few photos of the target object
    root/<sample>/frames/*.jpg          the video as images (or root/<sample>/*.mp4, decoded with PyAV)
    root/<sample>/annotations.json      [{"frame": i, "x1": .., "y1": .., "x2": .., "y2": ..}, ...]
                                        or {"class": name, "bboxes": [...]}

A root-level annotations.json (or annotations/annotations.json) in the form
[{"video_id": sample, "annotations": [{"bboxes": [...]}]}] is read too. Frame i is the i-th frame
file in natural order (frame_2 before frame_10). A sample's class is its "class" key, else its
folder name without a trailing _<number> ("Backpack_0" → "Backpack").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from inspector.data.dataset import (
    IMAGE_SUFFIXES,
    ClipEntry,
    Dataset,
    ImageEntry,
    check_box,
    entry_arrays,
    image_size,
    natural_key,
)
from inspector.errors import InspectorError

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv"})


def is_video_dataset(root: Path) -> bool:
    """True when some folder directly under `root` has an object_images/ folder."""
    return root.is_dir() and any((d / "object_images").is_dir() for d in root.iterdir() if d.is_dir())


def _images_in(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES] if folder.is_dir() else []
    return sorted(files, key=lambda p: natural_key(p.name))


def _load_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        msg = f"broken JSON: {exc.msg} (column {exc.colno})"
        raise InspectorError(msg, path=path, line=exc.lineno) from exc


def _root_annotations(root: Path) -> dict[str, list]:
    """sample name → its list of per-frame boxes, from a root-level annotations file, if any."""
    for path in (root / "annotations.json", root / "annotations" / "annotations.json"):
        if not path.is_file():
            continue
        data = _load_json(path)
        if not isinstance(data, list):
            raise InspectorError("expected a list of {'video_id', 'annotations'} records", path=path)
        out: dict[str, list] = {}
        for record in data:
            if not isinstance(record, dict) or "video_id" not in record:
                raise InspectorError(f"a record lacks 'video_id': {str(record)[:80]}", path=path)
            boxes: list = []
            for group in record.get("annotations", []):
                boxes.extend(group.get("bboxes", []) if isinstance(group, dict) else [])
            out[str(record["video_id"])] = boxes
        return out
    return {}


def _sample_annotations(folder: Path) -> tuple[list, str | None]:
    """(per-frame box records, class name or None) from <sample>/annotations.json."""
    path = folder / "annotations.json"
    data = _load_json(path)
    if isinstance(data, list):
        return data, None
    if isinstance(data, dict):
        boxes = data.get("bboxes", data.get("annotations"))
        if isinstance(boxes, list):
            name = data.get("class", data.get("category"))
            return boxes, None if name is None else str(name)
    raise InspectorError("expected a list of per-frame boxes or {'class', 'bboxes': [...]}", path=path)


def _video_frames(folder: Path, sample: str) -> tuple[list[Path], list[int], tuple[int, int] | None]:
    """(frame paths, frame indices, video size or None) of a sample: a frames/ folder, else a video file."""
    frames = _images_in(folder / "frames")
    if frames:
        return frames, [-1] * len(frames), None
    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise InspectorError(f"sample '{sample}' has neither a frames/ folder nor a video file", path=folder)
    try:
        import av  # optional: only needed for samples stored as video files
    except ImportError as exc:
        raise InspectorError(
            "reading video files needs PyAV, which is not installed (pip install av); "
            "or extract the frames into a frames/ folder",
            path=videos[0],
        ) from exc
    with av.open(str(videos[0])) as container:
        stream = container.streams.video[0]
        n = sum(1 for _ in container.decode(stream))
        size = (stream.codec_context.height, stream.codec_context.width)
    return [videos[0]] * n, list(range(n)), size


def read_video(path: str | Path) -> Dataset:
    """The Dataset of reference-image + video samples under `path` (one clip per sample folder)."""
    root = Path(path)
    if not is_video_dataset(root):
        raise InspectorError("no sample folder with an object_images/ folder", path=root)
    shared = _root_annotations(root)
    skipped: list[str] = []
    pending: list[tuple[str, str, list[Path], list[ImageEntry]]] = []
    folders = [d for d in root.iterdir() if (d / "object_images").is_dir()]
    for folder in sorted(folders, key=lambda d: natural_key(d.name)):
        sample = folder.name
        objects = _images_in(folder / "object_images")
        if not objects:
            skipped.append(f"sample '{sample}': object_images/ holds no images")
            continue
        class_name = None
        if (folder / "annotations.json").is_file():
            records, class_name = _sample_annotations(folder)
        elif sample in shared:
            records = shared[sample]
        else:
            skipped.append(f"sample '{sample}': no annotations.json and no entry in a root annotations file")
            continue
        frame_paths, frame_index, video_size = _video_frames(folder, sample)

        per_frame: dict[int, list[np.ndarray]] = {}
        # Every frame of one video has one size; reading each header of a long video costs seconds.
        size = video_size or image_size(frame_paths[0])
        for n, rec in enumerate(records):
            where = f"sample '{sample}', box record {n}"
            try:
                i = int(rec["frame"])
                raw = np.array([float(rec[k]) for k in ("x1", "y1", "x2", "y2")])
            except (KeyError, TypeError, ValueError):
                skipped.append(f"{where}: expected {{'frame', 'x1', 'y1', 'x2', 'y2'}}, got {str(rec)[:60]}")
                continue
            if not 0 <= i < len(frame_paths):
                skipped.append(f"{where}: frame {i} does not exist ({len(frame_paths)} frames)")
                continue
            box, why = check_box(raw, size)
            if box is None:
                skipped.append(f"{where} (frame {i}): {why}")
                continue
            per_frame.setdefault(i, []).append(box)

        entries = []
        for i, file in enumerate(frame_paths):
            boxes = per_frame.get(i, [])
            b, lab = entry_arrays(boxes, [0] * len(boxes))  # label fixed below, once classes are known
            entries.append(ImageEntry(f"{sample}/{i}", file, size, b, lab, frame_index[i]))
        name = class_name or re.sub(r"_\d+$", "", sample)
        pending.append((sample, name, objects, entries))

    names = tuple(sorted({name for _, name, _, _ in pending}))
    clips = []
    for sample, name, objects, entries in pending:
        label = names.index(name)
        frames = tuple(
            ImageEntry(e.image_id, e.path, e.size, e.boxes, np.full(len(e.boxes), label, np.int64), e.frame)
            for e in entries
        )
        clips.append(ClipEntry(sample, label, tuple(objects), frames))
    if not clips:
        raise InspectorError("no usable sample: " + "; ".join(skipped[:3]), path=root)
    return Dataset(root=root, format="video", class_names=names, clips=tuple(clips), skipped=tuple(skipped))
