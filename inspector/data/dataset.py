"""The Dataset record every reader returns: class names, per-image entries, clips, skip reasons.

Images are not decoded when a dataset is read; `ImageEntry.load()` decodes one on demand, so a
dataset of thousands of images costs only its annotations in memory.
"""

from __future__ import annotations

import hashlib
import re
import struct
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from inspector.data.format_checks import FormatWarning
from inspector.data.records import Clip, Sample
from inspector.errors import InspectorError
from inspector.limits import max_image_pixels

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def natural_key(name: str) -> tuple:
    """A sort key that orders 'frame_2' before 'frame_10' (numbers compared as numbers)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


# What a broken image raises in Pillow. Fuzzing 10,500 byte-flipped and truncated PNG/JPEG/BMP/WebP/TIFF/GIF
# files: all but 6 raised OSError ("image file is truncated", UnidentifiedImageError) or ValueError; those 6
# claimed 3.9e9-1.8e11 pixels and raised DecompressionBombError, an Exception that is not an OSError (it
# escaped as a traceback). Pillow's plugins also raise SyntaxError ("broken PNG file"), struct.error and
# EOFError on short headers, and zlib.error on bad streams; each is the image's fault, not ours.
_DECODE_ERRORS = (
    OSError,
    ValueError,
    TypeError,
    IndexError,
    SyntaxError,
    EOFError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)


def _check_pixels(im: Image.Image, path: Path) -> None:
    """Refuses an image whose header claims more pixels than max_image_pixels(), before it is decoded:
    a 20000² 1-bit PNG is a few kB on disk and 1.2 GB as RGB."""
    width, height = im.size
    limit = max_image_pixels()
    if width * height > limit:
        raise InspectorError(
            f"the image claims {width}x{height} = {width * height / 1e6:.0f} M pixels, above the "
            f"{limit / 1e6:.1f} M pixel limit (INSPECTOR_MAX_IMAGE_PIXELS); refused before "
            "decoding",
            path=path,
        )


def _decode_message(exc: BaseException) -> str:
    if isinstance(exc, Image.DecompressionBombError):
        return f"the image is too large to decode safely ({exc})"
    detail = str(exc).strip() or type(exc).__name__
    return f"cannot decode image, it is truncated or corrupt ({type(exc).__name__}: {detail[:200]})"


def load_rgb(path: Path) -> np.ndarray:
    """The image at `path` as (H, W, 3) uint8 RGB; InspectorError naming it if it is too large, truncated
    or corrupt."""
    try:
        with Image.open(path) as im:
            _check_pixels(im, path)
            return np.asarray(im.convert("RGB"))
    except _DECODE_ERRORS as exc:
        raise InspectorError(_decode_message(exc), path=path) from None


def load_video_frame(path: Path, index: int) -> np.ndarray:
    """Frame `index` of the video at `path` as (H, W, 3) uint8, decoded with PyAV."""
    import av  # optional; read_video checked it imports before making frame entries

    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24")
    raise InspectorError(f"the video has no frame {index}", path=path)


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of the image at `path`, read from its header only; InspectorError naming it if the
    header is unreadable or claims more pixels than max_image_pixels()."""
    try:
        with Image.open(path) as im:
            _check_pixels(im, path)
            width, height = im.size
    except _DECODE_ERRORS as exc:
        raise InspectorError(_decode_message(exc), path=path) from None
    return int(height), int(width)


@dataclass(frozen=True)
class ImageEntry:
    """One annotated image: boxes (n, 4) float32 absolute xyxy, labels (n,) int64 class indices."""

    image_id: str
    path: Path
    size: tuple[int, int]  # (height, width)
    boxes: np.ndarray
    labels: np.ndarray
    frame: int = -1  # ≥ 0: the frame index inside the video file `path`

    def load(self) -> np.ndarray:
        """The decoded image, (H, W, 3) uint8."""
        if self.frame >= 0:
            return load_video_frame(self.path, self.frame)
        return load_rgb(self.path)

    def sample(
        self,
        keep: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        decoded: DecodedImages | None = None,
    ) -> Sample:
        """A Sample with the image decoded (or taken from `decoded`, which keeps it); `keep` selects boxes,
        `labels` replaces their labels."""
        boxes, own = self.boxes, self.labels
        if keep is not None:
            boxes, own = boxes[keep], own[keep]
        return Sample(
            image_id=self.image_id,
            image=self.load() if decoded is None else decoded.load(self),
            boxes=boxes.astype(np.float32, copy=True),
            labels=(own if labels is None else labels).astype(np.int64, copy=True),
        )


# Decoded images one plan keeps: the demo's 72 images at 128 px are 3.5 MB; ~230 images at 640 px.
DECODED_BYTES = 256 << 20


