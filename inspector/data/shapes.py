"""Synthetic "shapes": coloured geometric objects on textured backgrounds, deterministic by seed.

Small enough to train a few-shot detector on two CPU cores in minutes, varied enough that it has
to learn shape rather than colour: every class appears in every colour, at 8–60 % of the image
side, rotated, partly occluded or cut by the border, among distractor blobs and lines.

Boxes are the *visible* extent of an object (as COCO draws them): the tight box around the
pixels left after occlusion by objects drawn later and clipping by the border. An object less
than `MIN_VISIBLE` visible gets no box and stays in the picture as clutter — as unlabelled as a
hidden object is in a real dataset.

Everything random comes from numpy Generators seeded with (seed, index), so image i of seed s is
the same bytes on every machine with the same Pillow; Pillow only draws.
"""

from __future__ import annotations

import colorsys
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from inspector.boxes import convert
from inspector.data.records import Clip, Sample

CLASSES = ("circle", "square", "triangle", "star", "cross", "hexagon", "ring", "diamond", "crescent", "arrow")
MIN_VISIBLE = 0.5  # fraction of a shape's area that must show for it to be a target (the brief's "~50 %")
SCALE_RANGE = (0.08, 0.60)  # shape diameter as a fraction of the image side
EASY_MIN_SCALE = (
    0.25  # clutter=False: smallest shape, a quarter of the side (≥ 4 cells of stride 8 at 128 px)
)
SUPERSAMPLE = 2  # masks are drawn at 2x and box-filtered down: anti-aliased edges at little cost
CLIP_FRAMES = (12, 24)  # inclusive range of frames per clip
OBJECT_IMAGE_SIZE = 64  # side of a reference photo of a clip's target
OBJECT_IMAGES_PER_SAMPLE = 3


def _regular(n: int, radius: float = 1.0, start: float = math.pi / 2) -> list[tuple[float, float]]:
    angles = [start + 2 * math.pi * k / n for k in range(n)]
    return [(radius * math.cos(a), radius * math.sin(a)) for a in angles]


def _star() -> list[tuple[float, float]]:
    return [
        (r * math.cos(math.pi / 2 + math.pi * k / 5), r * math.sin(math.pi / 2 + math.pi * k / 5))
        for k, r in zip(range(10), [1.0, 0.42] * 5, strict=True)
    ]


_ARM = 0.33
# Each shape is polygons in unit coordinates (radius 1), each painted (True) or cut out (False), in order.
POLYGONS: dict[str, list[tuple[list[tuple[float, float]], bool]]] = {
    "circle": [(_regular(48), True)],
    "square": [(_regular(4, start=math.pi / 4), True)],
    "triangle": [(_regular(3), True)],
    "star": [(_star(), True)],
    "cross": [
        (
            [
                (-_ARM, -1),
                (_ARM, -1),
                (_ARM, -_ARM),
                (1, -_ARM),
                (1, _ARM),
                (_ARM, _ARM),
                (_ARM, 1),
                (-_ARM, 1),
                (-_ARM, _ARM),
                (-1, _ARM),
                (-1, -_ARM),
                (-_ARM, -_ARM),
            ],
            True,
        )
    ],
    "hexagon": [(_regular(6), True)],
    "ring": [(_regular(48), True), (_regular(48, 0.55), False)],
    "diamond": [([(0, 1), (0.55, 0), (0, -1), (-0.55, 0)], True)],
    "crescent": [(_regular(48), True), ([(x + 0.45, y) for x, y in _regular(48, 0.85)], False)],
    "arrow": [([(-1, -0.25), (0.2, -0.25), (0.2, -0.7), (1, 0), (0.2, 0.7), (0.2, 0.25), (-1, 0.25)], True)],
}
assert set(POLYGONS) == set(CLASSES)


def shape_alpha(
    kind: str, center: tuple[float, float], radius: float, angle: float, size: int, pad: int
) -> np.ndarray:
    """Coverage (size + 2 pad, size + 2 pad) float32 in [0, 1] of one shape.

    The image proper sits at [pad:pad + size]; the margin keeps the part outside the border, so
    the whole shape's area is known even where it is cut off.
    """
    s = SUPERSAMPLE
    side = (size + 2 * pad) * s
    canvas = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(canvas)
    cos, sin = math.cos(angle), math.sin(angle)
    cx, cy = (center[0] + pad) * s, (center[1] + pad) * s
    for points, painted in POLYGONS[kind]:
        r = radius * s
        xy = [(cx + r * (x * cos - y * sin), cy - r * (x * sin + y * cos)) for x, y in points]
        draw.polygon(xy, fill=255 if painted else 0)
    small = canvas.resize((size + 2 * pad, size + 2 * pad), Image.Resampling.BOX)
    return np.asarray(small, np.float32) / 255.0


