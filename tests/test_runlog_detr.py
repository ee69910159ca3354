"""DETR-family log.txt reader: inputs built from the trainers' definitions (detr/main.py log_stats,
detr/engine.py MetricLogger keys, each descendant's criterion names), then the messy variants."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from inspector.errors import InspectorError
from inspector.runlog import detect, jsonlines, read_log
from inspector.runlog.readers import detr
from inspector.runlog.registry import HEAD_BYTES

N_PARAMETERS = 41302368
COCO = [0.42, 0.62, 0.44, 0.21, 0.46, 0.61, 0.33, 0.53, 0.57, 0.32, 0.62, 0.78]


def coco(epoch: int, absent_small: bool = False) -> list[float]:
    stats = [v * (1 + 0.01 * epoch) for v in COCO]
    if absent_small:  # pycocotools: no ground truth in the small area range
        stats[3] = stats[9] = -1.0
    return stats


def raw(epoch: int, name: str) -> float:
    """A raw loss value, distinct per loss and epoch (so a mixed-up key shows)."""
    return round(1.0 / (epoch + 2) + 0.01 * (sum(map(ord, name)) % 97), 6)


def criterion_stats(
    epoch: int, losses: dict[str, float], extra: tuple[str, ...] = (), unscaled: bool = True
) -> dict[str, float]:
    """What detr/engine.py's MetricLogger averages: loss, each loss × gain, `<name>_unscaled` of every loss.

    `losses` maps each weight_dict key to its gain; `extra` are loss_dict keys without a gain (class_error,
    cardinality_error, …): logged only as `_unscaled`. Without `unscaled` (RT-DETR, D-FINE) the criterion
    already returns loss × gain and only those are logged.
    """
    scaled = {k: raw(epoch, k) * g for k, g in losses.items()}
    out = {"loss": sum(scaled.values()), **scaled}
    if unscaled:
        out.update({f"{k}_unscaled": raw(epoch, k) for k in [*losses, *extra]})
    return out


def with_copies(base: dict[str, float], suffixes: list[str]) -> dict[str, float]:
    """detr.py's aux_weight_dict: every base key again with each suffix, same gain."""
    return {**base, **{k + s: g for s in suffixes for k, g in base.items()}}


def log_stats(epoch: int, train: dict, test: dict) -> dict:
    """detr/main.py: {train_*, test_*, epoch, n_parameters}, in that order."""
    return {
        **{f"train_{k}": v for k, v in train.items()},
        **{f"test_{k}": v for k, v in test.items()},
        "epoch": epoch,
        "n_parameters": N_PARAMETERS,
    }


LAYERS = [f"_{i}" for i in range(5)]  # dec_layers 6 → aux copies _0.._4
DETR_GAINS = with_copies({"loss_ce": 1, "loss_bbox": 5, "loss_giou": 2}, LAYERS)  # detr/models/detr.py
DETR_EXTRA = tuple(k + s for k in ("class_error", "cardinality_error") for s in ["", *LAYERS])


def detr_line(epoch: int, **kw) -> dict:
    train = {"lr": 1e-4, "class_error": 40.0 - epoch, **criterion_stats(epoch, DETR_GAINS, DETR_EXTRA)}
    test = {
        "class_error": 45.0 - epoch,
        **criterion_stats(epoch, DETR_GAINS, DETR_EXTRA),
        "coco_eval_bbox": coco(epoch, **kw),
    }
    return log_stats(epoch, train, test)


def deformable_line(epoch: int) -> dict:
    # Deformable-DETR models/deformable_detr.py: cls_loss_coef 2, aux _0.._4, two-stage _enc;
    # its engine.py also logs grad_norm.
    gains = with_copies({"loss_ce": 2, "loss_bbox": 5, "loss_giou": 2}, [*LAYERS, "_enc"])
    extra = tuple(k + s for k in ("class_error", "cardinality_error") for s in ["", *LAYERS, "_enc"])
    train = {
        "lr": 2e-4,
        "class_error": 30.0,
        "grad_norm": 25.0 + epoch,
        **criterion_stats(epoch, gains, extra),
    }
    test = {"class_error": 31.0, **criterion_stats(epoch, gains, extra), "coco_eval_bbox": coco(epoch)}
    return log_stats(epoch, train, test)


