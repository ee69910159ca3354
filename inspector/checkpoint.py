"""Checkpoints of the reference detector: save with metadata, load safely, rebuild the model.

Loading never executes code from the file: `torch.load(..., weights_only=True)` refuses any pickle
that needs globals beyond tensors and plain containers. Before that, the zip archive's directory is
checked so a file claiming absurd tensor sizes, or holding compressed members, is refused before
anything is allocated, and tensors are memory-mapped rather than read into RAM.

Building the reference model never trusts the saved config alone: every field is checked against sane
bounds (ModelConfig.problems), the network's size is read from the weights' shapes, and the model is first
built on the `meta` device (no memory) so a config that disagrees with the weights is refused by shape
comparison before a real tensor is allocated.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from inspector.errors import InspectorError
from inspector.model.config import NAME as MODEL_NAME
from inspector.model.config import VERSION as MODEL_VERSION
from inspector.model.config import ModelConfig
from inspector.model.detector import FewShotDetector, create_model

FORMAT = "inspector-checkpoint"
FORMAT_VERSION = 1
# A reference checkpoint is a few MB; user detectors rarely exceed a few GB. Anything claiming more is
# refused before loading (the reliability issue: "absurd tensor sizes are refused before allocating").
MAX_CHECKPOINT_BYTES = int(os.environ.get("INSPECTOR_MAX_CHECKPOINT_BYTES", 8 * 1024**3))


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint file holds: the state dict and everything known about how it was made."""

    path: str
    state_dict: dict[str, torch.Tensor]
    meta: dict[str, Any]
    warnings: tuple[str, ...] = ()  # e.g. NaN/inf weights, naming the tensors and counts

    @property
    def model_config(self) -> ModelConfig:
        raw = self.meta.get("model_config") or {}
        if not isinstance(raw, dict):
            raise InspectorError(f"its model_config is a {type(raw).__name__}, not a mapping", path=self.path)
        try:
            return ModelConfig.from_dict(raw)
        except (ValueError, TypeError) as exc:
            raise InspectorError(
                f"its model_config does not fit this version of inspector ({exc})", path=self.path
            ) from None

    @property
    def class_names(self) -> list[str]:
        return list(self.meta.get("class_names") or [])


def save_checkpoint(
    path: str | os.PathLike, model: torch.nn.Module, config: ModelConfig, half: bool = False, **meta: Any
) -> Path:
    """Write `model` and `meta` (plain values only) so that `load_checkpoint` can read it back.

    `half=True` stores floating tensors as float16 (the bundled demo stays small); loading casts back.
    """
    state = {
        k: (v.detach().half() if half and v.is_floating_point() else v.detach()).clone()
        for k, v in model.state_dict().items()
    }
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": MODEL_NAME,
        "model_version": MODEL_VERSION,
        "model_config": config.to_dict(),
        **meta,
        "state_dict": state,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # a crash mid-write never leaves a half checkpoint under the real name
    return path


def _check_archive(path: Path, limit: int) -> None:
    """Refuse non-archives and archives whose members claim more than `limit` bytes, before loading."""
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            head = fh.read(2)
        if head[:1] == b"\x80":
            raise InspectorError(
                "a legacy (non-zip) torch pickle; re-save it with torch.save in a recent "
                "PyTorch — legacy pickles are not loaded for safety",
                path=path,
            )
        raise InspectorError("not a PyTorch checkpoint (expected a torch.save zip archive)", path=path)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise InspectorError(f"the checkpoint archive is damaged ({exc})", path=path) from None
    claimed = sum(info.file_size for info in infos)
    names = [info.filename for info in infos]
    # torch.save stores members uncompressed, and loading with mmap=True maps their bytes as tensor data:
    # a re-zipped (deflated) archive loaded every tensor as compressed garbage, silently (losses NaN,
    # mAP 0). Without mmap it would decompress into RAM, and deflate's ~1000:1 makes that a zip bomb.
    packed = [info.filename for info in infos if info.compress_type != zipfile.ZIP_STORED]
    if packed:
        raise InspectorError(
            f"{len(packed)} archive member(s) are compressed ({', '.join(packed[:3])}); "
            "torch.save writes them uncompressed and they are memory-mapped as raw data — "
            "re-save with torch.save, or re-zip with no compression (zip -0)",
            path=path,
        )
    if not any(n.endswith("data.pkl") for n in names):
        raise InspectorError("a zip file, but not one written by torch.save (no data.pkl)", path=path)
    if claimed > limit:
        raise InspectorError(
            f"the archive claims {claimed / 1024**3:.1f} GiB, above the "
            f"{limit / 1024**3:.1f} GiB limit (INSPECTOR_MAX_CHECKPOINT_BYTES)",
            path=path,
        )


