"""Hostile checkpoints, each built in code from a real small reference checkpoint: absurd or disagreeing
model configs, re-zipped (deflated) archives, NaN/inf and integer weights. Each is refused with an
InspectorError naming the file and what is wrong, or loads with a warning, cheaply (RLIMIT_AS 2 GB)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from inspector.adapters import load_detector
from inspector.checkpoint import load_checkpoint, save_checkpoint, sizes_from_state
from inspector.data.shapes import CLASSES, write_coco_dataset
from inspector.errors import InspectorError
from inspector.limits import MAX_MODEL_IMAGE_SIZE
from inspector.model import ModelConfig, create_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reference checkpoint like the demo's best.pt: float16 storage, ~1.2 MB."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("hostile") / "reference.pt"
    return save_checkpoint(
        path, create_model(ModelConfig()), ModelConfig(), half=True, class_names=list(CLASSES)
    )


def _edited(reference: Path, out: Path, config: dict | None = None, state: dict | None = None) -> Path:
    """`reference` with model_config fields and state-dict tensors replaced, saved by torch.save."""
    raw = torch.load(reference, weights_only=True)
    raw["model_config"].update(config or {})
    raw["state_dict"].update(state or {})
    torch.save(raw, out)
    return out


def _rezipped(src: Path, out: Path, compression: int) -> Path:
    """`src`'s members written again by Python's zipfile with `compression`."""
    with zipfile.ZipFile(src) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out


def _widths_8000(reference: Path, out: Path) -> Path:
    """The issue's case: widths[-1] = 8000 in the config while the weights stay 96 wide."""
    widths = list(ModelConfig().widths)
    widths[-1] = 8000
    return _edited(reference, out, {"widths": widths})


@pytest.mark.parametrize("value", [60000, -5, 2048, 0, 12.5, "128", True, None])
def test_absurd_image_size_is_refused_naming_file_field_and_range(reference: Path, tmp_path: Path, value):
    path = _edited(reference, tmp_path / "size.pt", {"image_size": value})
    with pytest.raises(InspectorError) as err:
        load_detector(path)
    message = str(err.value)
    assert str(path) in message and "model_config.image_size" in message
    assert f"32..{MAX_MODEL_IMAGE_SIZE}" in message


@pytest.mark.parametrize(
    "edit, field",
    [
        ({"strides": [8, 16, -32]}, "strides"),
        ({"strides": [8, 16, 64]}, "strides"),
        ({"reg_max": -1}, "reg_max"),
        ({"neck_dim": 10**9}, "neck_dim"),
        ({"nms_iou": float("nan")}, "nms_iou"),
        ({"supcon_tau": 0.0}, "supcon_tau"),
        ({"topk": 0}, "topk"),
        ({"cls_loss": "focal"}, "cls_loss"),
        ({"loss_weights": {"bbox": float("inf")}}, "loss_weights"),
    ],
)
def test_other_out_of_range_fields_are_named(reference: Path, tmp_path: Path, edit: dict, field: str):
    path = _edited(reference, tmp_path / "field.pt", edit)
    with pytest.raises(InspectorError, match=f"model_config.{field}"):
        load_detector(path)


def test_config_that_disagrees_with_the_weights_is_refused_by_their_shapes(reference: Path, tmp_path: Path):
    with pytest.raises(
        InspectorError, match=r"model_config.widths\[4\] is 8000; allowed an integer in 1..4096"
    ):
        load_detector(_widths_8000(reference, tmp_path / "wide.pt"))
    path = _edited(reference, tmp_path / "wider.pt", {"widths": [16, 32, 48, 64, 4000]})  # within bounds
    with pytest.raises(InspectorError) as err:
        load_detector(path)
    message = str(err.value)
    assert str(path) in message
    assert (
        "model_config.widths says [16, 32, 48, 64, 4000] but the weights are sized [16, 32, 48, 64, 96]"
        in message
    )
    for edit, said in (
        ({"neck_dim": 128}, "neck_dim says 128"),
        ({"strides": [16, 32]}, "strides (one head level"),
        ({"reg_max": 16}, "reg_max (DFL bins) says 16"),
    ):
        with pytest.raises(InspectorError, match=re.escape(f"model_config.{said}")):
            load_detector(_edited(reference, tmp_path / "other.pt", edit))