def dino_line(epoch: int) -> dict:
    # DINO models/dino/dino.py build_dino: base + _dn, clean copies _0.._4 (incl. _dn_i), _interm (no dn).
    base = {"loss_ce": 1.0, "loss_bbox": 5.0, "loss_giou": 2.0}
    clean = {**base, **{k + "_dn": g for k, g in base.items()}}
    gains = {**with_copies(clean, LAYERS), **{k + "_interm": g for k, g in base.items()}}
    extra = tuple(k + s for k in ("loss_xy", "loss_hw", "cardinality_error") for s in ["", "_dn", *LAYERS])
    train = {"lr": 1e-4, "class_error": 20.0, **criterion_stats(epoch, gains, extra)}
    test = {"class_error": 22.0, **criterion_stats(epoch, gains, extra), "coco_eval_bbox": coco(epoch)}
    line = {
        **{f"train_{k}": v for k, v in train.items()},
        **{f"test_{k}": v for k, v in test.items()},
        "ema_test_coco_eval_bbox": coco(epoch + 1),
    }
    # DINO main.py: best_map_holder.summary(), then epoch/n_parameters, now_time and epoch_time strings.
    line.update(
        {
            "best_res": COCO[0],
            "best_ep": epoch,
            "epoch": epoch,
            "n_parameters": N_PARAMETERS,
            "now_time": "2022-06-01 12:00:00.000000",
            "epoch_time": "1:02:03",
        }
    )
    return line


RTDETR_BASE = {"loss_vfl": 1, "loss_bbox": 5, "loss_giou": 2}  # rtdetr_r50vd.yml SetCriterion.weight_dict


def rtdetr_line(epoch: int) -> dict:
    # rtdetr_criterion.py: losses × weight_dict, aux copies _aux_0.._aux_4, denoising _dn_0.._dn_5;
    # no _unscaled twins.
    gains = with_copies(RTDETR_BASE, [f"_aux_{i}" for i in range(5)] + [f"_dn_{i}" for i in range(6)])
    train = {**criterion_stats(epoch, gains, unscaled=False), "lr": 1e-4}
    return log_stats(epoch, train, {"coco_eval_bbox": coco(epoch)})


DFINE_BASE = {"loss_vfl": 1, "loss_bbox": 5, "loss_giou": 2, "loss_fgl": 0.15, "loss_ddf": 1.5}


def dfine_line(epoch: int) -> dict:
    # D-FINE dfine_criterion.py: _aux_i, _pre, _enc_0, _dn_i, _dn_pre copies, already × weight_dict.
    copies = [f"_aux_{i}" for i in range(5)] + ["_pre", "_enc_0"]
    copies += [f"_dn_{i}" for i in range(6)] + ["_dn_pre"]
    gains = with_copies(DFINE_BASE, copies)
    train = {**criterion_stats(epoch, gains, unscaled=False), "lr": 1.25e-5}
    return log_stats(epoch, train, {"coco_eval_bbox": coco(epoch)})


def write(path: Path, lines: list, newline: str = "\n") -> Path:
    path.write_bytes(
        newline.join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode() + newline.encode()
    )
    return path


# --- each family member, read from its definition ---------------------------------------------------


