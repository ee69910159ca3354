"""Seed logs for the fuzzer in the formats tests/samples has
no real file of, written from each trainer's definition.

MMEngine text logs (mmengine log_processor.py), YOLOX train_log.txt (yolox/core/trainer.py through loguru,
with the COCOeval.summarize block), a headerless YOLOv5 results.txt (yolov5 train.py's `'%10s' * 2 +
'%10.4g' * 13`), a YOLOv10 results.csv (two heads) and a DETR log.txt (detr/main.py `log_stats`). Small
(tens of lines): the mutations and hostile generators of bench/fuzz.py do the rest.
"""

from __future__ import annotations

import json

import numpy as np

PYCOCO = [
    ("Precision", "AP", "0.50:0.95", "all", 100),
    ("Precision", "AP", "0.50", "all", 100),
    ("Precision", "AP", "0.75", "all", 100),
    ("Precision", "AP", "0.50:0.95", "small", 100),
    ("Precision", "AP", "0.50:0.95", "medium", 100),
    ("Precision", "AP", "0.50:0.95", "large", 100),
    ("Recall", "AR", "0.50:0.95", "all", 1),
    ("Recall", "AR", "0.50:0.95", "all", 10),
    ("Recall", "AR", "0.50:0.95", "all", 100),
    ("Recall", "AR", "0.50:0.95", "small", 100),
    ("Recall", "AR", "0.50:0.95", "medium", 100),
    ("Recall", "AR", "0.50:0.95", "large", 100),
]