def _colour(rng: np.random.Generator) -> np.ndarray:
    """A saturated colour, (3,) float in 0..255."""
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.45, 1.0), rng.uniform(0.35, 1.0))
    return np.array([r, g, b]) * 255.0


def _background(rng: np.random.Generator, size: int, clutter: bool = True) -> np.ndarray:
    """A textured background (size, size, 3) float: gradient + blotches, then blobs + lines when `clutter`."""
    c0, c1 = rng.uniform(30, 225, (2, 3))
    theta = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    t = (xx * math.cos(theta) + yy * math.sin(theta) + 1.5) / 3.0
    img = c0 + (c1 - c0) * t[..., None]
    # Low-frequency blotches: coarse noise upsampled smoothly, so texture is not per-pixel only.
    coarse = rng.normal(0, 1, (6, 6, 3)).astype(np.float32)
    blotch = np.stack(
        [
            np.asarray(Image.fromarray(coarse[..., c]).resize((size, size), Image.Resampling.BICUBIC))
            for c in range(3)
        ],
        axis=-1,
    )
    img = img + rng.uniform(5, 25) * blotch
    if not clutter:
        return np.clip(img, 0, 255).astype(np.uint8).astype(np.float32)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(1, 4)):  # irregular blobs, blurred: clutter that is no class
        n = int(rng.integers(7, 13))
        cx, cy = rng.uniform(0, size, 2)
        radii = rng.uniform(0.05, 0.18) * size * rng.uniform(0.5, 1.4, n)
        angles = np.sort(rng.uniform(0, 2 * math.pi, n))
        blob = Image.new("L", (size, size), 0)
        outline = [(cx + r * math.cos(a), cy + r * math.sin(a)) for r, a in zip(radii, angles, strict=True)]
        ImageDraw.Draw(blob).polygon(outline, fill=int(rng.integers(90, 200)))
        blob = blob.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 3.0)))
        canvas.paste(tuple(int(v) for v in _colour(rng)), (0, 0), blob)
    for _ in range(rng.integers(1, 5)):
        x0, y0, x1, y1 = rng.uniform(-0.1, 1.1, 4) * size
        colour = tuple(int(v) for v in _colour(rng))
        draw.line([(x0, y0), (x1, y1)], fill=colour, width=int(rng.integers(1, 4)))
    return np.asarray(canvas, np.float32)


def _paint(img: np.ndarray, alpha: np.ndarray, colour: np.ndarray, rng: np.random.Generator) -> None:
    """Composite a shape of coverage `alpha` (size, size) onto img in place, with a light shading ramp."""
    size = img.shape[0]
    theta = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:size, 0:size] / size
    shade = rng.uniform(10, 35) * ((xx * math.cos(theta) + yy * math.sin(theta)) - 0.5)
    fill = np.clip(colour + shade[..., None], 0, 255)
    img *= 1 - alpha[..., None]
    img += alpha[..., None] * fill


