"""Checkpoints of the reference detector: save with metadata, load safely, rebuild the model.

Loading never executes code from the file: `torch.load(..., weights_only=True)` refuses any pickle
that needs globals beyond tensors and plain containers. Before that, the zip archive's directory is
checked so a file claiming absurd tensor sizes is refused before anything is allocated, and tensors
are memory-mapped rather than read into RAM.
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

    @property
    def model_config(self) -> ModelConfig:
        try:
            return ModelConfig.from_dict(self.meta.get("model_config") or {})
        except (ValueError, TypeError) as exc:
            raise InspectorError(f"its model_config does not fit this version of inspector ({exc})",
                                 path=self.path) from None

    @property
    def class_names(self) -> list[str]:
        return list(self.meta.get("class_names") or [])


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, config: ModelConfig,
                    half: bool = False, **meta: Any) -> Path:
    """Write `model` and `meta` (plain values only) so that `load_checkpoint` can read it back.

    `half=True` stores floating tensors as float16 (the bundled demo stays small); loading casts back.
    """
    state = {k: (v.detach().half() if half and v.is_floating_point() else v.detach()).clone()
             for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "model": MODEL_NAME,
               "model_version": MODEL_VERSION, "model_config": config.to_dict(), **meta,
               "state_dict": state}
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
            raise InspectorError("a legacy (non-zip) torch pickle; re-save it with torch.save in a recent "
                                 "PyTorch — legacy pickles are not loaded for safety", path=path)
        raise InspectorError("not a PyTorch checkpoint (expected a torch.save zip archive)", path=path)
    try:
        with zipfile.ZipFile(path) as archive:
            claimed = sum(info.file_size for info in archive.infolist())
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise InspectorError(f"the checkpoint archive is damaged ({exc})", path=path) from None
    if not any(n.endswith("data.pkl") for n in names):
        raise InspectorError("a zip file, but not one written by torch.save (no data.pkl)", path=path)
    if claimed > limit:
        raise InspectorError(f"the archive claims {claimed / 1024**3:.1f} GiB, above the "
                             f"{limit / 1024**3:.1f} GiB limit (INSPECTOR_MAX_CHECKPOINT_BYTES)", path=path)


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
        raise InspectorError("refused: the file needs arbitrary Python objects to load, which could run code "
                             f"(weights_only=True rejected it: {first[:300]})", path=path) from None
    except RuntimeError as exc:
        if "resize storage" in str(exc) or "out of bounds" in str(exc):
            raise InspectorError("a tensor claims more data than the file stores (absurd or corrupted sizes); "
                                 "refused before allocating", path=path) from None
        raise InspectorError(f"cannot load the checkpoint (RuntimeError: {str(exc)[:300]})", path=path) from None
    except (EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError) as exc:
        raise InspectorError(f"cannot load the checkpoint ({type(exc).__name__}: {str(exc)[:300]})",
                             path=path) from None


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
        raise InspectorError(f"state dict entries that are not tensors: {', '.join(map(str, bad[:5]))}", path=path)
    return Checkpoint(str(path), state, meta)


def architecture_mismatch(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """A message naming missing/unexpected keys and shape mismatches, or None when `state` fits `model`."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
              for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if not (missing or unexpected or shapes):
        return None

    def listed(title: str, items: list[str]) -> str:
        more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
        return f"{len(items)} {title}: {', '.join(items[:5])}{more}"

    parts = [listed(t, i) for t, i in (("missing keys", missing), ("unexpected keys", unexpected),
                                          ("shape mismatches", shapes)) if i]
    return "does not fit the reference detector — " + "; ".join(parts)


def build_reference_model(checkpoint: Checkpoint) -> FewShotDetector:
    """The reference detector with the checkpoint's weights, in eval mode; InspectorError if they don't fit."""
    name = checkpoint.meta.get("model", MODEL_NAME)
    if name != MODEL_NAME:
        raise InspectorError(f"was saved by model {name!r}, not {MODEL_NAME!r}; choose its adapter",
                             path=checkpoint.path)
    model = create_model(checkpoint.model_config)
    problem = architecture_mismatch(model, checkpoint.state_dict)
    if problem:
        raise InspectorError(problem, path=checkpoint.path)
    expected = model.state_dict()
    state = {k: v.to(expected[k].dtype) for k, v in checkpoint.state_dict.items()}
    model.load_state_dict(state)
    model.eval()
    return model