def test_detr_every_key_kept_and_coco_stats_named(tmp_path):
    lines = [detr_line(e) for e in range(4)]
    path = write(tmp_path / "log.txt", lines)
    assert detect(path) == "detr"
    log = read_log(path)
    assert (log.format, log.framework, log.step_unit) == ("detr", "detr", "epoch")
    expected = {k for k in lines[0] if k not in ("epoch", "n_parameters", "test_coco_eval_bbox")}
    expected |= {f"test/coco_eval_bbox/{n}" for n in detr.COCO_STATS}
    assert set(log.series) == expected
    assert log.series["train_loss_bbox_0"].values.tolist() == [x["train_loss_bbox_0"] for x in lines]
    unscaled = [x["train_loss_bbox_unscaled"] for x in lines]
    assert log.series["train_loss_bbox_unscaled"].values.tolist() == unscaled
    assert log.series["test/coco_eval_bbox/AP50"].values.tolist() == [coco(e)[1] for e in range(4)]
    assert log.series["test/coco_eval_bbox/ARl"].values.tolist() == [coco(e)[11] for e in range(4)]
    assert log.series["train_loss"].steps.tolist() == [0, 1, 2, 3]
    assert log.config == {"n_parameters": N_PARAMETERS}  # no companion: no gains
    assert not log.warnings and len(log.segments) == 1


def test_coco_minus_one_becomes_nan_with_a_warning(tmp_path):
    log = read_log(write(tmp_path / "log.txt", [detr_line(e, absent_small=True) for e in range(3)]))
    assert np.isnan(log.series["test/coco_eval_bbox/APs"].values).all()
    assert np.isnan(log.series["test/coco_eval_bbox/ARs"].values).all()
    assert log.series["test/coco_eval_bbox/APm"].values.tolist() == [coco(e)[4] for e in range(3)]
    assert not any((s.values == -1).any() for s in log.series.values())
    assert any("-1" in w and "test/coco_eval_bbox/APs: 3" in w for w in log.warnings)


def test_segmentation_masks_stats(tmp_path):
    lines = []
    for e in range(2):
        line = detr_line(e)
        line["test_coco_eval_masks"] = coco(e + 5)
        lines.append(line)
    log = read_log(write(tmp_path / "log.txt", lines))
    assert log.series["test/coco_eval_masks/AP"].values.tolist() == [coco(5)[0], coco(6)[0]]
    assert "test/coco_eval_bbox/AP" in log.series


def test_deformable_two_stage(tmp_path):
    lines = [deformable_line(e) for e in range(3)]
    log = read_log(write(tmp_path / "log.txt", lines))
    for name in ("train_loss_ce_enc", "train_loss_giou_enc_unscaled", "test_loss_bbox_4", "train_grad_norm"):
        assert log.series[name].values.tolist() == [x[name] for x in lines], name


def test_dino_dn_interm_ema_and_strings(tmp_path):
    lines = [dino_line(e) for e in range(3)]
    path = write(tmp_path / "log.txt", lines)
    assert detect(path) == "detr"
    log = read_log(path)
    for name in (
        "train_loss_ce_dn",
        "train_loss_bbox_dn_3",
        "train_loss_giou_interm",
        "train_loss_xy_dn_unscaled",
        "best_res",
        "best_ep",
    ):
        assert log.series[name].values.tolist() == [x[name] for x in lines], name
    assert log.series["ema_test/coco_eval_bbox/AP"].values.tolist() == [coco(e + 1)[0] for e in range(3)]
    assert "now_time" not in log.series and "epoch_time" not in log.series


def test_rtdetr(tmp_path):
    lines = [rtdetr_line(e) for e in range(3)]
    log = read_log(write(tmp_path / "log.txt", lines))
    assert log.format == "detr"
    assert not any(k.endswith("_unscaled") for k in log.series)
    for name in ("train_loss_vfl", "train_loss_bbox_aux_4", "train_loss_giou_dn_5", "train_lr"):
        assert log.series[name].values.tolist() == [x[name] for x in lines], name
    assert "test/coco_eval_bbox/AP75" in log.series


def test_dfine(tmp_path):
    lines = [dfine_line(e) for e in range(3)]
    log = read_log(write(tmp_path / "log.txt", lines))
    for name in ("train_loss_fgl", "train_loss_ddf_pre", "train_loss_vfl_enc_0", "train_loss_bbox_dn_pre"):
        assert log.series[name].values.tolist() == [x[name] for x in lines], name


# --- messy variants ------------------------------------------------------------------------------------