def load_raw(path: str | os.PathLike, limit: int = MAX_CHECKPOINT_BYTES) -> Any:
    """The unpickled object of a torch.save file, loaded with weights_only=True and memory-mapped."""
    path = Path(path)
    if not path.is_file():
        raise InspectorError("no such checkpoint file", path=path)
    _check_archive(path, limit)
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise InspectorError(
            "refused: the file needs arbitrary Python objects to load, which could run code "
            f"(weights_only=True rejected it: {first[:300]})",
            path=path,
        ) from None
    except RuntimeError as exc:
        if "resize storage" in str(exc) or "out of bounds" in str(exc):
            raise InspectorError(
                "a tensor claims more data than the file stores (absurd or corrupted sizes); "
                "refused before allocating",
                path=path,
            ) from None
        raise InspectorError(
            f"cannot load the checkpoint (RuntimeError: {str(exc)[:300]})", path=path
        ) from None
    except (EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError) as exc:
        raise InspectorError(
            f"cannot load the checkpoint ({type(exc).__name__}: {str(exc)[:300]})", path=path
        ) from None


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """A Checkpoint from a file: our format, or a bare state dict / {"state_dict"|"model": …} of tensors."""
    raw = load_raw(path)
    if isinstance(raw, dict) and isinstance(raw.get("state_dict"), dict):
        state, meta = raw["state_dict"], {k: v for k, v in raw.items() if k != "state_dict"}
    elif isinstance(raw, dict) and isinstance(raw.get("model"), dict):
        state, meta = raw["model"], {k: v for k, v in raw.items() if k != "model"}
    elif isinstance(raw, dict) and raw and all(isinstance(v, torch.Tensor) for v in raw.values()):
        state, meta = raw, {}
    else:
        raise InspectorError("holds no state dict of tensors (expected a dict with 'state_dict')", path=path)
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise InspectorError(
            f"state dict entries that are not tensors: {', '.join(map(str, bad[:5]))}", path=path
        )
    warning = non_finite_warning(state)
    return Checkpoint(str(path), state, meta, (warning,) if warning else ())


def _listed(items: list[str], first: int = 5) -> str:
    more = f" (+{len(items) - first} more)" if len(items) > first else ""
    return ", ".join(items[:first]) + more


def non_finite_counts(tensor: torch.Tensor) -> tuple[int, int]:
    """(NaN count, ±inf count) of a floating tensor, in 16M-element chunks so a large mmapped tensor
    never needs a full-size temporary."""
    flat = tensor.detach().reshape(-1)
    nan = inf = 0
    for chunk in flat.split(1 << 24):
        nan += int(torch.isnan(chunk).sum())
        inf += int(torch.isinf(chunk).sum())
    return nan, inf


def non_finite_warning(state: dict[str, torch.Tensor]) -> str | None:
    """A warning naming the floating tensors that hold NaN or inf (with counts), or None when all are
    finite."""
    found = []
    for name, tensor in state.items():
        if tensor.is_floating_point() or tensor.is_complex():
            nan, inf = non_finite_counts(tensor)
            if nan or inf:
                found.append((name, nan, inf))
    if not found:
        return None
    total = sum(n + i for _, n, i in found)
    named = [f"{name} ({nan} NaN, {inf} inf)" for name, nan, inf in found]
    return (
        f"NaN weights: {len(found)} tensor(s) hold {total} non-finite value(s): {_listed(named)}; "
        "scores and losses computed from them will be NaN (did training diverge?)"
    )


