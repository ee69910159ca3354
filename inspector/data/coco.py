"""Read a COCO-format detection dataset (one annotations JSON, bbox as absolute xywh).

Every box is read as the format defines it ([x, y, width, height] from the top-left corner, in pixels); boxes
that read better another way (normalised, corners) are reported in `Dataset.warnings`, never reinterpreted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from inspector.boxes import convert
from inspector.data.dataset import Dataset, ImageEntry, check_box, entry_arrays, image_size
from inspector.data.format_checks import format_warnings
from inspector.errors import InspectorError


def find_annotations(root: Path) -> Path | None:
    """The COCO annotations file for `root` (a JSON file, or a folder holding one), or None."""
    if root.is_file():
        return root
    for candidate in (root / "annotations.json", root / "_annotations.coco.json"):
        if candidate.is_file():
            return candidate
    for folder in (root, root / "annotations"):
        found = sorted(folder.glob("*.json")) if folder.is_dir() else []
        for path in found:
            if _looks_like_coco(path):
                return path
    return None


def _looks_like_coco(path: Path) -> bool:
    # Cheap sniff of the first KiB, so a folder of unrelated JSON files is not parsed in full.
    with open(path, "rb") as f:
        head = f.read(1024)
    return b'"images"' in head or b'"categories"' in head or b'"annotations"' in head


def _load_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        msg = f"broken JSON: {exc.msg} (column {exc.colno})"
        raise InspectorError(msg, path=path, line=exc.lineno) from exc
    except UnicodeDecodeError as exc:
        raise InspectorError(f"not UTF-8 text ({exc.reason})", path=path) from exc
    if not isinstance(data, dict):
        raise InspectorError("a COCO annotations file is a JSON object", path=path)
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise InspectorError(f"missing the '{key}' list of a COCO annotations file", path=path)
    return data


def _resolve_image(file_name: str, ann_path: Path, root: Path) -> Path | None:
    # Tools disagree on what file_name is relative to: the JSON's folder, an images/ folder beside
    # it, or the dataset root.
    base = ann_path.parent
    for folder in (base, base / "images", root, root / "images", base.parent / "images"):
        candidate = folder / file_name
        if candidate.is_file():
            return candidate
    return None


def read_coco(path: str | Path) -> Dataset:
    """The Dataset in a COCO annotations file (or a folder holding annotations.json and images/)."""
    root = Path(path)
    ann_path = find_annotations(root)
    if ann_path is None:
        raise InspectorError("no COCO annotations JSON found (looked for annotations.json)", path=root)
    root = root if root.is_dir() else ann_path.parent
    data = _load_json(ann_path)

    # Category ids are arbitrary (COCO's own skip numbers); classes are their rank by id.
    categories = sorted(data["categories"], key=lambda c: c.get("id", 0))
    try:
        class_of = {int(c["id"]): i for i, c in enumerate(categories)}
        names = tuple(str(c["name"]) for c in categories)
    except (KeyError, TypeError, ValueError) as exc:
        raise InspectorError(f"a category lacks an integer 'id' or a 'name' ({exc})", path=ann_path) from exc

    skipped: list[str] = []
    images: dict[object, dict] = {}
    missing = 0
    for im in data["images"]:
        if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
            raise InspectorError(f"an image record lacks 'id' or 'file_name': {str(im)[:80]}", path=ann_path)
        file = _resolve_image(str(im["file_name"]), ann_path, root)
        if file is None:
            skipped.append(f"image {im['id']} '{im['file_name']}': file not found")
            missing += 1
            continue
        try:
            size = image_size(file)
        except (
            InspectorError
        ) as exc:  # one unreadable image (a decompression bomb, a truncated file) costs itself
            skipped.append(f"image {im['id']} '{im['file_name']}': {exc.reason}")
            continue
        height, width = im.get("height"), im.get("width")
        if height is not None and width is not None and (int(height), int(width)) != size:
            skipped.append(
                f"image {im['id']} '{im['file_name']}': annotations say {width}x{height} "
                f"but the file is "
                f"{size[1]}x{size[0]}; its boxes cannot be trusted"
            )
            continue
        images[im["id"]] = {"file": file, "size": size, "boxes": [], "labels": []}
    if data["images"] and missing == len(data["images"]):
        raise InspectorError(
            f"none of the {len(data['images'])} images listed were found beside the annotations "
            f"(first: '{data['images'][0].get('file_name')}')",
            path=ann_path,
        )

    listed_ids = {im["id"] for im in data["images"]}
    # The numbers as written, before clipping or skipping: the format checks judge the file, not what is kept.
    written: list[np.ndarray] = []
    written_sizes: list[tuple[int, int]] = []
    written_where: list[str] = []
    for ann in data["annotations"]:
        aid = ann.get("id", "?") if isinstance(ann, dict) else "?"
        where = f"annotation {aid}"
        if not isinstance(ann, dict):
            skipped.append(f"{where}: not an object")
            continue
        if ann.get("image_id") not in images:
            if ann.get("image_id") not in listed_ids:
                skipped.append(f"{where}: unknown image_id {ann.get('image_id')!r}")
            continue  # its image was skipped already, with the reason
        if ann.get("category_id") not in class_of:
            skipped.append(f"{where}: unknown category_id {ann.get('category_id')!r}")
            continue
        if ann.get("iscrowd"):
            skipped.append(f"{where}: crowd region (an ignore area, not an object)")
            continue
        bbox: Any = ann.get("bbox")  # any JSON value: not four numbers is caught below
        try:
            xywh = np.array([float(v) for v in bbox])
        except (TypeError, ValueError):
            xywh = np.zeros(0)
        if xywh.shape != (4,):
            skipped.append(f"{where}: bbox {bbox!r} is not four numbers")
            continue
        entry = images[ann["image_id"]]
        written.append(xywh)
        written_sizes.append(entry["size"])
        written_where.append(where)
        box, why = check_box(convert(xywh, "xywh", "xyxy"), entry["size"])
        if box is None:
            skipped.append(f"{where}: {why}")
            continue
        entry["boxes"].append(box)
        entry["labels"].append(class_of[ann["category_id"]])

    entries = []
    for image_id, e in images.items():
        boxes, labels = entry_arrays(e["boxes"], e["labels"])
        entries.append(ImageEntry(str(image_id), e["file"], e["size"], boxes, labels))
    ann_file = ann_path.relative_to(root).as_posix() if ann_path.is_relative_to(root) else str(ann_path)
    warnings = format_warnings(
        np.reshape(written, (-1, 4)),
        np.reshape(written_sizes, (-1, 2)),
        "xywh",
        written_where,
        [ann_file] * len(written),
        "COCO",
    )
    return Dataset(
        root=root,
        format="coco",
        class_names=names,
        images=tuple(entries),
        skipped=tuple(skipped),
        warnings=warnings,
    )