class DecodedImages:
    """Images decoded once and handed out again, least recently used first out past max_bytes: a plan draws
    its episodes from one pool of images (the demo's 100 episodes decode 1,000 images, 72 of them distinct;
    decoding was ~15% of an episode's time). The arrays handed out are read-only, since every episode that
    draws an image shares one. Thread-safe (the Compare page's two evaluations read one plan)."""

    def __init__(self, max_bytes: int = DECODED_BYTES):
        self.max_bytes = max_bytes
        self._images: OrderedDict[tuple[Path, int], np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def load(self, entry: ImageEntry) -> np.ndarray:
        """entry.load(), decoded on the first call for its file and frame only."""
        key = (entry.path, entry.frame)
        with self._lock:
            found = self._images.get(key)
            if found is not None:
                self.hits += 1
                self._images.move_to_end(key)
                return found
        image = entry.load()  # outside the lock: the slow part
        image.flags.writeable = False
        with self._lock:
            self.misses += 1
            if key not in self._images and image.nbytes <= self.max_bytes:
                self._images[key] = image
                self._bytes += image.nbytes
                while self._bytes > self.max_bytes:
                    _, old = self._images.popitem(last=False)
                    self._bytes -= old.nbytes
        return image


@dataclass(frozen=True)
class ClipEntry:
    """A reference-image + video sample: a few photos of one target object and the frames to search.

    `frames[i].boxes` holds the target's box in frame i, or zero rows where it is out of view.
    """

    clip_id: str
    label: int
    object_images: tuple[Path, ...]
    frames: tuple[ImageEntry, ...]

    def load(self, way: int | None = None) -> Clip:
        """The clip with all frames decoded; labels become `way` when given (an episode's way index)."""
        frames = tuple(
            f.sample(labels=None if way is None else np.full(len(f.labels), way, np.int64))
            for f in self.frames
        )
        return Clip(clip_id=self.clip_id, frames=frames)


@dataclass(frozen=True)
class Dataset:
    """A read dataset: images (COCO/YOLO) or clips (video samples), what was skipped and why, and warnings
    about boxes that read better in another format than the file claims (read as claimed regardless)."""

    root: Path
    format: str  # "coco" | "yolo" | "video"
    class_names: tuple[str, ...]
    images: tuple[ImageEntry, ...] = ()
    clips: tuple[ClipEntry, ...] = ()
    skipped: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[FormatWarning, ...] = field(default_factory=tuple)

    @property
    def n_boxes(self) -> int:
        """Total boxes over all images and clip frames."""
        in_clips = sum(len(f.boxes) for c in self.clips for f in c.frames)
        return sum(len(e.boxes) for e in self.images) + in_clips

    def images_by_class(self) -> dict[int, list[int]]:
        """Class index → indices into `images` of the images that contain at least one box of it."""
        by_class: dict[int, list[int]] = {c: [] for c in range(len(self.class_names))}
        for i, entry in enumerate(self.images):
            for c in np.unique(entry.labels):
                by_class[int(c)].append(i)
        return by_class

    def content_hash(self) -> str:
        """A hex digest of the annotations and image files, stable across copies of the dataset.

        Image files enter by relative path and byte size rather than by content: hashing the
        pixels of a large dataset would take minutes, and an edit that keeps a file's size exactly
        is rare enough for a cache key.
        """
        h = hashlib.sha256()
        h.update(self.format.encode())
        h.update("\0".join(self.class_names).encode())

        def add_file(path: Path) -> None:
            try:
                rel = path.relative_to(self.root).as_posix()
            except ValueError:
                rel = path.as_posix()
            h.update(rel.encode())
            h.update(str(path.stat().st_size if path.exists() else -1).encode())

        def add_entry(entry: ImageEntry) -> None:
            add_file(entry.path)
            h.update(entry.image_id.encode())
            h.update(np.asarray(entry.size, np.int64).tobytes())
            h.update(np.ascontiguousarray(entry.boxes, np.float32).tobytes())
            h.update(np.ascontiguousarray(entry.labels, np.int64).tobytes())

        for entry in self.images:
            add_entry(entry)
        for clip in self.clips:
            h.update(f"{clip.clip_id}\0{clip.label}".encode())
            for path in clip.object_images:
                add_file(path)
            for frame in clip.frames:
                add_entry(frame)
        h.update("\n".join(self.skipped).encode())
        return h.hexdigest()


# A box at least this much inside its image is clipped to it; less, and it is skipped. Annotation
# tools commonly overshoot an edge by a few pixels; a box mostly outside is a wrong coordinate system.
MIN_INSIDE_FRACTION = 0.5


def check_box(box: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray | None, str | None]:
    """(clipped xyxy box, None) when usable, else (None, why it was skipped)."""
    height, width = size
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(np.isfinite([x1, y1, x2, y2])):
        return None, "non-finite coordinate"
    if x2 <= x1 or y2 <= y1:
        return None, f"non-positive size ({x2 - x1:g} x {y2 - y1:g} px)"
    cx1, cy1, cx2, cy2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(width)), min(y2, float(height))
    inside = max(cx2 - cx1, 0.0) * max(cy2 - cy1, 0.0)
    if inside < MIN_INSIDE_FRACTION * (x2 - x1) * (y2 - y1):
        return None, f"box [{x1:g}, {y1:g}, {x2:g}, {y2:g}] is mostly outside the {width}x{height} image"
    return np.array([cx1, cy1, cx2, cy2], np.float32), None


def entry_arrays(boxes: list[np.ndarray], labels: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(boxes (n, 4) float32, labels (n,) int64), with the right shapes when n is 0."""
    return (
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(labels, np.int64).reshape(-1),
    )
