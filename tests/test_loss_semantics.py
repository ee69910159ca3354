"""Raw vs weighted, and each weight, inferred from evidence:
config, twins, the logged total, the format's definition.

Every log here is built from its trainer's definition: DETR's engine logs each loss × weight_dict and as
`<name>_unscaled`, and `loss` is the sum of the scaled terms; YOLOX's head returns reg_weight (5.0) × the
IoU loss and sums it with the objectness, class and L1 terms into total_loss; mmdet's `loss` is the sum of
the loss_* terms after their loss_weight; our RunWriter logs raw terms and Σ weight × term.
"""

from __future__ import annotations

import numpy as np
import pytest

from inspector.diagnose import diagnose
from inspector.loss_semantics import discover_components
from inspector.losses import decompose
from inspector.report import to_json_dict
from inspector.runlog.record import assemble

RNG = np.random.default_rng(0)
N = 60


def _decay(n: int = N, start: float = 1.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return start * np.exp(-np.arange(n) / (0.7 * n)) * (1 + 0.15 * rng.standard_normal(n)) + 0.05


def _log(framework: str, columns: dict[str, np.ndarray], config: dict | None = None):
    n = len(next(iter(columns.values())))
    return assemble("synthetic", "test", framework, np.arange(n), columns, config=config)


# --- DETR: scaled and `_unscaled` twins ------------------------------------------------------------------

DETR_WEIGHTS = {"loss_ce": 1.0, "loss_bbox": 5.0, "loss_giou": 2.0}


def detr_columns(prefix: str = "train_", layers: int = 5) -> dict[str, np.ndarray]:
    """DETR's log.txt keys: each loss scaled and unscaled,
    aux decoder layers _0.._{layers-1}, loss = Σ scaled."""
    cols: dict[str, np.ndarray] = {}
    total = np.zeros(N)
    for i, suffix in enumerate([""] + [f"_{k}" for k in range(layers)]):
        for j, (name, w) in enumerate(DETR_WEIGHTS.items()):
            raw = _decay(seed=10 * i + j)
            cols[f"{prefix}{name}{suffix}"] = raw * w
            cols[f"{prefix}{name}{suffix}_unscaled"] = raw
            total += raw * w
    cols[f"{prefix}class_error_unscaled"] = _decay(seed=99) * 50
    cols[f"{prefix}class_error"] = cols[f"{prefix}class_error_unscaled"].copy()
    cols[f"{prefix}cardinality_error_unscaled"] = _decay(seed=98) * 3
    cols[f"{prefix}loss"] = total
    cols[f"{prefix}lr"] = np.full(N, 1e-4)
    return cols


def test_detr_twins_give_the_raw_series_and_each_weight_with_no_mismatch():
    log = _log("detr", detr_columns())
    cs = discover_components(log)
    assert len(cs.components) == 18  # 3 terms × (final + 5 aux), each once
    assert all(
        c.metric.endswith("_unscaled") and c.twin == c.metric[: -len("_unscaled")] for c in cs.components
    )
    weights = {c.twin: c.weight for c in cs.components}
    for name, w in DETR_WEIGHTS.items():
        assert weights[f"train_{name}"] == pytest.approx(w)
        assert weights[f"train_{name}_3"] == pytest.approx(w)
    assert all(
        c.weight_source == "twins" and c.logged == "raw" and c.logged_source == "twins" for c in cs.components
    )
    assert not any("class_error" in c.metric or "cardinality" in c.metric for c in cs.components)
    assert cs.total == "train_loss" and "Σ terms as logged" in cs.total_evidence
    assert set(cs.families) == {"cls", "bbox", "giou"} and len(cs.families["giou"]) == 6
    assert cs.groups["aux layer 3"] and len(cs.groups["final"]) == 3
    dec = decompose(log, cs)
    np.testing.assert_allclose(dec.residual, 0.0, atol=1e-9)
    d = diagnose(log)
    assert "total_mismatch" not in {f.id for f in d.findings}


def test_detr_with_its_true_weights_passed_stays_consistent():
    log = _log("detr", detr_columns())
    d = diagnose(log, weights_override={"bbox": 5.0, "giou": 2.0, "cls": 1.0})
    np.testing.assert_allclose(d.decomposition.residual, 0.0, atol=1e-9)
    assert not [n for n in d.warnings if "you gave" in n]


def test_detr_twin_with_a_changing_ratio_is_named():
    cols = detr_columns(layers=0)
    cols["train_loss_bbox"][N // 2 :] *= 2.0  # the gain doubled mid-run
    cs = discover_components(_log("detr", cols))
    bbox = cs.get("bbox")
    assert bbox.weight_source == "twins" and "NOT constant" in bbox.why
    assert any("varies by" in n and "bbox" in n for n in cs.notes)


# --- YOLOX: the IoU term is logged × 5 ----------------------------------------------------------------------


def yolox_columns() -> dict[str, np.ndarray]:
    iou, conf, cls = _decay(seed=1) * 0.8, _decay(seed=2) * 2.0, _decay(seed=3)
    l1 = np.where(np.arange(N) >= N - 10, _decay(seed=4) * 0.3, 0.0)  # L1 switched on for the last epochs
    cols = {
        "iou_loss": np.round(5.0 * iou, 1),
        "conf_loss": np.round(conf, 1),
        "cls_loss": np.round(cls, 1),
        "l1_loss": np.round(l1, 1),
    }
    cols["total_loss"] = np.round(sum(cols.values()), 1)  # trainer.py prints with `{:.1f}`
    return cols


def test_yolox_iou_is_logged_weighted_with_its_reg_weight():
    log = _log("yolox", yolox_columns())
    cs = discover_components(log)
    iou = cs.get("iou")
    assert iou.weight == 5.0 and iou.weight_source == "default" and "reg_weight" in iou.why
    assert iou.logged == "weighted" and iou.logged_source == "total"
    assert all(c.weight == 1.0 for c in cs.components if c.name != "iou")
    dec = decompose(log, cs)
    np.testing.assert_allclose(dec.raw["iou"], log.series["iou_loss"].values / 5.0)
    np.testing.assert_allclose(dec.weighted["iou"], log.series["iou_loss"].values)


def test_yolox_weight_the_warning_invites_changes_nothing_and_a_wrong_one_is_named():
    log = _log("yolox", yolox_columns())
    same = diagnose(log, weights_override={"iou": 5.0})
    np.testing.assert_allclose(same.decomposition.weighted["iou"], log.series["iou_loss"].values)
    assert not [w for w in same.warnings if "you gave" in w]
    wrong = diagnose(log, weights_override={"iou": 2.0})
    assert any("you gave weight 2" in w and "5" in w and "reg_weight" in w for w in wrong.warnings)


def test_a_logged_override_that_contradicts_the_total_is_named():
    log = _log("yolox", yolox_columns())
    d = diagnose(log, logged_override={"iou": "raw"})
    assert d.components.get("iou").logged == "raw" and d.components.get("iou").logged_source == "override"
    assert any("you said it is logged raw" in w for w in d.warnings)


# --- the logged total decides when nothing else does --------------------------------------------------------


def test_raw_terms_and_a_weighted_total_give_the_fitted_weights():
    bbox, cls = _decay(seed=5), _decay(seed=6) * 3
    cols = {"loss_bbox": np.round(bbox, 4), "loss_cls": np.round(cls, 4)}
    cols["loss"] = np.round(7.5 * cols["loss_bbox"] + 0.5 * cols["loss_cls"], 4)
    cs = discover_components(_log("generic", cols))
    got = {c.name: (c.weight, c.weight_source, c.logged) for c in cs.components}
    assert got["bbox"][0] == pytest.approx(7.5, rel=1e-3) and got["cls"][0] == pytest.approx(0.5, rel=1e-3)
    assert {v[1:] for v in got.values()} == {("fit to total", "raw")}
    assert "least squares" in cs.total_evidence


def test_collinear_terms_give_no_fitted_weights():
    a = _decay(seed=7)
    cols = {"loss_a": a, "loss_b": 2 * a, "loss": 2 * a + 3 * (2 * a)}
    cs = discover_components(_log("generic", cols))
    assert all(c.weight_source == "unknown" for c in cs.components)
    assert any("matches no combination" in n and "collinear" in n for n in cs.notes)


def test_series_without_loss_in_their_names_that_add_up_to_the_total_are_terms():
    parts = {"bbox": _decay(seed=8) * 2, "cls": _decay(seed=9), "supcon": _decay(seed=11) * 0.5}
    cols = {k: np.round(v, 5) for k, v in parts.items()}
    cols["total"] = np.round(sum(cols.values()), 5)
    cols["grad_norm"] = _decay(seed=12) * 10  # never a term
    cols["map50"] = np.linspace(0, 0.5, N)
    cs = discover_components(_log("generic", cols))
    assert sorted(cs.names) == ["bbox", "cls", "supcon"]
    assert all(
        c.logged == "weighted" and c.logged_source == "total" and c.weight is None for c in cs.components
    )
    assert any("no series is named as a loss" in n for n in cs.notes)


def test_a_total_that_is_not_a_sum_of_the_numbers_gives_no_terms():
    cols = {"total": _decay(seed=13), "bbox": _decay(seed=14), "cls": _decay(seed=15)}
    d = diagnose(_log("generic", cols))
    assert d.components.components == () and not d.judged
    assert "no loss components were recognised" in d.not_judged[0]


def test_print_precision_bounds_exactness():
    from inspector.loss_evidence import check_total, print_bound

    np.testing.assert_allclose(print_bound(np.array([0.1235, 4.746e-05, 3.0, 1 / 3])), [5e-5, 5e-9, 0.5, 0.0])
    a, b = np.round(_decay(seed=16), 4), np.round(_decay(seed=17), 4)
    exact = check_total(np.round(a + b, 4), {"a": a, "b": b}, {})
    assert exact.verdict == "weighted" and exact.exact
    off = check_total(np.round((a + b) * 1.01, 4), {"a": a, "b": b}, {})
    assert not off.exact


def test_format_definition_contradicted_by_the_total_is_named():
    # A fork that logs raw terms under Ultralytics' names, with the total of gain × term.
    box, cls = _decay(seed=18), _decay(seed=19)
    cols = {"train/box_loss": box, "train/cls_loss": cls, "train/loss": 7.5 * box + 0.5 * cls}
    cs = discover_components(
        _log("ultralytics", cols, {"loss_weights": {"box": 7.5, "cls": 0.5}, "weights_file": "args.yaml"})
    )
    assert {c.logged for c in cs.components} == {"raw"}
    assert all(c.logged_source == "total" for c in cs.components)
    assert any("definition says it is logged weighted" in n for n in cs.notes)
    assert cs.get("bbox").weight_source == "config" and "args.yaml" in cs.get("bbox").why


def test_native_raw_terms_with_config_weights_are_confirmed_by_the_total():
    parts = {"bbox": _decay(seed=20), "cls": _decay(seed=21)}
    w = {"bbox": 7.5, "cls": 0.5}
    cols = {f"loss/{k}": v for k, v in parts.items()} | {
        "loss/total": sum(w[k] * v for k, v in parts.items())
    }
    cs = discover_components(_log("native", cols, {"loss_weights": w}))
    assert all(c.logged == "raw" and c.logged_source == "total" for c in cs.components)
    assert not cs.notes


def test_native_raw_terms_that_add_up_as_logged_have_weight_one():
    parts = {"bbox": _decay(seed=22), "cls": _decay(seed=23)}
    cols = {f"loss/{k}": v for k, v in parts.items()} | {"loss/total": parts["bbox"] + parts["cls"]}
    cs = discover_components(_log("native", cols))
    assert all(
        c.weight == 1.0 and c.weight_source == "fit to total" and c.logged == "raw" for c in cs.components
    )


def test_json_says_why_for_every_component():
    d = diagnose(_log("detr", detr_columns()))
    out = to_json_dict(d, "log.txt", "detr")
    c = out["components"][0]
    assert set(c) == {
        "name",
        "metric",
        "weight",
        "weight_source",
        "logged",
        "logged_source",
        "why",
        "family",
        "group",
        "twin",
    }
    assert c["weight_source"] == "twins" and "train_loss_ce / train_loss_ce_unscaled" in c["why"]
    assert out["groups"]["families"]["giou"] and "aux layer 0" in out["groups"]["copies"]


# --- never "nothing looks wrong" about nothing --------------------------------------------------------------


def test_a_log_without_components_is_not_judged_and_lists_its_metrics():
    from inspector.report import to_markdown

    d = diagnose(_log("generic", {"accuracy": np.linspace(0, 1, N), "lr": np.full(N, 0.1)}))
    assert not d.judged and d.findings == ()
    md = to_markdown(d)
    assert "**Not judged:**" in md and "`accuracy`" in md and "nothing in this log looks wrong" not in md
    out = to_json_dict(d, "x", "jsonl")
    assert out["judged"] is False and out["not_judged"]


def test_too_few_points_are_not_judged():
    d = diagnose(
        _log("native", {"loss/bbox": np.array([1.0, 0.9, 0.8]), "loss/cls": np.array([1.0, 1.1, 0.9])})
    )
    assert not d.judged and "only 3 logged step" in d.not_judged[0]


def test_eval_metrics_summary_skips_undefined_points():
    n = 10
    cols = {
        "loss_bbox": _decay(n),
        "loss_cls": _decay(n, seed=2),
        "coco/bbox_mAP": np.array([0.1, 0.2, 0.3, 0.25, 0.2, 0.3, 0.35, 0.3, 0.32, 0.31]),
        "coco/bbox_mAP_s": np.full(n, -1.0),
    }
    d = diagnose(_log("mmdet", cols))
    by = {e.name: e for e in d.eval_metrics}
    assert (
        by["coco/bbox_mAP"].best == 0.35
        and by["coco/bbox_mAP"].last == 0.31
        and by["coco/bbox_mAP"].points == 10
    )
    assert by["coco/bbox_mAP_s"].points == 0 and by["coco/bbox_mAP_s"].undefined == 10
    assert by["coco/bbox_mAP_s"].best is None


def test_rules_with_too_few_points_say_so():
    n = 12
    d = diagnose(_log("native", {"loss/bbox": _decay(n), "loss/cls": _decay(n, seed=3)}))
    assert d.judged and any("spikes and regime changes: 12 logged step(s), 25 needed" in s for s in d.skipped)
    out = to_json_dict(d, "x", "native")
    assert out["skipped_rules"] == list(d.skipped)
    from inspector.report import to_markdown

    assert "Not judged for lack of points: spikes" in to_markdown(d)