def test_string_values_lists_and_null(tmp_path):
    lines = [detr_line(e) for e in range(4)]
    lines[0]["train_lr"] = "1e-4"  # some forks log strings
    lines[1]["train_lr"] = [1e-4, 1e-5]  # or one lr per param group
    lines[2]["train_class_error"] = None
    lines[3]["train_extra"] = [1, 2, 3]
    log = read_log(write(tmp_path / "log.txt", lines))
    assert log.series["train_lr"].steps.tolist() == [0, 2, 3]
    assert log.series["train_lr"].values[0] == 1e-4
    assert log.series["train_class_error"].steps.tolist() == [0, 1, 3]
    assert not any("[" in name for name in log.series)
    skipped = next(w for w in log.warnings if "list values skipped" in w)
    assert "train_lr" in skipped and "train_extra" in skipped


def test_nan_and_infinity_literals(tmp_path):
    lines = [json.dumps(detr_line(e)) for e in range(3)]

    def literal(line: str, key: str, epoch: int, text: str) -> str:
        return line.replace(f'"{key}": {json.dumps(detr_line(epoch)[key])}', f'"{key}": {text}')

    lines[1] = literal(lines[1], "train_loss", 1, "NaN")
    lines[2] = literal(lines[2], "test_loss", 2, "Infinity")
    log = read_log(write(tmp_path / "log.txt", lines))
    assert math.isnan(log.series["train_loss"].values[1]) and math.isnan(log.series["test_loss"].values[2])
    assert log.non_finite == {"train_loss": 1, "test_loss": 1}
    assert log.series["test/coco_eval_bbox/AP"].steps.tolist() == [0, 1, 2]  # lists on the NaN lines too


def test_appended_relaunch_is_a_segment(tmp_path):
    relaunch = [detr_line(e) for e in range(3)]
    for line in relaunch:
        line["train_loss"] += 100.0
    lines = [detr_line(e) for e in range(5)] + relaunch
    log = read_log(write(tmp_path / "log.txt", lines))
    assert [(s.first_step, s.last_step) for s in log.segments] == [(0, 4), (0, 2)]
    # assemble: the later launch wins where the two overlap.
    assert log.series["train_loss"].steps.tolist() == [0, 1, 2]
    assert log.series["train_loss"].values.tolist() == [x["train_loss"] for x in relaunch]
    assert any("restart" in w for w in log.warnings)


def test_truncated_last_line_and_a_line_that_is_not_json(tmp_path):
    body = [json.dumps(detr_line(e)) for e in range(4)]
    body.insert(2, "Traceback (most recent call last):")
    text = "\n".join(body) + "\n" + json.dumps(detr_line(4))[:200]
    path = tmp_path / "log.txt"
    path.write_text(text)
    log = read_log(path)
    assert log.series["train_loss"].steps.tolist() == [0, 1, 2, 3]
    assert any("malformed" in w and "line 3" in w for w in log.warnings)
    assert any("last line (6) is incomplete" in w for w in log.warnings)


def test_crlf_and_a_stray_non_utf8_byte(tmp_path):
    lines = [dino_line(e) for e in range(3)]
    path = write(tmp_path / "log.txt", lines, newline="\r\n")
    data = path.read_bytes().replace(b'"1:02:03"', b'"1:02:03\xff"', 1)
    path.write_bytes(data)
    log = read_log(path)
    assert log.series["train_loss_ce"].steps.tolist() == [0, 1, 2]
    assert log.series["test/coco_eval_bbox/AP"].steps.tolist() == [0, 1, 2]


def test_rows_without_an_epoch_are_named(tmp_path):
    # DINO main.py --eval appends {test_*} with no epoch to the same log.txt.
    lines = [dino_line(e) for e in range(2)] + [{"test_coco_eval_bbox": coco(9)}]
    log = read_log(write(tmp_path / "log.txt", lines))
    assert log.series["test/coco_eval_bbox/AP"].steps.tolist() == [0, 1]
    assert any("without a numeric 'epoch'" in w and "line 3" in w for w in log.warnings)


