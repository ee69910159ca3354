"""loss_names: what a metric name says, on the names each trainer writes (from their loss modules)."""

from __future__ import annotations

import pytest

from inspector import loss_names as n


@pytest.mark.parametrize(
    "metric, name, family, group",
    [
        # DETR (models/detr.py SetCriterion): aux decoder outputs get `_{i}`; engine.py adds `_unscaled`.
        ("train_loss_ce", "cls", None, None),
        ("train_loss_giou_3", "giou_3", "giou", "aux layer 3"),
        ("train_loss_bbox_4_unscaled", "bbox_4", "bbox", "aux layer 4"),
        ("test_loss_ce_unscaled", "cls", None, None),
        # Deformable DETR two-stage: `_enc`; DINO: `_dn`, `_dn_{i}`, `_interm`.
        ("train_loss_giou_enc", "giou_enc", "giou", "encoder"),
        ("train_loss_ce_dn_2", "ce_dn_2", "cls", "denoising, layer 2"),
        ("train_loss_bbox_interm", "bbox_interm", "bbox", "encoder"),
        # RT-DETR / D-FINE criteria: `_aux_{i}`, `_dn_{i}`, `_enc_{i}`, `_pre`, `_dn_pre`.
        ("train_loss_vfl_aux_0", "vfl_aux_0", "vfl", "aux layer 0"),
        ("train_loss_fgl_dn_pre", "fgl_dn_pre", "fgl", "denoising, pre-output"),
        ("train_loss_bbox_enc_0", "bbox_enc_0", "bbox", "encoder, layer 0"),
        # H-DETR style prefix.
        ("enc_loss_giou", "enc_giou", "giou", "encoder"),
        # YOLOv10 (v10DetectLoss): one-to-many and one-to-one heads, no "loss" in the name.
        ("train/box_om", "box_om", "bbox", "one-to-many head"),
        ("train/cls_oo", "cls_oo", "cls", "one-to-one head"),
        ("val/dfl_om", "dfl_om", "dfl", "one-to-many head"),
        # Plain names keep working.
        ("train/box_loss", "bbox", None, None),
        ("loss_rpn_bbox", "rpn_loc", None, None),
        ("iou_loss", "iou", None, None),
        ("l1_loss", "l1", None, None),
    ],
)
def test_term_names(metric, name, family, group):
    assert n.term_name(metric) == n.TermName(name, family, group)


@pytest.mark.parametrize(
    "metric", ["box", "cls", "map50", "lr", "epoch", "total", "grad_norm", "class_error"]
)
def test_not_terms(metric):
    assert (
        n.term_name(metric) is None
    )  # a bare `box`/`cls` column could be anything: only under train/ or val/


def test_unscaled_partner():
    assert n.unscaled_partner("train_loss_ce_unscaled") == "train_loss_ce"
    assert n.unscaled_partner("train_loss_ce") is None


@pytest.mark.parametrize(
    "metric",
    [
        "time",
        "data_time",
        "train/iter_time",
        "mem",
        "memory",
        "max_mem",
        "grad_norm",
        "epoch",
        "n_parameters",
        "img_size",
        "eta_seconds",
    ],
)
def test_bookkeeping(metric):
    assert n.is_bookkeeping(metric)


@pytest.mark.parametrize(
    "metric, yes",
    [
        ("coco/bbox_mAP_50", True),
        ("metrics/mAP50-95(B)", True),
        ("val/AR100", True),
        ("bbox/APs", True),
        ("loss_map", False),
        ("lr", False),
        ("train/box_loss", False),
    ],
)
def test_eval_metric(metric, yes):
    assert n.is_eval_metric(metric) is yes