def test_sizes_are_read_from_the_weights_shapes():
    config = ModelConfig(
        widths=(8, 16, 16, 24, 32), neck_dim=32, head_dim=24, embed_dim=16, reg_max=8, strides=(8, 16)
    )
    sizes = sizes_from_state(create_model(config).state_dict())
    assert sizes == {
        "widths": (8, 16, 16, 24, 32),
        "neck_dim": 32,
        "head_dim": 24,
        "embed_dim": 16,
        "levels": 2,
        "bins": 8,
    }
    assert (
        sizes_from_state({"backbone.stem.conv.weight": torch.zeros(())}) == {}
    )  # a 0-d tensor names no size


def test_deflated_archive_is_refused_and_a_stored_rezip_loads_equal(reference: Path, tmp_path: Path):
    original = load_checkpoint(reference).state_dict
    stored = load_checkpoint(_rezipped(reference, tmp_path / "stored.pt", zipfile.ZIP_STORED)).state_dict
    assert original.keys() == stored.keys() and all(torch.equal(original[k], stored[k]) for k in original)
    deflated = _rezipped(reference, tmp_path / "deflated.pt", zipfile.ZIP_DEFLATED)
    with pytest.raises(InspectorError) as err:
        load_checkpoint(deflated)
    assert str(deflated) in str(err.value) and "compressed" in str(err.value) and "zip -0" in str(err.value)


def test_non_finite_weights_are_named_with_counts(reference: Path, tmp_path: Path):
    state = torch.load(reference, weights_only=True)["state_dict"]
    conv = state["backbone.stem.conv.weight"].clone()
    conv.view(-1)[:3] = float("nan")
    bias = state["embed.0.bias"].clone()
    bias[0] = float("inf")
    path = _edited(
        reference, tmp_path / "nan.pt", state={"backbone.stem.conv.weight": conv, "embed.0.bias": bias}
    )
    (warning,) = load_checkpoint(path).warnings
    assert warning.startswith("NaN weights: 2 tensor(s) hold 4 non-finite value(s)")
    assert "backbone.stem.conv.weight (3 NaN, 0 inf)" in warning and "embed.0.bias (0 NaN, 1 inf)" in warning
    assert load_detector(path).warnings == (warning,)
    assert load_checkpoint(reference).warnings == ()


def test_integer_weights_where_floats_belong_are_refused(reference: Path, tmp_path: Path):
    state = torch.load(reference, weights_only=True)["state_dict"]
    ints = {
        "backbone.stem.conv.weight": torch.ones_like(state["backbone.stem.conv.weight"], dtype=torch.int32),
        "embed.0.bias": torch.zeros_like(state["embed.0.bias"], dtype=torch.bool),
    }
    path = _edited(reference, tmp_path / "ints.pt", state=ints)
    with pytest.raises(InspectorError) as err:
        load_detector(path)
    message = str(err.value)
    assert "2 tensor(s) have a dtype that cannot hold their weights" in message
    assert (
        "backbone.stem.conv.weight (torch.int32, expected torch.float32)" in message
        and "embed.0.bias" in message
    )