def architecture_mismatch(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """A message naming missing/unexpected keys and shape mismatches, or None when `state` fits `model`."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if not (missing or unexpected or shapes):
        return None

    def listed(title: str, items: list[str]) -> str:
        return f"{len(items)} {title}: {_listed(items)}"

    parts = [
        listed(t, i)
        for t, i in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes))
        if i
    ]
    return "does not fit the reference detector — " + "; ".join(parts)


def _first_dim(state: dict[str, torch.Tensor], key: str) -> int | None:
    tensor = state.get(key)
    return int(tensor.shape[0]) if isinstance(tensor, torch.Tensor) and tensor.ndim >= 1 else None


def sizes_from_state(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The ModelConfig fields that fix the reference network's size, read from the weights' shapes
    (widths, neck_dim, head_dim, embed_dim, the number of levels, DFL bins); a field whose tensor is
    absent is left out."""
    widths = [_first_dim(state, "backbone.stem.conv.weight")]
    while (w := _first_dim(state, f"backbone.stages.{len(widths) - 1}.down.conv.weight")) is not None:
        widths.append(w)
    sizes: dict[str, Any] = {}
    if widths[0] is not None and len(widths) > 1:
        sizes["widths"] = tuple(widths)
    for field, key in (
        ("neck_dim", "backbone.lateral.0.weight"),
        ("head_dim", "head.levels.0.cls_tower.0.conv.weight"),
        ("embed_dim", "embed.2.weight"),
    ):
        if (n := _first_dim(state, key)) is not None:
            sizes[field] = n
    levels = sum(1 for k in state if k.startswith("head.levels.") and k.endswith(".cos_scale"))
    if levels:
        sizes["levels"] = levels
    if (outputs := _first_dim(state, "head.levels.0.box_tower.2.weight")) is not None:
        sizes["bins"] = outputs // 4  # 4 sides × bins; 1 bin = plain ltrb distances (reg_max 0)
    return sizes


def _size_disagreements(config: ModelConfig, sizes: dict[str, Any]) -> list[str]:
    """One message per config field that disagrees with the size the weights have."""
    stated: dict[str, Any] = {  # a tuple for widths, ints for the rest
        "widths": tuple(config.widths),
        "neck_dim": config.neck_dim,
        "head_dim": config.head_dim,
        "embed_dim": config.embed_dim,
        "levels": len(config.strides),
        "bins": max(config.reg_max, 1),
    }
    field = {"levels": "strides (one head level each)", "bins": "reg_max (DFL bins)"}
    return [
        f"model_config.{field.get(k, k)} says {list(stated[k]) if k == 'widths' else stated[k]} but the "
        f"weights are sized {list(v) if k == 'widths' else v}"
        for k, v in sizes.items()
        if stated[k] != v
    ]


def reference_config(checkpoint: Checkpoint) -> ModelConfig:
    """The checkpoint's ModelConfig, checked against sane bounds and against the sizes its weights have;
    InspectorError naming the field. A bare state dict (no saved config) gets the defaults, and a network of
    another size is then refused by build_reference_model's shape comparison."""
    config = checkpoint.model_config
    problems = [f"model_config.{p}" for p in config.problems()]
    if problems:
        raise InspectorError(
            f"refused before building the model: {'; '.join(problems[:5])}", path=checkpoint.path
        )
    if checkpoint.meta.get("model_config"):
        disagree = _size_disagreements(config, sizes_from_state(checkpoint.state_dict))
        if disagree:
            raise InspectorError(f"does not fit its own weights: {'; '.join(disagree)}", path=checkpoint.path)
    return config


def _dtype_problems(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> list[str]:
    """Tensors stored with a dtype that cannot stand for the model's (an integer or bool where a float
    weight belongs would be cast to a float of whole numbers, silently)."""
    bad = []
    for name, want in expected.items():
        have = state[name]
        if want.is_floating_point() and not have.is_floating_point():
            bad.append(f"{name} ({have.dtype}, expected {want.dtype})")
        elif not want.is_floating_point() and (have.is_floating_point() or have.is_complex()):
            bad.append(f"{name} ({have.dtype}, expected {want.dtype})")
    return bad


def build_reference_model(checkpoint: Checkpoint) -> FewShotDetector:
    """The reference detector with the checkpoint's weights, in eval mode; InspectorError if they don't
    fit."""
    name = checkpoint.meta.get("model", MODEL_NAME)
    if name != MODEL_NAME:
        raise InspectorError(
            f"was saved by model {name!r}, not {MODEL_NAME!r}; choose its adapter", path=checkpoint.path
        )
    config = reference_config(checkpoint)
    with torch.device("meta"):  # shapes and dtypes only: widths of 8000 cost nothing here
        skeleton = create_model(config)
    problem = architecture_mismatch(skeleton, checkpoint.state_dict)
    if problem:
        raise InspectorError(problem, path=checkpoint.path)
    expected = skeleton.state_dict()
    bad = _dtype_problems(expected, checkpoint.state_dict)
    if bad:
        raise InspectorError(
            f"{len(bad)} tensor(s) have a dtype that cannot hold their weights: {_listed(bad)}",
            path=checkpoint.path,
        )
    model = create_model(config)  # now known to be the weights' size, which the archive check bounded
    state = {k: v.to(expected[k].dtype) for k, v in checkpoint.state_dict.items()}
    model.load_state_dict(state)
    model.eval()
    return model


def train_gains(path: str | os.PathLike) -> dict[str, float]:
    """The loss gains a checkpoint's train config states ({} when it states none); InspectorError when
    unreadable.

    inspector's checkpoints keep them in `model_config.loss_weights`; a checkpoint saved with plain
    `train_args` (Ultralytics' box/cls/dfl) or `hyp` (YOLOv5's box/obj/cls) dict is read the same way when
    weights_only loading accepts it. Only finite gains ≥ 0 are returned.
    """
    from inspector.runlog.companions import gain_problem

    raw = load_raw(path)
    if not isinstance(raw, dict):
        return {}
    found: dict = {}
    config = raw.get("model_config")
    if isinstance(config, dict) and isinstance(config.get("loss_weights"), dict):
        found = config["loss_weights"]
    else:
        for key, names in (
            ("train_args", ("box", "cls", "dfl", "pose", "kobj")),
            ("hyp", ("box", "obj", "cls")),
        ):
            table = raw.get(key)
            if isinstance(table, dict):
                found = {n: table[n] for n in names if n in table}
                break
    return {str(k): float(v) for k, v in found.items() if gain_problem(v) is None}