def test_short_and_long_coco_lists_are_said(tmp_path):
    lines = [detr_line(e) for e in range(3)]
    lines[1]["test_coco_eval_bbox"] = coco(1)[:6]
    lines[2]["test_coco_eval_bbox"] = coco(2) + [0.5]
    log = read_log(write(tmp_path / "log.txt", lines))
    assert log.series["test/coco_eval_bbox/AR1"].steps.tolist() == [0, 2]
    assert any("fewer than the 12" in w and "line 2" in w for w in log.warnings)
    assert any("more than the 12" in w and "line 3" in w for w in log.warnings)


def test_changing_n_parameters_is_said(tmp_path):
    lines = [detr_line(e) for e in range(3)]
    lines[2]["n_parameters"] = 123
    log = read_log(write(tmp_path / "log.txt", lines))
    assert log.config["n_parameters"] == 123 and "n_parameters" not in log.series
    assert any("n_parameters' changes" in w and "line 3" in w for w in log.warnings)


@pytest.mark.parametrize("body", [b"", b"\x00\x01\x02binary\xff" * 100, b"\n\n"])
def test_empty_or_binary_file_raises_naming_it(tmp_path, body):
    path = tmp_path / "log.txt"
    path.write_bytes(body)
    with pytest.raises(InspectorError, match="log.txt"):
        read_log(path, format="detr")


def test_json_lines_without_epoch_raise(tmp_path):
    path = write(tmp_path / "log.txt", [{"train_loss": 1.0}, {"train_loss": 0.5}])
    with pytest.raises(InspectorError, match="epoch"):
        read_log(path, format="detr")


# --- detection: claims the family, nothing else ---------------------------------------------------------


@pytest.mark.parametrize(
    "row",
    [
        {"epoch": 1, "train_loss": 0.5, "val_loss": 0.6},  # a generic epoch log
        {"epoch": 1, "train_loss_bbox": 0.5, "lr": 0.1},
        {"step": 10, "train_loss_ce_unscaled": 1.0},  # no epoch
        {"mode": "train", "epoch": 1, "iter": 50, "lr": 0.1, "loss": 1.0},  # mmdet 2.x
        {"iteration": 19, "total_loss": 1.2, "data_time": 0.1, "eta_seconds": 5},  # detectron2
    ],
)
def test_other_json_lines_are_not_claimed(row):
    head = (json.dumps(row) + "\n").encode()
    assert detr.sniff(Path("x"), head) == 0.0


def test_samples_keep_their_format(samples):
    for path in sorted(samples.rglob("*")):
        if path.is_file() and path.suffix not in (".yaml", ".md"):
            assert detect(path) != "detr", path


