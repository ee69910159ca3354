"""From Episode to tensors and back: letterboxing, one forward pass, score filtering and NMS."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from inspector.boxes import Letterbox, box_iou, from_letterbox, letterbox_params, to_letterbox
from inspector.data.records import Episode, Sample
from inspector.errors import InspectorError
from inspector.model.detector import DetectorOutput, FewShotDetector

PAD_VALUE = 114  # grey canvas around letterboxed images, as YOLO pads
MAX_NMS = 1000  # candidates kept (by score) before NMS so its O(n²) matrix stays small


def letterbox_image(image: np.ndarray, lb: Letterbox) -> np.ndarray:
    """Returns the (size, size, 3) uint8 canvas holding `image` (H, W, 3) uint8, resized and padded
    as `lb` says."""
    rh, rw = lb.resized
    if (rh, rw) == image.shape[:2]:  # Pillow's resize to the same size is a copy: skip the round trip
        resized = image
    else:
        resized = np.asarray(Image.fromarray(image).resize((rw, rh), Image.Resampling.BILINEAR))
    canvas = np.full((lb.size, lb.size, 3), PAD_VALUE, dtype=np.uint8)
    top, left = int(lb.pad_y), int(lb.pad_x)
    canvas[top : top + rh, left : left + rw] = resized
    return canvas


def preprocess(
    images: list[np.ndarray], size: int, scaleup: bool = True
) -> tuple[torch.Tensor, list[Letterbox], tuple[bytes, ...]]:
    """Returns (batch (B, 3, size, size) float in [0, 1], one Letterbox per image, the SHA-256 of each
    image's uint8 canvas) for (H, W, 3) uint8 images of any sizes (enlarged to the canvas unless `scaleup` is
    False). The batch is the canvases / 255, so a digest identifies its image's values (the model's memo
    keys maps by it: hashing the canvas reads a quarter of the bytes of the float image)."""
    letterboxes = [letterbox_params(im.shape[:2], size, scaleup) for im in images]
    canvases = np.stack(
        [letterbox_image(im, lb) for im, lb in zip(images, letterboxes, strict=True)]
    )  # (B, S, S, 3), each canvas contiguous
    digests = tuple(hashlib.sha256(canvas.data).digest() for canvas in canvases)
    batch = torch.from_numpy(canvases).permute(0, 3, 1, 2).float().div_(255.0)
    return batch, letterboxes, digests


@dataclass(frozen=True)
class EpisodeTensors:
    """An Episode ready for the model: images letterboxed to the config's size, boxes in canvas pixels.

    support_images (S, 3, H, W); support_boxes [(k_i, 4)]; support_ways (S,) long;
    query_images (Q, 3, H, W); query_boxes [(n_q, 4)]; query_labels [(n_q,) long];
    support_letterbox / query_letterbox map canvas pixels back to each original image.
    """

    support_images: torch.Tensor
    support_boxes: list[torch.Tensor]
    support_ways: torch.Tensor
    query_images: torch.Tensor
    query_boxes: list[torch.Tensor]
    query_labels: list[torch.Tensor]
    support_letterbox: list[Letterbox]
    query_letterbox: list[Letterbox]
    n_way: int
    digests: tuple[bytes, ...] = ()  # preprocess's, supports then queries


def support_way(sample: Sample) -> int:
    """Returns the way a support image stands for: its most frequent label (smallest on ties)."""
    values, counts = np.unique(np.asarray(sample.labels, dtype=np.int64), return_counts=True)
    return int(values[np.argmax(counts)])


def episode_tensors(
    episode: Episode, size: int, device: torch.device | str = "cpu", upscale_support: bool = True
) -> EpisodeTensors:
    """Returns the EpisodeTensors for `episode` letterboxed to size×size (supports enlarged unless told
    not to).

    A support image keeps only the boxes of its way (see support_way); support images without boxes
    are dropped, since they carry no prototype evidence.
    """
    support = [s for s in episode.support if len(s.boxes)]
    if not support:
        raise InspectorError(
            f"episode {episode.index} has no support boxes, so no class prototypes can be built"
        )
    ways = [support_way(s) for s in support]
    s_images, s_lb, s_digests = preprocess([s.image for s in support], size, upscale_support)
    s_boxes = [
        torch.from_numpy(to_letterbox(np.asarray(s.boxes, np.float32)[np.asarray(s.labels) == w], lb))
        for s, w, lb in zip(support, ways, s_lb, strict=False)
    ]
    q_images, q_lb, q_digests = preprocess([q.image for q in episode.queries], size)
    q_boxes = [
        torch.from_numpy(to_letterbox(np.asarray(q.boxes, np.float32).reshape(-1, 4), lb))
        for q, lb in zip(episode.queries, q_lb, strict=False)
    ]
    q_labels = [torch.as_tensor(np.asarray(q.labels, np.int64)) for q in episode.queries]
    return EpisodeTensors(
        support_images=s_images.to(device),
        support_boxes=[b.to(device) for b in s_boxes],
        support_ways=torch.tensor(ways, dtype=torch.long, device=device),
        query_images=q_images.to(device),
        query_boxes=[b.to(device) for b in q_boxes],
        query_labels=[lab.to(device) for lab in q_labels],
        support_letterbox=s_lb,
        query_letterbox=q_lb,
        n_way=episode.n_way,
        digests=s_digests + q_digests,
    )


@dataclass(frozen=True)
class RawEpisodeOutput:
    """One forward pass over an Episode: the tensors that went in and the DetectorOutput that came out."""

    tensors: EpisodeTensors
    output: DetectorOutput


def run_episode(model: FewShotDetector, episode: Episode) -> RawEpisodeOutput:
    """Returns the RawEpisodeOutput of `model` on `episode`, in the model's current mode (train or eval);
    wrap in torch.no_grad() for inference."""
    device = next(model.parameters()).device
    t = episode_tensors(episode, model.config.image_size, device, model.config.upscale_support)
    out = model(t.support_images, t.support_boxes, t.support_ways, t.query_images, t.n_way, t.digests or None)
    return RawEpisodeOutput(tensors=t, output=out)


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Returns indices (k,) of the boxes (n, 4 xyxy) greedy NMS keeps within each label, by descending score.

    Hand-written because torchvision (whose nms is the usual choice) is not a dependency. Boxes of
    different labels are shifted apart so one pass never lets them suppress each other; the IoU
    matrix is built once in torch and the greedy sweep runs over a numpy row per kept box.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = scores.argsort(descending=True)
    shift = (boxes.max() + 1) * labels.to(boxes.dtype)  # (n,)
    shifted = boxes[order] + shift[order, None]
    iou = box_iou(shifted, shifted).cpu().numpy()  # (n, n)
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > iou_threshold
    return order[torch.as_tensor(keep, dtype=torch.long, device=boxes.device)]


@dataclass(frozen=True)
class Detections:
    """One image's detections: boxes (k, 4) xyxy float32 in original pixels, scores (k,),
    labels (k,) way indices. Unpacks as (boxes, scores, labels)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.boxes, self.scores, self.labels))