def test_nan_warning_reaches_the_episode_cli(reference: Path, tmp_path: Path):
    state = torch.load(reference, weights_only=True)["state_dict"]
    conv = state["backbone.stem.conv.weight"].clone()
    conv.view(-1)[:5] = float("nan")
    path = _edited(reference, tmp_path / "nan.pt", state={"backbone.stem.conv.weight": conv})
    write_coco_dataset(tmp_path / "data", 8, seed=0)
    argv = [sys.executable, "-m", "inspector", "episode", "--checkpoint", str(path)]
    argv += ["--data", str(tmp_path / "data"), "--n-query", "1", "--k-shot", "1", "--no-gradients"]
    proc = subprocess.run(
        [*argv, "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["warnings"] == [
        "NaN weights: 1 tensor(s) hold 5 non-finite value(s): backbone.stem.conv.weight (5 NaN, 0 inf); "
        "scores and losses computed from them will be NaN (did training diverge?)"
    ]
    text = subprocess.run(
        argv,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert text.returncode == 0 and "WARNING: NaN weights: 1 tensor(s)" in text.stdout, text.stderr
    evaluated = subprocess.run(
        [
            sys.executable,
            "-m",
            "inspector",
            "evaluate",
            "--checkpoint",
            str(path),
            "--data",
            str(tmp_path / "data"),
            "--episodes",
            "1",
            "--n-query",
            "1",
            "--k-shot",
            "1",
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["warnings"][0].startswith("NaN weights: 1 tensor(s)")


# The child loads each file under a 2 GB address-space cap and prints one JSON line per file; only an
# InspectorError is caught, so a MemoryError or any other exception shows as a traceback and rc 1.
_CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))
from inspector.adapters import load_detector
from inspector.errors import InspectorError
for path in sys.argv[1:]:
    try:
        detector = load_detector(path)
        print(json.dumps({"path": path, "loaded": True, "warnings": list(detector.warnings)}))
    except InspectorError as exc:
        print(json.dumps({"path": path, "loaded": False, "message": str(exc)}))
"""


def test_hostile_checkpoints_load_or_refuse_under_a_2gb_address_space(reference: Path, tmp_path: Path):
    state = torch.load(reference, weights_only=True)["state_dict"]
    nan = state["head.levels.0.box_tower.2.weight"].clone().fill_(float("nan"))
    files = {
        "60000": _edited(reference, tmp_path / "60000.pt", {"image_size": 60000}),
        "-5": _edited(reference, tmp_path / "minus5.pt", {"image_size": -5}),
        "2048": _edited(reference, tmp_path / "2048.pt", {"image_size": 2048}),
        "wide": _widths_8000(reference, tmp_path / "wide.pt"),
        "deflated": _rezipped(reference, tmp_path / "deflated.pt", zipfile.ZIP_DEFLATED),
        "nan": _edited(reference, tmp_path / "nan.pt", state={"head.levels.0.box_tower.2.weight": nan}),
        "ints": _edited(
            reference, tmp_path / "ints.pt", state={"embed.0.weight": torch.ones(64, 64, dtype=torch.int64)}
        ),
    }
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *map(str, files.values())],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    rows = {Path(r["path"]).name: r for r in map(json.loads, proc.stdout.splitlines())}
    assert len(rows) == len(files)
    refused = {name for name, r in rows.items() if not r["loaded"]}
    assert refused == {f.name for key, f in files.items() if key != "nan"}
    assert all("MemoryError" not in r.get("message", "") for r in rows.values())
    assert rows["nan.pt"]["warnings"][0].startswith("NaN weights: 1 tensor(s) hold 192 non-finite")


def test_problems_survive_hostile_values():
    """Huge ints (past float range and Python's 4300-digit repr limit), long strings, wrong types."""
    problems = ModelConfig(
        alpha=10**400,
        image_size=-(10**5000),
        widths=("x" * 10**6,),
        strides=("a", 8),
        loss_weights={"bbox": -1.0},
        cls_loss=["bce"],
    ).problems()
    fields = [p.split(" ")[0] for p in problems]
    assert fields == ["image_size", "alpha", "widths", "cls_loss", "loss_weights"]
    assert all(len(p) < 200 for p in problems)
    assert ModelConfig().problems() == []
