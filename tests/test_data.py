"""Synthetic shapes and the dataset readers (COCO, YOLO, video samples), on real files in tmp_path."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inspector.data import detect_format, read_dataset
from inspector.data.dataset import image_size, load_rgb
from inspector.data.shapes import CLASSES, make_clip, make_image, write_coco_dataset, write_video_samples
from inspector.errors import InspectorError


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------- synthetic shapes ----------


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    write_coco_dataset(tmp_path / "a", 6, seed=3)
    write_coco_dataset(tmp_path / "b", 6, seed=3)
    write_coco_dataset(tmp_path / "c", 6, seed=4)
    a, b, c = (_tree_bytes(tmp_path / x) for x in "abc")
    assert a == b
    assert a["annotations.json"] != c["annotations.json"]
    assert a["images/000000.jpg"] != c["images/000000.jpg"]


def test_video_samples_deterministic(tmp_path):
    write_video_samples(tmp_path / "a", 2, seed=1)
    write_video_samples(tmp_path / "b", 2, seed=1)
    assert _tree_bytes(tmp_path / "a") == _tree_bytes(tmp_path / "b")


def test_images_cover_every_class_and_boxes_lie_inside():
    seen = set()
    for i in range(40):
        s = make_image(5, i, anchor_class=i % len(CLASSES))
        assert s.image.shape == (128, 128, 3) and s.image.dtype == np.uint8
        assert 1 <= len(s.boxes) <= 4
        assert (s.boxes[:, :2] >= 0).all() and (s.boxes[:, 2:] <= 128).all()
        assert (s.boxes[:, 2:] > s.boxes[:, :2]).all()
        seen.update(s.labels.tolist())
    assert seen == set(range(len(CLASSES)))
    assert len(CLASSES) >= 8


def test_box_is_tight_around_a_lone_object():
    # The anchor object is drawn last, so nothing hides it: its box spans 8–60 % of the side.
    sizes = []
    for i in range(30):
        s = make_image(9, i)
        b = s.boxes[-1]
        sizes.append(max(b[2] - b[0], b[3] - b[1]) / 128)
    assert 0.04 <= min(sizes) and max(sizes) <= 0.62


def test_clip_target_leaves_and_reenters():
    for index in range(4):
        clip, kind, photos = make_clip(2, index)
        present = [len(f.boxes) == 1 for f in clip.frames]
        assert 12 <= len(present) <= 24
        assert present[0], "the target starts in view"
        gone = present.index(False)
        assert any(present[gone:]), "it comes back after leaving"
        assert all(f.labels.tolist() == [kind] * len(f.boxes) for f in clip.frames)
        assert len(photos) == 3


def test_demo_sized_dataset_is_small(tmp_path):
    write_coco_dataset(tmp_path / "val", 80, seed=0)
    write_video_samples(tmp_path / "clips", 4, seed=0)
    total = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert total < 5 * 2**20


# ---------- COCO ----------


def test_coco_round_trip(tmp_path):
    write_coco_dataset(tmp_path, 12, seed=0)
    ds = read_dataset(tmp_path)
    assert ds.format == "coco" and ds.class_names == CLASSES
    assert len(ds.images) == 12 and ds.skipped == ()
    for entry in ds.images:
        assert entry.size == (128, 128)
        assert entry.load().shape == (128, 128, 3)
    # boxes and labels survive xyxy → xywh → xyxy exactly
    data = json.loads((tmp_path / "annotations.json").read_text())
    first = [a for a in data["annotations"] if a["image_id"] == 1]
    x, y, w, h = first[0]["bbox"]
    np.testing.assert_allclose(ds.images[0].boxes[0], [x, y, x + w, y + h])
    assert ds.images[0].labels[0] == first[0]["category_id"] - 1


def _coco(tmp_path: Path, annotations: list[dict], images: list[dict] | None = None) -> Path:
    (tmp_path / "images").mkdir(exist_ok=True)
    Image.new("RGB", (100, 50)).save(tmp_path / "images" / "a.png")
    images = images or [{"id": 1, "file_name": "a.png", "width": 100, "height": 50}]
    doc = {"images": images, "annotations": annotations, "categories": [{"id": 7, "name": "cat"}]}
    (tmp_path / "annotations.json").write_text(json.dumps(doc))
    return tmp_path


def _ann(aid: int, bbox, category_id: int = 7) -> dict:
    return {"id": aid, "image_id": 1, "category_id": category_id, "bbox": bbox, "iscrowd": 0}


def test_coco_malformed_annotations_are_counted_skips(tmp_path):
    root = _coco(
        tmp_path,
        [
            _ann(1, [10, 10, 20, 20]),  # fine
            _ann(2, [90, 40, 20, 20]),  # only 10x10 of 20x20 inside (25 %) → skipped
            _ann(3, [95, 10, 10, 10]),  # half inside → clipped to the border
            _ann(4, [10, 10, -5, 5]),  # negative size
            _ann(5, [10, 10, 5, 5], category_id=99),  # unknown class
            _ann(6, "oops"),  # not a box
        ],
    )
    ds = read_dataset(root)
    assert ds.class_names == ("cat",)
    np.testing.assert_allclose(ds.images[0].boxes, [[10, 10, 30, 30], [95, 10, 100, 20]])
    assert len(ds.skipped) == 4
    joined = "\n".join(ds.skipped)
    reasons = [(2, "mostly outside"), (4, "non-positive"), (5, "unknown category_id"), (6, "four numbers")]
    for aid, word in reasons:
        assert f"annotation {aid}: " in joined and word in joined


def test_coco_missing_image_is_skipped_but_all_missing_is_an_error(tmp_path):
    images = [
        {"id": 1, "file_name": "a.png", "width": 100, "height": 50},
        {"id": 2, "file_name": "gone.png", "width": 100, "height": 50},
    ]
    ds = read_dataset(_coco(tmp_path, [_ann(1, [1, 1, 5, 5])], images))
    assert len(ds.images) == 1 and "gone.png" in ds.skipped[0] and "not found" in ds.skipped[0]
    (tmp_path / "images" / "a.png").unlink()
    with pytest.raises(InspectorError, match="none of the 2 images"):
        read_dataset(tmp_path)


def test_coco_size_mismatch_is_not_trusted(tmp_path):
    images = [{"id": 1, "file_name": "a.png", "width": 200, "height": 50}]
    ds = read_dataset(_coco(tmp_path, [_ann(1, [1, 1, 5, 5])], images))
    assert ds.images == () and "200x50" in ds.skipped[0]


def test_coco_broken_json_names_file_and_line(tmp_path):
    path = tmp_path / "annotations.json"
    path.write_text('{"images": [],\n "annotations": [,\n')
    with pytest.raises(InspectorError) as err:
        read_dataset(tmp_path, format="coco")
    assert err.value.path == str(path) and err.value.line == 2


def test_coco_missing_section_is_an_error(tmp_path):
    (tmp_path / "annotations.json").write_text('{"images": [], "annotations": []}')
    with pytest.raises(InspectorError, match="categories"):
        read_dataset(tmp_path, format="coco")


# ---------- YOLO ----------


def _yolo(tmp_path: Path, names_yaml: str, lines: list[str]) -> Path:
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train").mkdir(parents=True)
    Image.new("RGB", (200, 100)).save(tmp_path / "images" / "train" / "x.jpg")
    Image.new("RGB", (200, 100)).save(tmp_path / "images" / "train" / "background.jpg")
    (tmp_path / "labels" / "train" / "x.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "data.yaml").write_text(names_yaml)
    return tmp_path


@pytest.mark.parametrize("names_yaml", ["names: [cat, dog]\n", "names:\n  0: cat\n  1: dog\n"])
def test_yolo_reads_both_name_styles(tmp_path, names_yaml):
    ds = read_dataset(_yolo(tmp_path, names_yaml, ["1 0.5 0.5 0.2 0.4", "0 0.1 0.1 0.1 0.1"]))
    assert ds.format == "yolo" and ds.class_names == ("cat", "dog")
    by_id = {e.image_id: e for e in ds.images}
    assert set(by_id) == {"images/train/x", "images/train/background"}
    x = by_id["images/train/x"]
    np.testing.assert_allclose(x.boxes, [[80, 30, 120, 70], [10, 5, 30, 15]])
    assert x.labels.tolist() == [1, 0]
    assert len(by_id["images/train/background"].boxes) == 0
    assert ds.skipped == ()


def test_yolo_label_without_image_is_reported(tmp_path):
    root = _yolo(tmp_path, "names: [cat]\n", ["0 0.5 0.5 0.2 0.2"])
    (root / "images" / "train" / "x.jpg").unlink()
    ds = read_dataset(root)
    assert [e.image_id for e in ds.images] == ["images/train/background"]
    assert ds.skipped == ("labels/train/x.txt: label file without an image",)


def test_yolo_malformed_lines_are_counted_skips_naming_file_and_line(tmp_path):
    lines = [
        "0 0.5 0.5 0.2 0.2",  # fine
        "5 0.5 0.5 0.2 0.2",  # unknown class
        "0 abc 0.5 0.2 0.2",  # unparseable
        "0 1.6 0.5 0.4 0.4",  # mostly outside
        "0 0.5 0.5 -0.2 0.2",  # negative size
        "0 0.5 0.5",  # too few values
        "1 0.1 0.1 0.3 0.1 0.3 0.3",  # a polygon → its extent
    ]
    ds = read_dataset(_yolo(tmp_path, "names: [cat, dog]\n", lines))
    x = next(e for e in ds.images if e.image_id.endswith("x"))
    np.testing.assert_allclose(x.boxes, [[80, 40, 120, 60], [20, 10, 60, 30]])
    assert len(ds.skipped) == 5
    reasons = [(2, "unknown class"), (3, "unparseable"), (4, "outside"), (5, "non-positive"), (6, "expected")]
    for line, word in reasons:
        prefix = f"labels/train/x.txt:{line}: "
        assert any(s.startswith(prefix) and word in s for s in ds.skipped), (line, ds.skipped)


def test_yolo_without_names_is_an_error(tmp_path):
    with pytest.raises(InspectorError, match="names"):
        read_dataset(_yolo(tmp_path, "nc: 2\n", []), format="yolo")


# ---------- video samples ----------


def test_video_samples_round_trip(tmp_path):
    folders = write_video_samples(tmp_path, 3, seed=0)
    assert detect_format(tmp_path) == "video"
    ds = read_dataset(tmp_path)
    assert ds.format == "video" and len(ds.clips) == 3 and ds.skipped == ()
    for folder in folders:
        clip = next(c for c in ds.clips if c.clip_id == folder.name)
        doc = json.loads((folder / "annotations.json").read_text())
        assert ds.class_names[clip.label] == doc["class"]
        assert len(clip.object_images) == 3
        with_box = [i for i, f in enumerate(clip.frames) if len(f.boxes)]
        assert with_box == [r["frame"] for r in doc["bboxes"]]
        assert len(with_box) < len(clip.frames)  # the target leaves the view
        loaded = clip.load(way=0)
        assert all(f.labels.tolist() == [0] * len(f.boxes) for f in loaded.frames)


def test_video_root_annotations_and_malformed_boxes(tmp_path):
    sample = tmp_path / "Backpack_0"
    (sample / "object_images").mkdir(parents=True)
    (sample / "frames").mkdir()
    Image.new("RGB", (20, 20)).save(sample / "object_images" / "img_1.jpg")
    for t in range(3):
        Image.new("RGB", (64, 48)).save(sample / "frames" / f"frame_{t}.jpg")
    boxes = [
        {"frame": 0, "x1": 1, "y1": 2, "x2": 11, "y2": 12},
        {"frame": 7, "x1": 1, "y1": 2, "x2": 11, "y2": 12},  # no such frame
        {"frame": 1, "x1": 10, "y1": 2, "x2": 5, "y2": 12},  # negative width
    ]
    doc = [{"video_id": "Backpack_0", "annotations": [{"bboxes": boxes}]}]
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "annotations.json").write_text(json.dumps(doc))
    ds = read_dataset(tmp_path)
    assert ds.class_names == ("Backpack",)
    assert [len(f.boxes) for f in ds.clips[0].frames] == [1, 0, 0]
    assert len(ds.skipped) == 2 and "frame 7 does not exist" in ds.skipped[0]


def test_video_file_without_pyav_names_it(tmp_path):
    sample = tmp_path / "car_0"
    (sample / "object_images").mkdir(parents=True)
    Image.new("RGB", (20, 20)).save(sample / "object_images" / "img_1.jpg")
    (sample / "drone_video.mp4").write_bytes(b"\x00")
    (sample / "annotations.json").write_text("[]")
    try:
        import av  # noqa: F401
    except ImportError:
        with pytest.raises(InspectorError, match="PyAV"):
            read_dataset(tmp_path)
    else:
        pytest.skip("PyAV is installed here")


# ---------- detection and hashing ----------


def test_read_dataset_rejects_unknown_folders(tmp_path):
    with pytest.raises(InspectorError, match="not a dataset"):
        read_dataset(tmp_path)
    with pytest.raises(InspectorError, match="no such"):
        read_dataset(tmp_path / "nope")


def test_content_hash_stable_across_copies_and_sensitive_to_boxes(tmp_path):
    write_coco_dataset(tmp_path / "a", 4, seed=0)
    write_coco_dataset(tmp_path / "b", 4, seed=0)
    ha, hb = read_dataset(tmp_path / "a").content_hash(), read_dataset(tmp_path / "b").content_hash()
    assert ha == hb
    path = tmp_path / "b" / "annotations.json"
    doc = json.loads(path.read_text())
    doc["annotations"][0]["bbox"][0] += 1
    path.write_text(json.dumps(doc))
    assert read_dataset(tmp_path / "b").content_hash() != ha


# ---------- hostile and broken images ----------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _blank_1bit_png(path: Path, width: int, height: int) -> Path:
    """A valid all-black 1-bit PNG written row by row: 20000² is 48 kB on disk and 1.2 GB decoded as RGB."""
    packer = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the packed bits
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )
    return path


def test_decompression_bomb_png_is_refused_naming_the_image(tmp_path):
    write_coco_dataset(tmp_path / "d", 3, seed=0)
    bomb = _blank_1bit_png(tmp_path / "d" / "images" / "000001.jpg", 20000, 20000)
    assert bomb.stat().st_size < 100_000
    data = read_dataset(tmp_path / "d")  # the reader reads every image's header: the bomb is skipped, named
    assert len(data.images) == 2
    assert any("000001.jpg" in s and "too large to decode safely" in s for s in data.skipped), data.skipped
    with pytest.raises(InspectorError, match="000001.jpg: the image is too large"):
        load_rgb(bomb)


def test_pixel_limit_is_checked_before_decoding_and_configurable(tmp_path, monkeypatch):
    path = _blank_1bit_png(tmp_path / "wide.png", 200, 100)
    assert image_size(path) == (100, 200) and load_rgb(path).shape == (100, 200, 3)
    monkeypatch.setenv("INSPECTOR_MAX_IMAGE_PIXELS", "10000")
    for read in (image_size, load_rgb):
        with pytest.raises(InspectorError) as err:
            read(path)
        assert str(path) in str(err.value) and "200x100" in str(err.value)
        assert "INSPECTOR_MAX_IMAGE_PIXELS" in str(err.value)


def test_truncated_and_corrupt_images_name_the_image(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "ok.png")
    Image.fromarray(pixels).save(tmp_path / "ok.jpg")
    png, jpg = (tmp_path / "ok.png").read_bytes(), (tmp_path / "ok.jpg").read_bytes()
    flipped = bytearray(png)
    flipped[png.index(b"IDAT") + 10] ^= 0xFF
    broken = {
        "half.png": png[: len(png) // 2],
        "half.jpg": jpg[: len(jpg) // 2],
        "flipped.png": bytes(flipped),
        "garbage.png": b"\x89PNG\r\n\x1a\n" + b"garbage" * 10,
        "empty.jpg": b"",
        "header.png": png[:40],
    }
    for name, data in broken.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InspectorError) as err:
            load_rgb(tmp_path / name)
        assert str(tmp_path / name) in str(err.value) and "truncated or corrupt" in str(err.value), name


def test_yolo_dataset_keeps_its_good_images_around_a_bomb(tmp_path):
    root = _yolo(tmp_path, "names: [cat, dog]\n", ["1 0.5 0.5 0.2 0.4"])
    _blank_1bit_png(root / "images" / "train" / "bomb.png", 20000, 20000)
    data = read_dataset(root)
    assert sorted(e.path.name for e in data.images) == ["background.jpg", "x.jpg"]
    assert any(s.startswith("images/train/bomb.png:") and "too large" in s for s in data.skipped), (
        data.skipped
    )


# ---------- box-format warnings (inspector/data/format_checks.py) ----------
# Each format's definition: COCO bbox [x, y, width, height] from the top-left corner in pixels; YOLO rows
# `class cx cy w h` normalised to [0, 1]. A file written another way is read as claimed, and warned about.

# Corners [x1, y1, x2, y2] on the 100x50 image of _coco: read as [x, y, w, h], boxes 1-3 pass the right edge
# (x1 + x2 > 100) and box 5 the bottom one (y1 + y2 > 50); box 4 stays inside either way.
CORNERS = [[60, 10, 90, 40], [70, 5, 95, 20], [55, 20, 80, 45], [5, 5, 20, 15], [10, 30, 30, 45]]


def _coco_boxes(tmp_path: Path, bboxes: list[list[float]]) -> Path:
    return _coco(tmp_path, [_ann(i + 1, b) for i, b in enumerate(bboxes)])


def test_a_correct_coco_file_has_no_format_warning(tmp_path):
    write_coco_dataset(tmp_path / "shapes", 30, seed=1)  # objects anywhere, some cut by the image edge
    assert read_dataset(tmp_path / "shapes").warnings == ()
    xywh = [[x1, y1, x2 - x1, y2 - y1] for x1, y1, x2, y2 in CORNERS]
    (tmp_path / "by_hand").mkdir()
    assert read_dataset(_coco_boxes(tmp_path / "by_hand", xywh)).warnings == ()


def test_coco_corners_are_read_as_xywh_and_warned_about(tmp_path):
    ds = read_dataset(_coco_boxes(tmp_path, CORNERS))
    assert len(ds.images[0].boxes) + len(ds.skipped) == 5  # read as claimed (clipped or skipped), not refused
    (w,) = ds.warnings
    assert (w.file, w.claimed, w.fits) == ("annotations.json", "xywh", "xyxy")
    assert (w.count, w.total, w.contradicted) == (4, 5, 0)
    assert w.examples == ("annotation 1", "annotation 2", "annotation 3")
    assert w.message.startswith("annotations.json: 4 of 5 boxes") and "Read as xyxy" in w.message
    assert "x + width or y + height past the image edge" in w.message


def test_normalised_coco_boxes_are_warned_about(tmp_path):
    write_coco_dataset(tmp_path, 12, seed=0)
    path = tmp_path / "annotations.json"
    doc = json.loads(path.read_text())
    for ann in doc["annotations"]:  # 128x128 images: fractions of the side
        ann["bbox"] = [v / 128 for v in ann["bbox"]]
    path.write_text(json.dumps(doc))
    ds = read_dataset(tmp_path)
    n = len(doc["annotations"])
    assert ds.n_boxes == n  # a sub-pixel box at the corner is a valid box to the reader: the warning says why
    (w,) = ds.warnings
    assert (w.file, w.fits, w.count, w.total, w.contradicted) == ("annotations.json", "xywhn", n, n, 0)
    assert f"{n} of {n} boxes" in w.message and "fractions of the image" in w.message


def test_normalised_coco_corners_name_that_reading(tmp_path):
    fractions = [[x1 / 100, y1 / 50, x2 / 100, y2 / 50] for x1, y1, x2, y2 in CORNERS]
    ds = read_dataset(_coco_boxes(tmp_path, fractions))
    assert [(w.fits, w.count) for w in ds.warnings] == [("xyxyn", 5)]


def test_one_box_over_the_edge_is_a_slip_not_a_format(tmp_path):
    # Box 1 passes the right edge as [x, y, w, h] and is no corner box either (x2 = 30 < x1 = 80): one odd
    # box of five is below MIN_EVIDENCE_BOXES, so the reader skips it and says nothing about the format.
    ds = read_dataset(
        _coco_boxes(
            tmp_path, [[80, 10, 30, 10], [10, 10, 20, 20], [40, 5, 10, 30], [60, 20, 20, 20], [5, 30, 50, 15]]
        )
    )
    assert ds.warnings == () and len(ds.images[0].boxes) == 5  # half inside: clipped, kept


def _yolo_rows(tmp_path: Path, rows: list[str]) -> Path:
    return _yolo(tmp_path, "names: [cat, dog]\n", rows)  # x.jpg is 200x100


def test_a_correct_yolo_folder_has_no_format_warning(tmp_path):
    ds = read_dataset(_yolo_rows(tmp_path, ["1 0.5 0.5 0.2 0.4", "0 0.1 0.1 0.1 0.1", "0 0.9 0.8 0.2 0.4"]))
    assert ds.warnings == ()


def test_yolo_rows_in_pixels_are_warned_about(tmp_path):
    rows = ["0 100 50 40 20", "1 30 20 20 10", "0 150 70 30 30"]  # cx cy w h in pixels of 200x100
    ds = read_dataset(_yolo_rows(tmp_path, rows))
    assert ds.n_boxes == 0 and len(ds.skipped) == 3  # scaled by the size, they fall outside: skipped
    (w,) = ds.warnings
    assert (w.file, w.claimed, w.fits, w.count, w.total) == ("labels/train/x.txt", "cxcywhn", "cxcywh", 3, 3)
    assert w.examples == ("labels/train/x.txt:1", "labels/train/x.txt:2", "labels/train/x.txt:3")
    assert "3 with a number above 1" in w.message


def test_yolo_rows_whose_centre_and_half_size_leave_the_image_are_warned_about(tmp_path):
    # [x, y, w, h] from the top-left corner, normalised: read as centre ± half size, rows 1-3 leave [0, 1].
    rows = ["0 0.05 0.1 0.3 0.2", "0 0.1 0.05 0.2 0.4", "1 0.02 0.5 0.3 0.3", "1 0.5 0.5 0.2 0.2"]
    ds = read_dataset(_yolo_rows(tmp_path, rows))
    (w,) = ds.warnings
    assert (w.fits, w.count, w.total, w.contradicted) == ("xywhn", 3, 4, 0)
    assert "centre ± half size outside the image" in w.message


def test_warnings_over_several_label_files_name_their_folder(tmp_path):
    root = _yolo_rows(tmp_path, ["0 100 50 40 20"])
    Image.new("RGB", (200, 100)).save(root / "images" / "train" / "y.jpg")
    (root / "labels" / "train" / "y.txt").write_text("0 50 40 30 20\n1 120 60 20 20\n")
    (w,) = read_dataset(root).warnings
    assert w.file == "labels/train/ (2 files)" and w.count == 3


def test_video_samples_have_no_format_warnings(tmp_path):
    write_video_samples(tmp_path, 2, seed=0)
    assert read_dataset(tmp_path).warnings == ()
