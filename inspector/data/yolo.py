"""Read a YOLO-format dataset: images/ + labels/ (one txt per image, normalized cxcywh) + data.yaml names.

Every row is read as Ultralytics defines it (`class cx cy w h`, normalised to [0, 1]); rows that read better
another way (pixels, corners) are reported in `Dataset.warnings`, never reinterpreted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from inspector.boxes import convert
from inspector.data.dataset import (
    IMAGE_SUFFIXES,
    Dataset,
    ImageEntry,
    check_box,
    entry_arrays,
    image_size,
    natural_key,
)
from inspector.data.format_checks import format_warnings
from inspector.errors import InspectorError

YAML_NAMES = ("data.yaml", "dataset.yaml", "data.yml")


def find_yaml(root: Path) -> Path | None:
    """The data.yaml describing the YOLO dataset at `root`, or None."""
    if root.is_file() and root.suffix in (".yaml", ".yml"):
        return root
    for name in YAML_NAMES:
        if (root / name).is_file():
            return root / name
    return None


def read_names(yaml_path: Path) -> tuple[str, ...]:
    """Class names from data.yaml: `names` as a list, or as a dict {id: name} with ids 0..n-1."""
    try:
        data = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = None if mark is None else mark.line + 1
        msg = f"broken YAML ({getattr(exc, 'problem', exc)})"
        raise InspectorError(msg, path=yaml_path, line=line) from exc
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, list):
        return tuple(str(n) for n in names)
    if isinstance(names, dict):
        try:
            by_id = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError) as exc:
            raise InspectorError(f"'names' keys must be integer class ids ({exc})", path=yaml_path) from exc
        if sorted(by_id) != list(range(len(by_id))):
            msg = f"'names' ids must be 0..{len(by_id) - 1}, got {sorted(by_id)}"
            raise InspectorError(msg, path=yaml_path)
        return tuple(by_id[i] for i in range(len(by_id)))
    raise InspectorError("no 'names' list or {id: name} mapping", path=yaml_path)


def label_path(image: Path) -> Path:
    """The label file of `image`: the last 'images' folder in its path swapped for 'labels', suffix .txt."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _image_files(root: Path) -> list[Path]:
    files = [
        p
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and "images" in p.parts[len(root.parts) :]
    ]
    return sorted(files, key=lambda p: natural_key(p.relative_to(root).as_posix()))


def _parse_label_file(
    path: Path,
    name: str,
    size: tuple[int, int],
    n_classes: int,
    skipped: list[str],
    written: list[tuple[str, list[float]]],
) -> tuple[np.ndarray, np.ndarray]:
    # `written` collects (file:line, [cx, cy, w, h]) of every box row as written, for the format checks.
    boxes, labels = [], []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        tokens = raw.split()
        if not tokens:
            continue
        where = f"{name}:{lineno}"
        try:
            cls_float = float(tokens[0])
            values = [float(t) for t in tokens[1:]]
        except ValueError:
            skipped.append(f"{where}: unparseable line {raw.strip()[:60]!r}")
            continue
        if cls_float != int(cls_float) or not 0 <= cls_float < n_classes:
            skipped.append(f"{where}: unknown class id {tokens[0]} (data.yaml names {n_classes} classes)")
            continue
        if len(values) == 4:
            written.append((where, values))
            xyxy = convert(np.array(values), "cxcywhn", "xyxy", size)
        elif len(values) >= 6 and len(values) % 2 == 0:
            # A segmentation polygon (x1 y1 x2 y2 …): its box is the polygon's extent.
            xs, ys = values[0::2], values[1::2]
            xyxy = convert(np.array([min(xs), min(ys), max(xs), max(ys)]), "xyxyn", "xyxy", size)
        else:
            skipped.append(f"{where}: expected 'class cx cy w h', got {len(tokens)} values")
            continue
        box, why = check_box(xyxy, size)
        if box is None:
            skipped.append(f"{where}: {why}")
            continue
        boxes.append(box)
        labels.append(int(cls_float))
    return entry_arrays(boxes, labels)


def read_yolo(path: str | Path) -> Dataset:
    """The Dataset in a YOLO folder: data.yaml (names), images/**, labels/** (cls cx cy w h, normalized)."""
    given = Path(path)
    yaml_path = find_yaml(given)
    if yaml_path is None:
        raise InspectorError(f"no {' / '.join(YAML_NAMES)} with class names", path=given)
    root = yaml_path.parent
    names = read_names(yaml_path)
    files = _image_files(root)
    if not files:
        raise InspectorError("no images under an 'images' folder", path=root)

    skipped: list[str] = []
    written: list[tuple[str, list[float]]] = []
    written_sizes: list[tuple[int, int]] = []
    entries = []
    for file in files:
        try:
            size = image_size(file)
        except (
            InspectorError
        ) as exc:  # one unreadable image (a decompression bomb, a truncated file) costs itself
            skipped.append(f"{file.relative_to(root).as_posix()}: {exc.reason}")
            continue
        labels_file = label_path(file)
        if labels_file.is_file():
            name = labels_file.relative_to(root).as_posix()
            before = len(written)
            boxes, labels = _parse_label_file(labels_file, name, size, len(names), skipped, written)
            written_sizes += [size] * (len(written) - before)
        else:  # YOLO's convention: an image without a label file is a background image
            boxes, labels = entry_arrays([], [])
        image_id = file.relative_to(root).with_suffix("").as_posix()
        entries.append(ImageEntry(image_id, file, size, boxes, labels))
    # A label file whose image is gone is an annotation nobody will see: report it, do not drop it quietly.
    have = {label_path(f) for f in files}
    txts = (p for p in root.rglob("*.txt") if "labels" in p.parts[len(root.parts) :])
    for orphan in sorted(p for p in txts if p not in have):
        skipped.append(f"{orphan.relative_to(root).as_posix()}: label file without an image")
    where = [w for w, _ in written]
    numbers = np.reshape([v for _, v in written], (-1, 4))
    warnings = format_warnings(
        numbers,
        np.reshape(written_sizes, (-1, 2)),
        "cxcywhn",
        where,
        [w.rpartition(":")[0] for w in where],
        "YOLO",
    )
    return Dataset(
        root=root,
        format="yolo",
        class_names=names,
        images=tuple(entries),
        skipped=tuple(skipped),
        warnings=warnings,
    )