@torch.no_grad()
def postprocess(
    output: DetectorOutput,
    letterboxes: list[Letterbox] | None = None,
    score_threshold: float | None = None,
    nms_iou: float | None = None,
    max_det: int | None = None,
) -> list[Detections]:
    """Returns Detections per query image: every (anchor, way) scoring above the threshold, class-wise NMS,
    the best max_det, mapped back to original pixels through `letterboxes` (canvas pixels when None).
    Thresholds default to the model config's."""
    cfg = output.config
    score_threshold = cfg.score_threshold if score_threshold is None else score_threshold
    nms_iou = cfg.nms_iou if nms_iou is None else nms_iou
    max_det = cfg.max_det if max_det is None else max_det
    scores_all = output.cls_logits.sigmoid()  # (Q, A, N)
    results = []
    for q in range(scores_all.shape[0]):
        # multi-label: an anchor may propose several ways, which helps recall (and so mAP)
        anchor, label = (scores_all[q] > score_threshold).nonzero(as_tuple=True)
        scores = scores_all[q, anchor, label]
        if len(scores) > MAX_NMS:
            top = scores.topk(MAX_NMS).indices
            anchor, label, scores = anchor[top], label[top], scores[top]
        boxes = output.pred_boxes[q, anchor]
        keep = batched_nms(boxes, scores, label, nms_iou)[:max_det]
        boxes, scores, label = boxes[keep], scores[keep], label[keep]
        if letterboxes is not None:
            boxes = from_letterbox(boxes, letterboxes[q])
        results.append(
            Detections(
                boxes.float().cpu().numpy(),
                scores.float().cpu().numpy(),
                label.cpu().numpy().astype(np.int64),
            )
        )
    return results
