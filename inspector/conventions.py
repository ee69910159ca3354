"""What each trainer writes in its logs: whether a loss is logged before or after its gain, and its
shipped gains.

Facts, one record per framework (`RunLog.framework`), each from the trainer's own source; they are the
weakest evidence `inspector.losses` uses (a config file, scaled/unscaled twins and the logged total all
outrank them), and every use of one is named in the component's `why`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Logged = Literal["raw", "weighted"]


@dataclass(frozen=True)
class Convention:
    """How one framework logs its loss terms, and the gains it ships with (by component name)."""

    logged: Logged | None  # None: the format does not say (generic tables, TensorBoard, W&B)
    default_weights: dict[str, float] = field(default_factory=dict)
    unit_weights: bool = False  # every term not in default_weights ships with gain 1.0
    source: str = ""  # where the facts come from
    # The peak lr its shipped configs use with their default optimiser, (low, high); None: no one range.
    usual_lr: tuple[float, float] | None = None
    lr_source: str = ""


CONVENTIONS: dict[str, Convention] = {
    # RunWriter logs raw terms and the gains in its header (inspector/runlog/writer.py).
    "native": Convention(
        "raw",
        source="inspector's RunWriter: raw terms, gains in the header",
        usual_lr=(1e-5, 3e-3),
        lr_source="inspector/train/config.py: AdamW, lr 1e-3",
    ),
    # v8DetectionLoss multiplies box/cls/dfl by hyp.box/cls/dfl before returning loss_items, which the
    # trainer averages into results.csv; the gains ship in ultralytics/cfg/default.yaml.
    "ultralytics": Convention(
        "weighted",
        {"bbox": 7.5, "cls": 0.5, "dfl": 1.5, "pose": 12.0, "kobj": 1.0},
        source="ultralytics/utils/loss.py (loss × hyp gain), ultralytics/cfg/default.yaml",
        usual_lr=(1e-4, 0.02),
        lr_source="ultralytics/cfg/default.yaml: SGD lr0 0.01; AdamW (optimizer=auto) ~0.002",
    ),
    # ComputeLoss: lbox *= hyp['box'] etc. before loss_items; data/hyps/hyp.scratch-low.yaml.
    "yolov5": Convention(
        "weighted",
        {"bbox": 0.05, "cls": 0.5, "obj": 1.0},
        source="yolov5/utils/loss.py ComputeLoss (× hyp gains), data/hyps/hyp.scratch-low.yaml",
        usual_lr=(1e-4, 0.02),
        lr_source="yolov5 data/hyps/hyp.scratch-low.yaml: SGD lr0 0.01",
    ),
    # The same ComputeLoss; data/hyp.scratch.p5.yaml ships box 0.05, cls 0.3, obj 0.7.
    "yolov7": Convention(
        "weighted",
        {"bbox": 0.05, "cls": 0.3, "obj": 0.7},
        source="yolov7/utils/loss.py ComputeLoss (× hyp gains), data/hyp.scratch.p5.yaml",
        usual_lr=(1e-4, 0.02),
        lr_source="yolov7 data/hyp.scratch.p5.yaml: SGD lr0 0.01",
    ),
    # Heads return {name: loss × loss_weight} (e.g. FastRCNNOutputLayers.losses); the shipped configs
    # use 1.0 for nearly every term.
    "detectron2": Convention(
        "weighted",
        unit_weights=True,
        source="detectron2 heads return losses × their loss_weight (1.0 in the shipped configs)",
        usual_lr=(1e-4, 0.02),
        lr_source="detectron2 configs/Base-RCNN-FPN.yaml: SGD BASE_LR 0.02 for 16 images per batch",
    ),
    # mmdet's loss modules multiply by loss_weight inside forward(); `loss` is the sum (parse_losses).
    "mmdet": Convention(
        "weighted",
        unit_weights=True,
        source="mmdet loss modules apply loss_weight in forward(); configs ship 1.0 for most terms",
        usual_lr=(1e-5, 0.02),
        lr_source=(
            "mmdet configs: SGD lr 0.02 for 16 images (Faster R-CNN), AdamW 1e-4 (DETR) to 4e-3 (RTMDet)"
        ),
    ),
    # YOLOXHead.get_losses: reg_weight = 5.0; returns reg_weight * loss_iou, loss_obj, loss_cls, loss_l1.
    "yolox": Convention(
        "weighted",
        {"iou": 5.0},
        unit_weights=True,
        source="yolox/models/yolo_head.py get_losses: reg_weight = 5.0, logs reg_weight × loss_iou",
        usual_lr=(1e-4, 0.02),
        lr_source="yolox/exp/yolox_base.py: SGD basic_lr_per_img 0.01/64 (0.01 at 64 images)",
    ),
    # detr/engine.py logs each loss × weight_dict and again as `<name>_unscaled`; the gains differ by
    # descendant (DETR bbox 5 / giou 2, Deformable cls 2, RT-DETR vfl 1), so only the twins tell.
    "detr": Convention(
        "weighted",
        source="detr/engine.py: loss_dict_reduced_scaled and *_unscaled",
        usual_lr=(1e-5, 2e-4),
        lr_source="detr/main.py AdamW lr 1e-4; Deformable DETR 2e-4; DINO, RT-DETR 1e-4",
    ),
}
UNKNOWN = Convention(None, source="")


def convention(framework: str) -> Convention:
    """The Convention of `framework`; one that says nothing for frameworks without a documented one."""
    return CONVENTIONS.get(framework, UNKNOWN)
