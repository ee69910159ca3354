"""inspector/protocol's pure parts: grid parsing, class splits, fingerprints, t-intervals against hand
computation, the seeds needed, and the episode bootstrap against compare's paired bootstrap."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from inspector.coco import coco_matches
from inspector.compare import bootstrap_delta_map
from inspector.errors import InspectorError
from inspector.protocol.fingerprint import check_comparable, protocol_differences
from inspector.protocol.grid import Cell, Grid, parse_integers
from inspector.protocol.intervals import (
    SeedMatches,
    bootstrap_over_episodes,
    seeds_needed,
    t_interval,
)
from inspector.protocol.metrics import statistics
from inspector.protocol.split import config_split, make_split, read_split_file, resolve_split

NAMES = ["circle", "square", "triangle", "star"]


# ------------------------------------------------------------------------------------------------ grid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,3,5", (1, 3, 5)),
        ("0-4", (0, 1, 2, 3, 4)),
        ("0-2,7, 9", (0, 1, 2, 7, 9)),
        ("3,1,3", (3, 1)),
        ("5", (5,)),
    ],
)
def test_integer_lists_and_ranges(text, expected):
    assert parse_integers(text, "--seeds") == expected


@pytest.mark.parametrize("text", ["", "a", "1,,2", "5-2", "-1", "1.5", "0-999999"])
def test_bad_integer_lists_name_the_flag(text):
    with pytest.raises(InspectorError, match="--seeds"):
        parse_integers(text, "--seeds")


def test_k_shot_must_be_positive():
    with pytest.raises(InspectorError, match="≥ 1"):
        Grid.parse("0,1", "0")


def test_grid_cells_in_order():
    grid = Grid.parse("1,3", "0-1")
    assert grid.cells() == [Cell(1, 0), Cell(1, 1), Cell(3, 0), Cell(3, 1)]
    assert not grid.is_single and Grid.parse("2", "4").is_single


# ------------------------------------------------------------------------------------------------ split


def test_novel_names_leave_the_rest_as_base_in_dataset_order():
    split = make_split(NAMES, ["star", "square"], None, "--novel-classes")
    assert split.novel == ("square", "star") and split.base == ("circle", "triangle")
    assert split.classes("novel") == ("square", "star") and split.classes("all") == ()


def test_split_errors_name_the_problem():
    with pytest.raises(InspectorError, match="no class 'hexagon'"):
        make_split(NAMES, ["hexagon"], None, "x")
    with pytest.raises(InspectorError, match="both novel and base"):
        make_split(NAMES, ["star"], ["star"], "x")
    with pytest.raises(InspectorError, match="no novel class"):
        make_split(NAMES, None, NAMES, "x")
    with pytest.raises(InspectorError, match="not both"):
        resolve_split(NAMES, "star", "file.txt", None)


def test_split_files_yaml_json_and_text(tmp_path):
    (tmp_path / "s.yaml").write_text("novel: [star]\nbase: [circle, square]\n")
    (tmp_path / "s.json").write_text(json.dumps({"base": ["circle"]}))
    (tmp_path / "s.txt").write_text("# novel classes\nstar\n\ntriangle  # a comment\n")
    y = read_split_file(tmp_path / "s.yaml", NAMES)
    assert (y.novel, y.base) == (("star",), ("circle", "square"))  # triangle: neither side
    j = read_split_file(tmp_path / "s.json", NAMES)
    assert j.novel == ("square", "triangle", "star") and j.base == ("circle",)
    t = read_split_file(tmp_path / "s.txt", NAMES)
    assert t.novel == ("triangle", "star") and "s.txt" in t.source
    (tmp_path / "bad.yaml").write_text("novel: 3\n")
    with pytest.raises(InspectorError, match="list of class names"):
        read_split_file(tmp_path / "bad.yaml", NAMES)


def test_the_checkpoint_config_names_the_split_and_says_so():
    split = config_split({"base_classes": ["circle", "square"], "n_way": 2}, NAMES)
    assert split is not None and split.novel == ("triangle", "star")
    assert "train config (base_classes)" in split.source
    assert config_split({"n_way": 2}, NAMES) is None and config_split(None, NAMES) is None
    assert resolve_split(NAMES, "circle", None, {"base_classes": ["circle"]}).source == "--novel-classes"


# ------------------------------------------------------------------------------------------------ fingerprint


def _fp(**change):
    base = {"data_hash": "a" * 64, "k_shots": [1, 3], "seeds": [0, 1], "n_way": 2, "tta": []}
    return {**base, **change}


def test_fingerprint_differences_are_named():
    assert protocol_differences(_fp(), _fp()) == []
    diffs = protocol_differences(_fp(), _fp(k_shots=[1, 5], data_hash="b" * 64))
    assert diffs == ["data_hash: aaaaaaaaaaaa vs bbbbbbbbbbbb", "k_shots: [1, 3] vs [1, 5]"]


def test_a_protocol_difference_is_refused_unless_allowed():
    with pytest.raises(
        InspectorError, match=r"different protocols.*seeds: \[0, 1\] vs \[0, 1, 2\].*--allow-protocol-diff"
    ):
        check_comparable(_fp(), _fp(seeds=[0, 1, 2]), allow=False)
    assert check_comparable(_fp(), _fp(seeds=[0, 1, 2]), allow=True) == ["seeds: [0, 1] vs [0, 1, 2]"]
    with pytest.raises(InspectorError, match="no protocol fingerprint"):
        check_comparable(None, _fp(), allow=False)


# ------------------------------------------------------------------------------------------------ intervals


def test_t_interval_by_hand():
    # values 1, 2, 3, 4: mean 2.5, s = sqrt(5/3) = 1.2909944; t(0.975, 3) = 3.1824463 (tables)
    i = t_interval([1.0, 2.0, 3.0, 4.0])
    half = 3.182446305284263 * math.sqrt(5 / 3) / 2
    assert i.mean == 2.5 and i.std == pytest.approx(math.sqrt(5 / 3), rel=1e-12)
    assert (i.low, i.high) == (pytest.approx(2.5 - half, rel=1e-9), pytest.approx(2.5 + half, rel=1e-9))
    one = t_interval([0.4, math.nan])
    assert one.n == 1 and one.mean == 0.4 and math.isnan(one.low) and one.includes_zero()


def test_seeds_needed_is_the_smallest_n_whose_interval_excludes_zero():
    from scipy import stats

    delta, std = 0.01, 0.03
    n = seeds_needed(delta, std)
    assert n is not None and n > 2

    def excludes(m: int) -> bool:
        return stats.t.ppf(0.975, m - 1) * std / math.sqrt(m) < delta

    assert excludes(n) and not excludes(n - 1)
    assert seeds_needed(0.0, 0.1) is None and seeds_needed(0.1, math.nan) is None
    assert seeds_needed(1.0, 0.01) == 2


def _records(rng, n_images: int, shift: float):
    out = []
    for _ in range(n_images):
        g = rng.uniform(0, 50, (3, 2))
        gt = np.hstack([g, g + rng.uniform(10, 30, (3, 2))]).astype(np.float32)
        labels = rng.integers(0, 3, 3)
        pred = gt + rng.normal(0, shift, gt.shape).astype(np.float32)
        pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1)  # real boxes: never inverted
        out.append((gt, labels, pred.astype(np.float32), rng.uniform(0.1, 1, 3).astype(np.float32), labels))
    return out


def test_one_seed_bootstrap_equals_compares_paired_bootstrap():
    rng = np.random.default_rng(0)
    a, b = _records(rng, 40, 4.0), _records(np.random.default_rng(0), 40, 2.0)
    episodes = np.repeat(np.arange(10), 4)
    want50, want95 = bootstrap_delta_map(a, b, episodes, resamples=300, seed=5)
    seed = [SeedMatches(coco_matches(a), coco_matches(b), episodes)]
    got = bootstrap_over_episodes(seed, statistics(None, []), 300, rng_seed=5, method="percentile")
    assert (got["map50"].low, got["map50"].high) == (want50.low, want50.high)
    assert (got["map50_95"].low, got["map50_95"].high) == (want95.low, want95.high)
    # the basic interval reflects the same quantiles about the estimate: [2Δ − q_high, 2Δ − q_low]
    basic = bootstrap_over_episodes(seed, statistics(None, []), 300, rng_seed=5)
    reflected = (2 * want50.delta - want50.high, 2 * want50.delta - want50.low)
    assert (basic["map50"].low, basic["map50"].high) == pytest.approx(reflected, abs=1e-15)


def test_basic_interval_corrects_the_upward_bias_of_resampled_ap():
    from inspector.evaluate import coco_map

    rng = np.random.default_rng(3)
    a = _records(rng, 60, 6.0)
    episodes = np.repeat(np.arange(15), 4)
    seed = [SeedMatches(coco_matches(a), None, episodes)]
    estimate = coco_map(a).map50
    pct = bootstrap_over_episodes(seed, statistics(None, []), 400, method="percentile")["map50"]
    basic = bootstrap_over_episodes(seed, statistics(None, []), 400)["map50"]
    assert (basic.low, basic.high) == pytest.approx(
        (2 * estimate - pct.high, 2 * estimate - pct.low), abs=1e-12
    )
    # resampled AP runs high (the precision envelope is a running maximum): the basic interval sits lower
    assert pct.bias > 0 and basic.bias == pct.bias and basic.low < pct.low


def test_bootstrap_of_identical_sides_is_zero_and_averages_seeds():
    rng = np.random.default_rng(1)
    a = _records(rng, 20, 3.0)
    m = coco_matches(a)
    episodes = np.repeat(np.arange(5), 4)
    same = bootstrap_over_episodes([SeedMatches(m, m, episodes)] * 2, statistics(None, []), 100)
    assert (same["map50"].low, same["map50"].high, same["map50"].bias) == (0.0, 0.0, 0.0)
    unpaired = bootstrap_over_episodes([SeedMatches(m, None, episodes)], statistics(None, []), 200)["map50"]
    assert -0.5 <= unpaired.low <= unpaired.high <= 1.5