def _finish(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise over everything, then uint8."""
    noisy = img + rng.normal(0, rng.uniform(2, 9), img.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _visible_box(visible: np.ndarray, full_area: float) -> np.ndarray | None:
    """xyxy box of the visible pixels when at least MIN_VISIBLE of the shape shows, else None."""
    if full_area <= 0 or visible.sum() < MIN_VISIBLE * full_area:
        return None
    ys, xs = np.nonzero(visible > 0.5)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def make_image(
    seed: int, index: int, image_size: int = 128, anchor_class: int | None = None, clutter: bool = True
) -> Sample:
    """Synthetic image `index` of `seed`: 1–4 shapes; labels index CLASSES.

    `anchor_class` forces the top-most, fully visible object's class (writers use it to cover
    every class); otherwise it is drawn at random like the rest. `clutter=False` makes an easier
    image (the bundled demo's, so a CPU-trained detector reaches useful mAP in minutes): 1–2 shapes
    of at least EASY_MIN_SCALE, no distractor blobs or lines.
    """
    rng = np.random.default_rng([seed, index])
    size = image_size
    pad = int(math.ceil(SCALE_RANGE[1] * size / 2)) + 2
    img = _background(rng, size, clutter)
    n = int(rng.integers(1, 5 if clutter else 3))
    scale_range = SCALE_RANGE if clutter else (EASY_MIN_SCALE, SCALE_RANGE[1])
    kinds = rng.integers(len(CLASSES), size=n)
    if anchor_class is not None:
        kinds[-1] = anchor_class
    alphas, areas = [], []
    for k in range(n):
        radius = rng.uniform(*scale_range) * size / 2
        if k == n - 1:  # the top object lies fully inside, so every image has a target
            center = rng.uniform(radius, size - radius, 2)
        else:
            center = rng.uniform(0, size, 2)
        angle = rng.uniform(0, 2 * math.pi)
        a = shape_alpha(CLASSES[kinds[k]], (center[0], center[1]), radius, angle, size, pad)
        areas.append(float(a.sum()))
        alphas.append(a[pad : pad + size, pad : pad + size])
        colour = _colour(rng)
        for _ in range(4):  # re-draw a colour that would vanish into the background under it
            under = img[alphas[-1] > 0.5]
            if len(under) == 0 or np.abs(under.mean(0) - colour).sum() > 90:
                break
            colour = _colour(rng)
        _paint(img, alphas[-1], colour, rng)
    boxes, labels = [], []
    cover = np.zeros((size, size), np.float32)
    for k in range(n - 1, -1, -1):  # top-down: what lies above k hides it
        box = _visible_box(alphas[k] * (1 - cover), areas[k])
        cover = np.maximum(cover, alphas[k])
        if box is not None:
            boxes.append(box)
            labels.append(int(kinds[k]))
    return Sample(
        image_id=f"shapes-{seed}-{index}",
        image=_finish(img, rng),
        boxes=np.asarray(boxes[::-1], np.float32).reshape(-1, 4),
        labels=np.asarray(labels[::-1], np.int64),
    )


def make_clip(
    seed: int, index: int, image_size: int = 128, target_class: int | None = None
) -> tuple[Clip, int, list[np.ndarray]]:
    """(clip, target class, reference photos) for clip `index` of `seed`.

    One target sweeps through the view along a random direction, leaves it, comes back, leaves on
    the other side and returns; frames where less than MIN_VISIBLE of it shows have no box.
    Zero to two other shapes sit still as distractors. Frame labels index CLASSES.
    """
    rng = np.random.default_rng([seed, 1_000_003, index])  # a stream apart from make_image's
    size = image_size
    pad = size
    kind = int(rng.integers(len(CLASSES))) if target_class is None else target_class
    n_frames = int(rng.integers(CLIP_FRAMES[0], CLIP_FRAMES[1] + 1))
    background = _background(rng, size)
    for _ in range(int(rng.integers(0, 3))):
        other = int(rng.choice([c for c in range(len(CLASSES)) if c != kind]))
        radius = rng.uniform(0.08, 0.25) * size / 2
        where = tuple(rng.uniform(0, size, 2))
        a = shape_alpha(CLASSES[other], where, radius, rng.uniform(0, 2 * math.pi), size, 0)
        _paint(background, a, _colour(rng), rng)

    colour = _colour(rng)
    radius = rng.uniform(0.15, 0.35) * size / 2
    direction = rng.uniform(0, 2 * math.pi)
    d = np.array([math.cos(direction), math.sin(direction)])
    centre = size / 2 + rng.uniform(-0.1, 0.1, 2) * size
    # Half a diagonal (0.71 side) plus the radius past the centre is outside whatever the direction.
    amplitude = 0.75 * size + radius
    angle0, spin = rng.uniform(0, 2 * math.pi), rng.uniform(-0.2, 0.2)
    frames = []
    for t in range(n_frames):
        phase = 2 * math.pi * t / n_frames
        pos = centre + d * amplitude * math.sin(phase)
        full = shape_alpha(CLASSES[kind], (pos[0], pos[1]), radius, angle0 + spin * t, size, pad)
        alpha = full[pad : pad + size, pad : pad + size]
        img = background.copy()
        _paint(img, alpha, colour, np.random.default_rng([seed, 1_000_003, index, t]))
        box = _visible_box(alpha, float(full.sum()))
        boxes = np.zeros((0, 4), np.float32) if box is None else box[None]
        frames.append(
            Sample(
                image_id=f"shapes-clip-{seed}-{index}/{t}",
                image=_finish(img, np.random.default_rng([seed, 2_000_003, index, t])),
                boxes=boxes,
                labels=np.full(len(boxes), kind, np.int64),
            )
        )
    photos = []
    for _ in range(OBJECT_IMAGES_PER_SAMPLE):
        s = OBJECT_IMAGE_SIZE
        img = _background(rng, s)
        r = rng.uniform(0.36, 0.46) * s
        a = shape_alpha(CLASSES[kind], (s / 2, s / 2), r, rng.uniform(0, 2 * math.pi), s, 0)
        _paint(img, a, colour, rng)
        photos.append(_finish(img, rng))
    return Clip(clip_id=f"shapes-clip-{seed}-{index}", frames=tuple(frames)), kind, photos


def _save(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        # Fixed quality and no optimiser passes: identical bytes for identical pixels.
        Image.fromarray(image).save(path, quality=92, subsampling=0)
    else:
        Image.fromarray(image).save(path, compress_level=6)


def write_coco_dataset(
    root: str | Path,
    n_images: int,
    seed: int,
    image_size: int = 128,
    image_format: str = "jpg",
    clutter: bool = True,
) -> Path:
    """Path of annotations.json after writing `n_images` shapes images + COCO annotations under `root`.

    Layout: root/images/000000.<fmt>, root/annotations.json (bbox xywh, category ids 1..C).
    Image i's top object has class (i + offset) mod C, so ≥ C images cover every class.
    JPEG is the default: noisy textures cost ~5x more bytes as PNG.
    """
    root = Path(root)
    offset = int(np.random.default_rng([seed]).integers(len(CLASSES)))
    images: list[dict[str, object]] = []
    annotations: list[dict[str, object]] = []  # COCO records, written to annotations.json
    for i in range(n_images):
        sample = make_image(seed, i, image_size, anchor_class=(i + offset) % len(CLASSES), clutter=clutter)
        name = f"images/{i:06d}.{image_format}"
        _save(sample.image, root / name)
        images.append({"id": i + 1, "file_name": name, "width": image_size, "height": image_size})
        for xywh, label in zip(
            convert(sample.boxes, "xyxy", "xywh").tolist(), sample.labels.tolist(), strict=False
        ):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": label + 1,
                    "bbox": xywh,
                    "area": xywh[2] * xywh[3],
                    "iscrowd": 0,
                }
            )
    categories = [{"id": c + 1, "name": name, "supercategory": "shape"} for c, name in enumerate(CLASSES)]
    path = root / "annotations.json"
    doc = {"images": images, "annotations": annotations, "categories": categories}
    path.write_text(json.dumps(doc, indent=1))
    return path


def write_video_samples(root: str | Path, n_samples: int, seed: int, image_size: int = 128) -> list[Path]:
    """The sample folders written under `root`: <class>_<k>/{object_images, frames}/*.jpg + annotations.json.

    annotations.json is {"class": name, "bboxes": [{"frame", "x1", "y1", "x2", "y2"}, ...]} with
    one record per frame where the target is visible. Sample i's target has class (i + offset) mod C.
    """
    root = Path(root)
    offset = int(np.random.default_rng([seed, 7]).integers(len(CLASSES)))
    counts: dict[str, int] = {}
    folders = []
    for i in range(n_samples):
        clip, kind, photos = make_clip(seed, i, image_size, target_class=(i + offset) % len(CLASSES))
        name = CLASSES[kind]
        folder = root / f"{name}_{counts.get(name, 0)}"
        counts[name] = counts.get(name, 0) + 1
        for k, photo in enumerate(photos):
            _save(photo, folder / "object_images" / f"img_{k + 1}.jpg")
        records = []
        for t, frame in enumerate(clip.frames):
            _save(frame.image, folder / "frames" / f"frame_{t:04d}.jpg")
            for x1, y1, x2, y2 in frame.boxes.tolist():
                records.append({"frame": t, "x1": x1, "y1": y1, "x2": x2, "y2": y2})
        (folder / "annotations.json").write_text(json.dumps({"class": name, "bboxes": records}, indent=1))
        folders.append(folder)
    return folders