def test_a_first_line_longer_than_the_head_is_still_claimed(tmp_path):
    line = detr_line(0)
    # A per-class AP table (some forks) makes the first line longer than the head detection reads.
    line.update({f"test_AP_class_{i}": 0.1 for i in range(HEAD_BYTES // 20)})
    line = {k: line[k] for k in sorted(line, key=lambda k: k == "epoch")}  # epoch last, as main.py
    path = write(tmp_path / "log.txt", [line, detr_line(1)])
    assert len(json.dumps(line)) > HEAD_BYTES
    assert detect(path) == "detr"


# --- gains from a companion -------------------------------------------------------------------------------


def test_detr_args_yaml_gains_on_every_copy(tmp_path):
    path = write(tmp_path / "log.txt", [detr_line(e) for e in range(2)])
    args = tmp_path / "args.yaml"
    args.write_text("lr: 0.0001\nbbox_loss_coef: 5\ngiou_loss_coef: 2\neos_coef: 0.1\nset_cost_bbox: 5\n")
    log = read_log(path, companions=[args])
    weights = log.config["loss_weights"]
    assert log.config["weights_file"] == "args.yaml"
    expected = {
        f"{split}_{k}{s}": g
        for split in ("train", "test")
        for s in ["", *LAYERS]
        for k, g in (("loss_bbox", 5.0), ("loss_giou", 2.0))
    }
    # DETR has no cls_loss_coef (loss_ce's 1 is in its code): not stated, so nothing is added for it.
    assert weights == expected


def test_deformable_namespace_args_txt(tmp_path):
    path = write(tmp_path / "log.txt", [deformable_line(e) for e in range(2)])
    args = tmp_path / "args.txt"
    args.write_text(
        "Namespace(aux_loss=True, bbox_loss_coef=5.0, cls_loss_coef=2.0, giou_loss_coef=2.0, "
        "lr_backbone_names=['backbone.0'], masks=False, two_stage=True, frozen_weights=None)\n"
    )
    log = read_log(path, companions=[args])
    weights = log.config["loss_weights"]
    assert weights["train_loss_ce_enc"] == 2.0 and weights["test_loss_ce_3"] == 2.0
    assert weights["train_loss_bbox_enc"] == 5.0
    assert not any(k.endswith("_unscaled") for k in weights)


def test_dino_python_config_interm(tmp_path):
    path = write(tmp_path / "log.txt", [dino_line(e) for e in range(2)])
    cfg = tmp_path / "config_cfg.py"
    cfg.write_text(
        "cls_loss_coef = 1.0\nbbox_loss_coef = 5.0\ngiou_loss_coef = 2.0\n"
        "interm_loss_coef = 1.0\nno_interm_box_loss = True\nenc_loss_coef = 1.0\n"
    )
    log = read_log(path, companions=[cfg])
    weights = log.config["loss_weights"]
    assert weights["train_loss_bbox_dn_2"] == 5.0 and weights["train_loss_ce_dn"] == 1.0
    assert weights["train_loss_ce_interm"] == 1.0 and weights["train_loss_bbox_interm"] == 0.0
    assert "train_loss_xy" not in weights
    assert any("enc_loss_coef" in w and "ignored" in w for w in log.warnings)


def test_dino_config_without_interm_coef_says_so(tmp_path):
    path = write(tmp_path / "log.txt", [dino_line(e) for e in range(2)])
    cfg = tmp_path / "config_cfg.py"
    cfg.write_text("cls_loss_coef = 1.0\nbbox_loss_coef = 5.0\ngiou_loss_coef = 2.0\n")
    log = read_log(path, companions=[cfg])
    assert "train_loss_ce_interm" not in log.config["loss_weights"]
    assert log.config["loss_weights"]["train_loss_ce"] == 1.0
    assert any("interm_loss_coef" in w and "train_loss_ce_interm" in w for w in log.warnings)


def test_dn_detr_tgt_losses(tmp_path):
    # DN-DETR DABDETR.py: weight_dict['tgt_loss_ce'] = cls_loss_coef …; config.json is vars(args).
    gains = with_copies(
        {
            "loss_ce": 1,
            "loss_bbox": 5,
            "loss_giou": 2,
            "tgt_loss_ce": 1,
            "tgt_loss_bbox": 5,
            "tgt_loss_giou": 2,
        },
        LAYERS,
    )
    lines = [
        log_stats(e, {"lr": 1e-4, **criterion_stats(e, gains)}, {"coco_eval_bbox": coco(e)}) for e in range(2)
    ]
    path = write(tmp_path / "log.txt", lines)
    cfg = tmp_path / "config.json"
    args = {"cls_loss_coef": 1, "bbox_loss_coef": 5, "giou_loss_coef": 2, "use_dn": True}
    cfg.write_text(json.dumps(args, indent=2))
    weights = read_log(path, companions=[cfg]).config["loss_weights"]
    assert weights["train_tgt_loss_bbox_4"] == 5.0 and weights["train_tgt_loss_ce"] == 1.0


def test_rtdetr_yaml_weight_dict_not_the_matcher(tmp_path):
    path = write(tmp_path / "log.txt", [rtdetr_line(e) for e in range(2)])
    cfg = tmp_path / "rtdetr_r50vd.yml"
    cfg.write_text(
        "criterion: SetCriterion\nSetCriterion:\n"
        "  weight_dict: {loss_vfl: 1, loss_bbox: 5, loss_giou: 2,}\n"
        "  losses: ['vfl', 'boxes', ]\n  matcher:\n    type: HungarianMatcher\n"
        "    weight_dict: {cost_class: 2, cost_bbox: 5, cost_giou: 2}\n"
    )
    log = read_log(path, companions=[cfg])
    weights = log.config["loss_weights"]
    assert weights["train_loss_vfl"] == 1.0 and weights["train_loss_bbox_aux_2"] == 5.0
    assert weights["train_loss_giou_dn_5"] == 2.0 and "train_loss" not in weights
    assert log.config["weights_file"] == "rtdetr_r50vd.yml"


def test_dfine_yaml(tmp_path):
    path = write(tmp_path / "log.txt", [dfine_line(e) for e in range(2)])
    cfg = tmp_path / "dfine_hgnetv2.yml"
    cfg.write_text(
        "DFINECriterion:\n  weight_dict: {loss_vfl: 1, loss_bbox: 5, loss_giou: 2, "
        "loss_fgl: 0.15, loss_ddf: 1.5}\n"
    )
    weights = read_log(path, companions=[cfg]).config["loss_weights"]
    assert weights["train_loss_fgl_pre"] == 0.15 and weights["train_loss_ddf_dn_pre"] == 1.5
    assert weights["train_loss_vfl_enc_0"] == 1.0


def test_companion_without_gains_adds_nothing(tmp_path):
    path = write(tmp_path / "log.txt", [rtdetr_line(e) for e in range(2)])
    cfg = tmp_path / "rtdetr_r50vd_6x_coco.yml"
    cfg.write_text(
        "__include__: ['../dataset/coco_detection.yml', './include/rtdetr_r50vd.yml']\nepoches: 72\n"
    )
    log = read_log(path, companions=[cfg])
    assert "loss_weights" not in log.config and "weights_file" not in log.config
    assert any("states no loss gains" in w and "include" in w for w in log.warnings)


def test_bad_gains_are_ignored_with_a_warning(tmp_path):
    path = write(tmp_path / "log.txt", [detr_line(e) for e in range(2)])
    cfg = tmp_path / "args.yaml"
    cfg.write_text("bbox_loss_coef: -5\ngiou_loss_coef: .nan\ncls_loss_coef: '2'\nmask_loss_coef: 1\n")
    log = read_log(path, companions=[cfg])
    assert "loss_weights" not in log.config  # mask_loss_coef is valid but the log has no mask loss
    assert any("loss_bbox is negative" in w for w in log.warnings)
    assert any("loss_giou is not finite" in w for w in log.warnings)
    assert any("loss_ce is not a number" in w for w in log.warnings)


def test_broken_companion_keeps_the_log(tmp_path):
    path = write(tmp_path / "log.txt", [detr_line(e) for e in range(2)])
    cfg = tmp_path / "args.yaml"
    cfg.write_text("bbox_loss_coef: [unclosed\n")
    log = read_log(path, companions=[cfg])
    assert "train_loss" in log.series and "loss_weights" not in log.config
    assert any(w.startswith("args.yaml ignored") for w in log.warnings)


# --- jsonlines' opt-in list opening ---------------------------------------------------------------------


def test_jsonlines_lists_alike_on_the_arrow_and_the_line_path(tmp_path):
    rows = [{"k": [1, 2, None, 4], "s": ["a"], "e": i} for i in range(200)]
    fast = write(tmp_path / "fast.jsonl", rows)
    slow = write(tmp_path / "slow.jsonl", [*rows[:-1], '{"k": [1, 2, null, 4], "s": ["a"], "e": NaN}'])
    a, b = jsonlines.load(fast, lists=True), jsonlines.load(slow, lists=True)
    assert set(a.lists) == set(b.lists) == {"k", "s"}
    assert set(a.numbers) == set(b.numbers) == {"k[0]", "k[1]", "k[3]", "e"}
    assert a.numbers["k[3]"].logged().tolist() == b.numbers["k[3]"].logged().tolist() == [4.0] * 200
    assert jsonlines.load(fast).lists == () and set(jsonlines.load(fast).numbers) == {"e"}


def test_generic_reader_unchanged_on_a_detr_log(tmp_path):
    path = write(tmp_path / "log.txt", [detr_line(e) for e in range(2)])
    log = read_log(path, format="jsonl")
    assert not any("[" in k or "coco_eval" in k for k in log.series)


# --- the readers' contract on a DETR log: every mutation, auto and every forced format ---------------------


def test_fuzz_mutations_of_a_detr_log_hold_the_contract(tmp_path):
    import random

    from fuzz_catalogue import load_fuzz

    fuzz = load_fuzz()
    lines = [dino_line(e) for e in range(3)]
    lines[1]["test_coco_eval_bbox"] = coco(1, absent_small=True)
    text = "\n".join(json.dumps(x) for x in lines) + "\n"
    data = text.replace('"best_ep": 1', '"best_ep": NaN').encode()
    source = fuzz.Source(
        "detr/log.txt",
        "log.txt",
        data,
        (("args.yaml", b"cls_loss_coef: 1\nbbox_loss_coef: 5\ninterm_loss_coef: 1\n"),),
    )
    failures = []
    for name, mutate in fuzz.MUTATIONS.items():
        if name.startswith("huge"):
            continue
        failures += fuzz.run_case(mutate(data, random.Random(name)), source, name, tmp_path)
    assert not failures, "\n".join(f"[{f.format}] {f.mutation}: {f.problem}" for f in failures)


def test_a_damaged_n_parameters_costs_only_itself(tmp_path):
    lines = [json.dumps(detr_line(e)) for e in range(3)]
    lines[2] = lines[2].replace(f'"n_parameters": {N_PARAMETERS}', '"n_parameters": 1e300')
    log = read_log(write(tmp_path / "log.txt", lines))
    assert log.config["n_parameters"] == N_PARAMETERS
    assert log.series["train_loss"].steps.tolist() == [0, 1, 2]


def test_lists_that_add_keys_on_every_row_stay_within_the_read_budget(tmp_path):
    from test_read_budget import MAX_INPUT, read_capped

    head = json.dumps(detr_line(0)).encode()
    rows = [head] + [
        json.dumps({"epoch": i, **{f"train_k{i}_{j}": list(range(64)) for j in range(5)}}).encode()
        for i in range(1, 2_000)
    ]
    data = b"\n".join(rows)[:MAX_INPUT] + b"\n"
    path = tmp_path / "log.txt"
    path.write_bytes(data)
    assert detect(path) == "detr"
    result = read_capped([path])
    assert result["ok"] and result["series"] <= 5_000, result
    assert any("list values skipped" in w for w in result["warnings"]), result["warnings"]


@pytest.mark.parametrize("name", ["args.txt", "config_args_all.json", "config.json"])
def test_config_dumps_given_beside_the_log_are_companions(tmp_path, name):
    # As uploaded in the app or given on the CLI: read_logs tells the config from the log by name (a
    # `.json` suffix alone would take Detectron2's metrics.json for a config).
    from inspector.runlog import read_logs

    path = write(tmp_path / "log.txt", [deformable_line(e) for e in range(2)])
    args = tmp_path / name
    args.write_text(
        "Namespace(bbox_loss_coef=5.0, cls_loss_coef=2.0, giou_loss_coef=2.0)\n"
        if name.endswith(".txt")
        else json.dumps({"bbox_loss_coef": 5.0, "cls_loss_coef": 2.0, "giou_loss_coef": 2.0})
    )
    log = read_logs([path, args])
    assert log.config["weights_file"] == name and log.config["loss_weights"]["train_loss_ce_enc"] == 2.0


def test_a_json_log_is_still_a_log_beside_a_yaml(tmp_path, samples):
    import shutil

    from inspector.runlog import read_logs

    metrics = tmp_path / "metrics.json"
    shutil.copy(samples / "detectron2_metrics/frcnn-fruits-eval/metrics.json", metrics)
    (tmp_path / "config.yaml").write_text("SOLVER:\n  BASE_LR: 0.00025\n")
    assert read_logs([metrics, tmp_path / "config.yaml"]).format == "detectron2_json"
