"""inspector/tide.py and the `errors` command: each TIDE error type alone, a mixed case, tidecv's counts and
dAP on random predictions, and the command from a checkpoint and from `evaluate --out` rows."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest
from tiny_model import save_tiny

from inspector.adapters import load_detector
from inspector.batch import (
    EpisodePlan,
    EvalSettings,
    evaluate_batch,
    image_records,
    read_result,
    run_meta,
    summarize,
    write_result,
)
from inspector.cli import errors as errors_command
from inspector.cli import main
from inspector.data import read_dataset
from inspector.data.shapes import write_coco_dataset, write_video_samples
from inspector.errors import InspectorError
from inspector.evaluate import ImageRecord, coco_map
from inspector.serialize import dumps
from inspector.tide import (
    ERROR_TYPES,
    LEVERS,
    MAX_DETS,
    breakdown_dict,
    classify_image,
    error_breakdown,
    scored_record,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

G = (0.0, 0.0, 10.0, 10.0)  # a 10×10 target
G2 = (20.0, 20.0, 30.0, 30.0)  # another, far from G
IOU_09 = (0.0, 0.0, 10.0, 9.0)  # IoU 0.9 with G
IOU_03 = (0.0, 0.0, 10.0, 3.0)  # IoU 0.3 with G
FAR = (50.0, 50.0, 60.0, 60.0)  # IoU 0 with G and G2


def image(gts=(), preds=()) -> ImageRecord:
    """An ImageRecord from gts [(box, label)] and preds [(box, score, label)]."""
    return (
        np.asarray([b for b, _ in gts], np.float32).reshape(-1, 4),
        np.asarray([c for _, c in gts], np.int64),
        np.asarray([b for b, _, _ in preds], np.float32).reshape(-1, 4),
        np.asarray([s for _, s, _ in preds], np.float32),
        np.asarray([c for _, _, c in preds], np.int64),
    )


# For each type: images holding only that error (count of it), and the same images fixed by hand, as the
# paper's oracle says, written out independently of inspector.tide.
ALONE = {
    # a class-1 prediction on a class-0 target, scored above class 1's true positive
    "cls": (
        [image([(G, 0), (G2, 1)], [(IOU_09, 0.9, 1), (G2, 0.5, 1)])],
        [image([(G, 0), (G2, 1)], [(IOU_09, 0.9, 0), (G2, 0.5, 1)])],  # its class becomes the target's
        1,
    ),
    # a prediction of the right class at IoU 0.3
    "loc": (
        [image([(G, 0)], [(IOU_03, 0.9, 0)])],
        [image([(G, 0)], [(G, 0.9, 0)])],  # its box becomes the target's
        1,
    ),
    # a class-1 prediction at IoU 0.3 with a class-0 target, scored above class 1's true positive
    "both": (
        [image([(G, 0), (G2, 1)], [(G, 0.5, 0), (G2, 0.5, 1), (IOU_03, 0.9, 1)])],
        [image([(G, 0), (G2, 1)], [(G, 0.5, 0), (G2, 0.5, 1)])],  # removed
        1,
    ),
    # a second box on a matched target, scored above another image's true positive
    "dupe": (
        [image([(G, 0)], [(G, 0.9, 0), (IOU_09, 0.8, 0)]), image([(G, 0)], [(G, 0.7, 0)])],
        [image([(G, 0)], [(G, 0.9, 0)]), image([(G, 0)], [(G, 0.7, 0)])],  # removed
        1,
    ),
    # a box on nothing, and one in an image without targets, both above the true positive
    "bkg": (
        [image([(G, 0)], [(G, 0.5, 0), (FAR, 0.9, 0)]), image([], [(G, 0.8, 0)])],
        [image([(G, 0)], [(G, 0.5, 0)]), image([], [])],  # removed
        2,
    ),
    # a target no prediction comes near
    "missed": (
        [image([(G, 0), (G2, 0)], [(G, 0.9, 0)])],
        [image([(G, 0)], [(G, 0.9, 0)])],  # the target leaves the ground truth
        1,
    ),
}


@pytest.mark.parametrize("kind", ERROR_TYPES)
def test_each_type_alone_is_counted_and_its_dap_is_the_fixed_coco_ap_gain(kind):
    records, fixed_by_hand, n = ALONE[kind]
    b = error_breakdown(records)
    assert {k: e.count for k, e in b.errors.items()} == {k: (n if k == kind else 0) for k in ERROR_TYPES}
    before, after = coco_map(records).map50, coco_map(fixed_by_hand).map50
    # fixing the only error leaves a perfect detector (pycocotools' precision divides by tp + fp + eps)
    assert before < 1.0 and after == pytest.approx(1.0)
    assert b.ap50 == before and b.errors[kind].dap == pytest.approx(after - before, abs=1e-12)
    assert all(b.errors[k].dap == 0.0 for k in ERROR_TYPES if k != kind)
    assert b.errors[kind].lever == LEVERS[kind]


def test_expected_ap_values_of_the_hand_built_cases():
    # 101-point interpolation: recall 0.5 reached at precision 1 covers 51 of the 101 recall points
    assert error_breakdown(ALONE["missed"][0]).ap50 == pytest.approx(51 / 101)
    assert error_breakdown(ALONE["loc"][0]).ap50 == 0.0
    assert error_breakdown(ALONE["cls"][0]).ap50 == pytest.approx(0.25)  # class 0: 0, class 1: 0.5
    assert error_breakdown(ALONE["dupe"][0]).ap50 == pytest.approx((51 + 50 * 2 / 3) / 101)


def test_mixed_case_counts_precedence_and_suppression():
    records = [
        # two loc errors at one unmatched target: the higher-scoring one is fixed, the other suppressed
        image([(G, 0)], [(IOU_03, 0.6, 0), ((0.0, 0.0, 10.0, 4.0), 0.7, 0)]),
        # IoU 0.33 with its own class's target and 0.9 with a class-0 target: loc, tested first as in
        # tidecv; its target is matched by a lower-scoring box, and the class-0 target, unclaimed, is missed
        image([(G, 0), (IOU_03, 1)], [(IOU_09, 0.8, 1), (IOU_03, 0.4, 1)]),
        # a cls error at a target that a true positive already matched (its fix removes it), a dupe, a bkg
        image([(G, 0)], [(G, 0.9, 0), (IOU_09, 0.85, 1), (IOU_09, 0.3, 0), (FAR, 0.2, 1)]),
        # a both error (class 1 at IoU 0.3 with a class-0 target, which is missed)
        image([(G, 0), (G2, 0)], [(G2, 0.5, 0), (IOU_03, 0.45, 1)]),
    ]
    b = error_breakdown(records)
    counts = {k: e.count for k, e in b.errors.items()}
    assert counts == {"cls": 1, "loc": 3, "both": 1, "dupe": 1, "bkg": 1, "missed": 2}
    assert (b.images, b.predictions, b.targets, b.true_positives, b.unscored) == (4, 10, 6, 3, 0)
    assert b.predictions == b.true_positives + sum(counts[k] for k in ERROR_TYPES if k != "missed")
    # targets: 3 matched + 2 missed + 1 unmatched that a loc error points at (image 0's)
    assert b.targets == b.true_positives + counts["missed"] + 1

    first = classify_image(records[0])
    assert first.pred_type == ("loc", "loc") and first.promoted.tolist() == [False, True]
    second = classify_image(records[1])
    assert second.pred_type == ("loc", None) and second.pred_gt.tolist() == [1, 1]
    assert not second.promoted[0]  # its own-class target is matched: fixing it removes it
    third = classify_image(records[2])
    assert third.pred_type == (None, "cls", "dupe", "bkg") and not third.promoted.any()

    # per class: a prediction's error counts under the class it predicted, a miss under its target's
    assert {k: e.count for k, e in b.per_class[1].errors.items()} == {
        "cls": 1,
        "loc": 1,
        "both": 1,
        "dupe": 0,
        "bkg": 1,
        "missed": 0,
    }
    # every class keeps gt under every fix here, so the per-class dAPs average to the overall dAP
    for kind in ERROR_TYPES:
        per_class = [c.errors[kind].dap for c in b.per_class.values()]
        assert np.mean(per_class) == pytest.approx(b.errors[kind].dap, abs=1e-12)
        assert b.errors[kind].dap >= 0.0


def test_iou_exactly_at_a_threshold_follows_cocos_bounds():
    half, tenth = (0.0, 0.0, 10.0, 5.0), (0.0, 0.0, 10.0, 1.0)  # IoU 0.5 and 0.1 with G, exactly
    # own class at IoU = t_f with a matched target: a dupe (tidecv, testing loc up to ≤ t_f, says loc)
    assert classify_image(image([(G, 0)], [(G, 0.9, 0), (half, 0.8, 0)])).pred_type == (None, "dupe")
    # another class at IoU = t_b: not background (tidecv, testing bkg up to ≤ t_b, says bkg)
    assert classify_image(image([(G, 0)], [(G, 0.9, 0), (tenth, 0.8, 1)])).pred_type == (None, "both")
    # own class at IoU = t_f with a free target: a match, as in pycocotools
    assert classify_image(image([(G, 0)], [(half, 0.8, 0)])).pred_type == (None,)


def test_a_suppressed_loc_error_is_removed_and_the_best_one_becomes_the_true_positive():
    records = [image([(G, 0)], [(IOU_03, 0.6, 0), ((0.0, 0.0, 10.0, 4.0), 0.7, 0)])]
    fixed_by_hand = [image([(G, 0)], [(G, 0.7, 0)])]
    b = error_breakdown(records)
    assert b.errors["loc"].dap == coco_map(fixed_by_hand).map50 - coco_map(records).map50
    assert b.errors["loc"].dap == pytest.approx(1.0)


def test_only_the_detections_pycocotools_scores_are_typed():
    boxes = [((100.0 + i, 0.0, 110.0 + i, 10.0), 0.5 + i / 1000, 0) for i in range(MAX_DETS)]
    record = image([(G, 0)], [(G, 0.01, 0), *boxes])
    kept = scored_record(record)
    assert len(kept[3]) == MAX_DETS and 0.01 not in kept[3].tolist()  # the lowest score goes
    assert coco_map([kept]).map50 == coco_map([record]).map50
    b = error_breakdown([record])
    assert b.unscored == 1 and b.errors["bkg"].count == MAX_DETS and b.errors["missed"].count == 1


def test_json_form_is_strict_and_keyed_by_class_name():
    b = error_breakdown(ALONE["cls"][0])
    out = json.loads(dumps(breakdown_dict(b, ["circle", "square"])))
    assert set(out["errors"]) == set(ERROR_TYPES) and set(out["per_class"]) == {"circle", "square"}
    assert out["errors"]["cls"] == {"count": 1, "dAP": pytest.approx(0.75), "lever": LEVERS["cls"]}
    assert out["thresholds"] == {"foreground": 0.5, "background": 0.1}
    assert out["per_class"]["square"]["errors"]["cls"]["count"] == 1
    # no gt, no AP: the empty breakdown is null, never NaN
    empty = json.loads(dumps(breakdown_dict(error_breakdown([image([], [])]))))
    assert empty["ap50"] is None and empty["errors"]["bkg"] == {
        "count": 0,
        "dAP": None,
        "lever": LEVERS["bkg"],
    }


# --- tidecv, the reference implementation ----------------------------------------------------------------

TIDECV_NAMES = {"Cls": "cls", "Loc": "loc", "Both": "both", "Dupe": "dupe", "Bkg": "bkg", "Miss": "missed"}
# dAP tolerance against tidecv (AP as a fraction). tidecv integrates precision over the recall points x / 100;
# pycocotools over np.linspace(0, 1, 101), whose 0.35, 0.7, 0.95 … are one ulp above (0.7000000000000001), so
# where a class's recall lands exactly on one of them (7 of 20 targets) pycocotools takes the next precision.
# Measured on 200 seeds of random_records: worst |dAP − tidecv| 0.0020; with pycocotools' recall grid set to
# tidecv's, 5e-16 on every seed. Counts agree exactly on all 200.
TIDECV_TOLERANCE = 0.005


def random_records(seed: int, n_images: int = 30, n_classes: int = 3) -> list[ImageRecord]:
    """Random targets, predictions jittered around them (some relabelled, some doubled) and on background."""
    rng = np.random.default_rng(seed)
    records = []
    for _ in range(n_images):
        g = int(rng.integers(0, 5))
        xy, wh = rng.uniform(0, 200, (g, 2)), rng.uniform(10, 60, (g, 2))
        gb = np.concatenate([xy, xy + wh], 1)
        gl = rng.integers(0, n_classes, g)
        pb, pl = [], []
        for box, label in zip(gb, gl, strict=True):
            for _ in range(int(rng.integers(0, 3))):
                w, h = box[2] - box[0], box[3] - box[1]
                pb.append(box + rng.normal(0, rng.choice([0.05, 0.2, 0.5]), 4) * np.array([w, h, w, h]))
                pl.append(label if rng.random() < 0.7 else rng.integers(0, n_classes))
        for _ in range(int(rng.integers(0, 3))):
            xy, wh = rng.uniform(0, 200, 2), rng.uniform(10, 60, 2)
            pb.append(np.concatenate([xy, xy + wh]))
            pl.append(rng.integers(0, n_classes))
        p = np.asarray(pb, np.float64).reshape(-1, 4)
        p = np.concatenate([np.minimum(p[:, :2], p[:, 2:] - 1), np.maximum(p[:, 2:], p[:, :2] + 1)], 1)
        records.append(
            (
                gb.astype(np.float32),
                np.asarray(gl, np.int64),
                p.astype(np.float32),
                rng.random(len(p)).astype(np.float32),
                np.asarray(pl, np.int64),
            )
        )
    return records


def tidecv_breakdown(records: list[ImageRecord]) -> tuple[float, dict[str, int], dict[str, float]]:
    """(AP, counts, dAP) from tidecv 1.0.1, AP as a fraction."""
    import tidecv  # a dev dependency (requirements-dev.txt, scripts/setup.sh): the cross-check never skips

    gt, preds = tidecv.Data("gt"), tidecv.Data("preds")
    for i, (gb, gl, pb, ps, pl) in enumerate(records):
        gt.add_image(i, str(i))  # images without targets still count (their predictions are bkg)
        for (x1, y1, x2, y2), label in zip(gb.astype(np.float64), gl, strict=True):
            gt.add_ground_truth(i, int(label), [x1, y1, x2 - x1, y2 - y1])
        for (x1, y1, x2, y2), score, label in zip(pb.astype(np.float64), ps, pl, strict=True):
            preds.add_detection(i, int(label), float(score), [x1, y1, x2 - x1, y2 - y1])
    run = tidecv.TIDE().evaluate(gt, preds, mode=tidecv.TIDE.BOX)
    counts = {TIDECV_NAMES[e.short_name]: n for e, n in run.count_errors().items()}
    daps = {TIDECV_NAMES[e.short_name]: v / 100 for e, v in run.fix_main_errors().items()}
    return run.ap / 100, counts, daps


@pytest.mark.parametrize("seed", range(6))
def test_counts_equal_tidecv_and_dap_agrees(seed):
    records = random_records(seed)
    ap, counts, daps = tidecv_breakdown(records)
    b = error_breakdown(records)
    assert {k: e.count for k, e in b.errors.items()} == counts
    assert b.ap50 == pytest.approx(ap, abs=TIDECV_TOLERANCE)
    for kind in ERROR_TYPES:
        assert b.errors[kind].dap == pytest.approx(daps[kind], abs=TIDECV_TOLERANCE), kind


# --- the `errors` command --------------------------------------------------------------------------------

# An untrained model scores below the model's 0.05 everywhere; a low threshold gives it predictions to type.
LOW_SCORE = "0.001"
KEYS = {"errors", "ap50", "per_class", "episodes", "images", "thresholds"}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tide")
    write_coco_dataset(root / "val", 20, seed=5)
    save_tiny(root / "tiny.pt")
    return root


def run_errors(capsys, *argv: str) -> str:
    parser = argparse.ArgumentParser()
    errors_command.add_arguments(parser)
    assert errors_command.run(parser.parse_args([*argv, "--threads", "1"])) == 0
    return capsys.readouterr().out


def test_rows_mode_breaks_down_a_batch_file(capsys, files, tmp_path):
    data = read_dataset(files / "val")
    s = EvalSettings(episodes=3, seed=1, n_way=2, k_shot=2, n_query=2, score_threshold=float(LOW_SCORE))
    plan = EpisodePlan(data, None, s)
    meta = run_meta(files / "tiny.pt", "reference", data, None, s, data.class_names, plan.total)
    result = evaluate_batch(load_detector(files / "tiny.pt"), plan, meta)
    path = write_result(result, tmp_path / "rows.parquet")
    out = json.loads(run_errors(capsys, "--rows", str(path), "--json"))
    assert KEYS <= set(out) and set(out["errors"]) == set(ERROR_TYPES)
    assert all(set(e) == {"count", "dAP", "lever"} for e in out["errors"].values())
    assert out["thresholds"] == {"foreground": 0.5, "background": 0.1}
    assert (out["episodes"], out["images"], out["rows"]) == (3, 6, str(path))
    assert out["ap50"] == summarize(read_result(path))["map50"]  # the AP `evaluate` reports
    assert set(out["per_class"]) <= set(data.class_names)
    expected = breakdown_dict(error_breakdown(image_records(result.rows)), data.class_names)
    assert out["errors"] == json.loads(dumps(expected["errors"]))
    assert (
        sum(e["count"] for k, e in out["errors"].items() if k != "missed") + out["true_positives"]
        == (out["predictions"])
    )
    assert out["predictions"] > 0  # the low threshold gave the untrained model something to type


def test_checkpoint_mode_equals_the_rows_evaluate_writes(capsys, files, tmp_path):
    argv = ("--checkpoint", str(files / "tiny.pt"), "--data", str(files / "val"), "--episodes", "3")
    shape = ("--seed", "1", "--score-threshold", LOW_SCORE)
    assert main(["evaluate", *argv, *shape, "--out", str(tmp_path / "e.parquet"), "--threads", "1"]) == 0
    capsys.readouterr()
    direct = json.loads(run_errors(capsys, *argv, *shape, "--json"))
    from_file = json.loads(run_errors(capsys, "--rows", str(tmp_path / "e.parquet"), "--json"))
    assert KEYS <= set(direct) and direct["rows"] is None and direct["checkpoint"] == str(files / "tiny.pt")
    for key in ("errors", "ap50", "per_class", "episodes", "images", "predictions", "targets"):
        assert direct[key] == from_file[key], key
    assert (direct["n_way"], direct["k_shot"], direct["n_query"]) == (2, 2, 2)  # the checkpoint's shape
    table = run_errors(capsys, *argv, *shape)
    for kind in ERROR_TYPES:
        assert kind in table and LEVERS[kind] in table
    assert "AP@0.5" in table and "per class" in table


def test_bad_input_is_one_inspector_error(capsys, files, tmp_path):
    with pytest.raises(InspectorError, match="--rows FILE"):
        run_errors(capsys)
    with pytest.raises(InspectorError, match="not both"):
        run_errors(capsys, "--rows", "x.parquet", "--checkpoint", str(files / "tiny.pt"))
    with pytest.raises(InspectorError, match="Parquet"):
        run_errors(capsys, "--rows", str(tmp_path / "absent.parquet"))
    argv = ("--checkpoint", str(files / "tiny.pt"))
    with pytest.raises(InspectorError, match="--episodes"):
        run_errors(capsys, *argv, "--data", str(files / "val"), "--episodes", "0")
    write_video_samples(tmp_path / "clips", 1, seed=0)
    with pytest.raises(InspectorError, match="image dataset"):
        run_errors(capsys, *argv, "--data", str(tmp_path / "clips"))


def test_nan_free_json_when_a_class_loses_all_its_targets(capsys):
    # fixing misses removes class 1's only target: its AP is undefined after, so its dAP is null
    b = error_breakdown([image([(G, 0), (G2, 1)], [(G, 0.9, 0)])])
    assert math.isnan(b.per_class[1].errors["missed"].dap) and b.errors["missed"].dap == pytest.approx(0.5)
    out = json.loads(dumps(breakdown_dict(b)))
    assert out["per_class"]["1"]["errors"]["missed"]["dAP"] is None
