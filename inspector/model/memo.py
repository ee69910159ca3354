"""FPN maps of images seen before, kept by content: an evaluation draws its episodes from one pool of images,
so the same image goes through the backbone again and again (the demo's 100 episodes are 1,000 passes over 72
images), and in eval mode its maps depend on nothing but the image and the weights. The detector keeps the
head's box tower maps with them (they depend on the image's maps alone, not on the episode's prototypes: 15%
of an evaluation on the demo).

In eval mode without gradients the detector runs the backbone and box tower on each image alone (batch of
one), so an image's maps never depend on the images batched with it — nor on which image came first, how a
plan was sharded or what the memo held — and a memoised image gives bit for bit the maps it would get afresh.
(A batch of one runs other conv kernels than a larger batch: maps differ from the batched pass by ~3e-6,
detections' boxes by < 1e-3 px; tests/test_model_memo.py holds them to that.) The memo forgets everything
when a parameter or buffer changes in place (an optimiser step, load_state_dict), and holds at most
MEMO_BYTES of maps, least recently used first out.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

import torch

# 256 MiB of float32 maps: every image of the demo (72 × 89 KiB at 128 px), ~120 images at 640 px.
MEMO_BYTES = 256 << 20

Maps = tuple[torch.Tensor, ...]  # one image's FPN maps, per level (C, H_l, W_l)


def weights_version(tensors: Iterable[torch.Tensor]) -> tuple[int, ...]:
    """Every tensor's in-place version counter: an optimiser step, copy_ or load_state_dict moves one."""
    return tuple(t._version for t in tensors)


def image_key(image: torch.Tensor) -> tuple[str, str, tuple[int, ...], bytes]:
    """What identifies an image (3, H, W): its device, dtype, shape and the SHA-256 of its values (SHA-NI:
    0.1 ms for a 128 px image, twice as fast as blake2b here)."""
    data = image.detach().contiguous().cpu().numpy().data  # a memoryview: hashed in place, not copied
    return (
        str(image.device),
        str(image.dtype),
        tuple(image.shape),
        hashlib.sha256(data).digest(),
    )


def canvas_key(image: torch.Tensor, digest: bytes) -> tuple[str, str, tuple[int, ...], bytes]:
    """What identifies an image (3, H, W) made from a uint8 canvas whose SHA-256 is `digest` (its values are
    the canvas's / 255, so the canvas's bytes determine them): as image_key, in a namespace of its own."""
    return (str(image.device), "canvas/255", tuple(image.shape), digest)


class FeatureMemo:
    """Per-image FPN maps by content (image_key), valid for one weights_version, at most max_bytes."""

    def __init__(self, max_bytes: int = MEMO_BYTES):
        self.max_bytes = max_bytes
        self._maps: OrderedDict[tuple, Maps] = OrderedDict()
        self._bytes = 0
        self._version: tuple[int, ...] | None = None
        self._lock = threading.Lock()  # a page's episode and its evaluation may share one detector
        self.hits = self.misses = 0

    def __deepcopy__(self, _: dict) -> FeatureMemo:
        """A copied model (an EMA, a probe) starts with an empty memo: maps belong to their weights."""
        return FeatureMemo(self.max_bytes)

    def __reduce__(self) -> tuple:
        return FeatureMemo, (self.max_bytes,)  # pickled empty, as copied

    def clear(self) -> None:
        with self._lock:
            self._maps.clear()
            self._bytes = 0

    def maps(
        self,
        images: torch.Tensor,
        backbone: Callable[[torch.Tensor], list[torch.Tensor]],
        version: tuple,
        digests: Sequence[bytes] | None = None,
    ) -> list[torch.Tensor]:
        """Returns [(B, C, H_l, W_l) per level] for images (B, 3, H, W): each image's maps from the memo or
        from `backbone` run on it alone, then kept. `digests`, one per image, identify the images when the
        caller knows them (predict.preprocess: the SHA-256 of the uint8 canvas each float image is made from,
        a quarter of the bytes image_key would hash); else each image is hashed here."""
        if version != self._version:
            self.clear()
            self._version = version
        if digests is not None and len(digests) != len(images):
            raise ValueError(f"{len(digests)} digests for {len(images)} images")
        per_image: list[Maps] = []
        for i, image in enumerate(images):
            key = image_key(image) if digests is None else canvas_key(image, digests[i])
            with self._lock:
                found = self._maps.get(key)
                if found is not None:
                    self.hits += 1
                    self._maps.move_to_end(key)
            if found is None:
                found = tuple(f[0] for f in backbone(image[None]))  # outside the lock: the slow part
                self._keep(key, found)
            per_image.append(found)
        return [torch.stack(level) for level in zip(*per_image, strict=True)]

    def _keep(self, key: tuple, maps: Maps) -> None:
        size = sum(m.numel() * m.element_size() for m in maps)
        with self._lock:
            self.misses += 1
            if size > self.max_bytes or key in self._maps:
                return
            self._maps[key] = maps
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, old = self._maps.popitem(last=False)
                self._bytes -= sum(m.numel() * m.element_size() for m in old)