def _losses(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 0.3 + np.exp(-np.arange(n) / (n / 3)) * (1 + 0.05 * rng.standard_normal(n))


def mmengine_text() -> bytes:
    """Two epochs of an MMDetection 3.x text log: env dump, `Epoch(train)` lines, `Epoch(val)` metrics."""
    pre = "2023/05/01 12:00:00 - mmengine - INFO - "
    lines = [
        pre,
        "-" * 60,
        "System environment:",
        "    sys.platform: linux",
        "    Python: 3.8.16",
        "-" * 60,
        "",
    ]
    loss = _losses(8, 1)
    k = 0
    for e in (1, 2):
        for i in (50, 100, 150, 200):
            lines.append(
                pre + f"Epoch(train)  [{e}][{i:>3}/200]  base_lr: 2.0000e-02 lr: 2.0000e-02  eta: 0:01:0{k}  "
                f"time: 0.5000  data_time: 0.0100  memory: 3730  grad_norm: 2.5000  "
                f"loss: {loss[k]:.4f}  loss_cls: {0.6 * loss[k]:.4f}  loss_bbox: {0.4 * loss[k]:.4f}"
            )
            k += 1
        lines.append(
            pre + f"Epoch(val) [{e}][100/100]    coco/bbox_mAP: 0.{e}00  coco/bbox_mAP_50: 0.{e + 2}00  "
            "coco/bbox_mAP_s: -1.0000  data_time: 0.0020  time: 0.0400"
        )
    return ("\n".join(lines) + "\n").encode()


def yolox_text() -> bytes:
    """A YOLOX train_log.txt: loguru prefixes, the launch banner,
    `epoch: e/N, iter: i/n` lines, a COCO summary."""
    pre = "2021-07-20 10:29:31.123 | INFO     | yolox.core.trainer:{fn}:{line} - "
    lines = [
        pre.format(fn="before_train", line=130) + "args: Namespace(experiment_name='yolox_s', batch_size=64)",
        pre.format(fn="before_train", line=180) + "Training start...",
    ]
    loss = _losses(6, 2)
    k = 0
    for e in (1, 2):
        for i in (10, 20, 30):
            lines.append(
                pre.format(fn="after_iter", line=247)
                + f"epoch: {e}/300, iter: {i}/30, mem: 2785Mb, iter_time: 0.521s, data_time: 0.001s, "
                f"total_loss: {10 * loss[k]:.1f}, iou_loss: {4 * loss[k]:.1f}, l1_loss: 0.0, "
                f"conf_loss: {4 * loss[k]:.1f}, cls_loss: {2 * loss[k]:.1f}, lr: 1.550e-04, size: 640, "
                "ETA: 2 days, 3:04:05"
            )
            k += 1
        lines.append(pre.format(fn="evaluate_and_save_model", line=356) + "")
        for j, (word, short, iou, area, dets) in enumerate(PYCOCO):
            value = -1.0 if area == "small" else 0.1 * e + 0.01 * j
            lines.append(
                " {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}".format(
                    f"Average {word}", f"({short})", iou, area, dets, value
                )
            )
    return ("\n".join(lines) + "\n").encode()


def yolov5_results_txt() -> bytes:
    """A headerless YOLOv5 results.txt (2020-2021): `e/N-1`,
    memory, 4 train losses, labels, size, 7 results."""
    loss = _losses(10, 3)
    rows = []
    for e in range(10):
        box, obj, cls = 0.1 * loss[e], 0.07 * loss[e], 0.04 * loss[e]
        values = [
            box,
            obj,
            cls,
            box + obj + cls,
            235,
            640,
            0.1 + 0.05 * e,
            0.2 + 0.04 * e,
            0.05 * e,
            0.02 * e,
            0.09 * loss[e],
            0.06 * loss[e],
            0.03 * loss[e],
        ]
        rows.append(("%10s" * 2 + "%10.4g" * 13) % (f"{e}/9", "7.27G", *values))
    return ("\n".join(rows) + "\n").encode()


def yolov10_results_csv() -> bytes:
    """A YOLOv10 results.csv: one-to-many (`_om`) and one-to-one (`_oo`) heads for train and val."""
    heads = [
        f"{split}/{term}_{head}"
        for split in ("train", "val")
        for head in ("om", "oo")
        for term in ("box", "cls", "dfl")
    ]
    header = [
        "epoch",
        *heads[:6],
        "metrics/precision(B)",
        "metrics/recall(B)",
        "metrics/mAP50(B)",
        "metrics/mAP50-95(B)",
        *heads[6:],
        "lr/pg0",
        "lr/pg1",
        "lr/pg2",
    ]
    loss = _losses(10, 4)
    rows = [",".join(f"{x:>22}" for x in header)]
    for e in range(10):
        train = [round(v * loss[e], 5) for v in (1.2, 2.5, 1.1, 1.1, 2.2, 1.0)]
        metrics = [
            round(0.3 + 0.05 * e, 5),
            round(0.2 + 0.04 * e, 5),
            round(0.1 + 0.05 * e, 5),
            round(0.05 * e, 5),
        ]
        val = [round(v * 1.1, 5) for v in train]
        rows.append(",".join(f"{x:>22}" for x in [e + 1, *train, *metrics, *val, 0.001, 0.001, 0.001]))
    return ("\n".join(rows) + "\n").encode()


def detr_log_txt() -> bytes:
    """A DETR log.txt: per epoch, train_/test_ losses scaled and `_unscaled`, aux layers, COCO stats."""
    gains = {"loss_ce": 1.0, "loss_bbox": 5.0, "loss_giou": 2.0}
    loss = _losses(6, 5)
    lines = []
    for e in range(6):
        row: dict = {"train_lr": 1e-4, "train_class_error": 40.0 - e}
        total = 0.0
        for layer in ["", "_0", "_1"]:
            for name, gain in gains.items():
                raw = float(loss[e]) * (1 + 0.1 * len(layer))
                row[f"train_{name}{layer}"] = raw * gain
                row[f"train_{name}{layer}_unscaled"] = raw
                total += raw * gain
        row["train_loss"] = total
        row["test_loss"] = total * 1.1
        row["test_coco_eval_bbox"] = [0.1 * e / 5 + 0.01 * j for j in range(12)]
        row.update({"epoch": e, "n_parameters": 41302368})
        lines.append(json.dumps(row))
    return ("\n".join(lines) + "\n").encode()


# (label, file name, builder, companions)
SEEDS = (
    ("generated/mmengine/20230501_120000.log", "20230501_120000.log", mmengine_text, ()),
    ("generated/yolox/train_log.txt", "train_log.txt", yolox_text, ()),
    (
        "generated/yolov5/results.txt",
        "results.txt",
        yolov5_results_txt,
        (("hyp.yaml", b"lr0: 0.01\nbox: 0.05\ncls: 0.5\nobj: 1.0\n"),),
    ),
    (
        "generated/yolov10/results.csv",
        "results.csv",
        yolov10_results_csv,
        (("args.yaml", b"model: yolov10n.pt\nbox: 7.5\ncls: 0.5\ndfl: 1.5\n"),),
    ),
    (
        "generated/detr/log.txt",
        "log.txt",
        detr_log_txt,
        (("config_args_all.json", json.dumps({"bbox_loss_coef": 5, "giou_loss_coef": 2}).encode()),),
    ),
)
