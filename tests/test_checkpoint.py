"""Safe checkpoint loading: our format round trip, wrong architecture, hostile pickles, absurd sizes."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from inspector.checkpoint import build_reference_model, load_checkpoint, load_raw, save_checkpoint
from inspector.errors import InspectorError
from inspector.model import ModelConfig, create_model


def test_round_trip_keeps_weights_and_metadata(tmp_path: Path):
    torch.manual_seed(0)
    config = ModelConfig()
    model = create_model(config)
    path = save_checkpoint(tmp_path / "a.pt", model, config, step=12, class_names=["circle", "star"])
    raw = torch.load(path, weights_only=True)  # loads without any allowlisting
    assert raw["step"] == 12
    ckpt = load_checkpoint(path)
    rebuilt = build_reference_model(ckpt)
    for k, v in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[k], v)
    assert ckpt.class_names == ["circle", "star"]


def test_half_precision_storage_loads_back_as_float32(tmp_path: Path):
    config = ModelConfig()
    model = create_model(config)
    path = save_checkpoint(tmp_path / "h.pt", model, config, half=True)
    rebuilt = build_reference_model(load_checkpoint(path))
    w = next(iter(k for k, v in rebuilt.state_dict().items() if v.is_floating_point()))
    assert rebuilt.state_dict()[w].dtype == torch.float32
    assert torch.allclose(rebuilt.state_dict()[w], model.state_dict()[w], atol=1e-2)


def test_wrong_architecture_names_keys_and_shapes(tmp_path: Path):
    config = ModelConfig()
    state = create_model(config).state_dict()
    first = next(iter(state))
    state.pop(first)
    state["extra.weight"] = torch.zeros(3)
    name, tensor = next((k, v) for k, v in state.items() if v.ndim == 4)
    state[name] = torch.zeros(tensor.shape[0] + 1, *tensor.shape[1:])
    torch.save({"model_config": config.to_dict(), "state_dict": state}, tmp_path / "w.pt")
    with pytest.raises(InspectorError) as err:
        build_reference_model(load_checkpoint(tmp_path / "w.pt"))
    message = str(err.value)
    assert "missing keys" in message and first in message
    assert "unexpected keys" in message and "extra.weight" in message
    assert "shape mismatches" in message and name in message


class _WritesAFile:
    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (Path(self.target), "pwned"))


def test_malicious_pickle_never_runs(tmp_path: Path):
    target = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "payload": _WritesAFile(str(target))}, path)
    with pytest.raises(InspectorError, match="arbitrary Python objects"):
        load_checkpoint(path)
    assert not target.exists()
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(pickle.dumps(_WritesAFile(str(target)), protocol=2))
    with pytest.raises(InspectorError, match="legacy"):
        load_checkpoint(legacy)
    assert not target.exists()


def test_not_a_checkpoint_and_absurd_sizes(tmp_path: Path):
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(InspectorError, match="not a PyTorch checkpoint"):
        load_checkpoint(text)
    path = save_checkpoint(tmp_path / "ok.pt", create_model(ModelConfig()), ModelConfig())
    with pytest.raises(InspectorError, match="limit"):
        load_raw(path, limit=1024)
    bogus = tmp_path / "bogus.pt"
    with zipfile.ZipFile(bogus, "w") as z:
        z.writestr("archive/readme.txt", "no pickle here")
    with pytest.raises(InspectorError, match="data.pkl"):
        load_checkpoint(bogus)
    assert os.path.getsize(path) > 1024


def test_tensor_claiming_absurd_size_is_refused_before_allocating(tmp_path: Path):
    """A pickle edited so a 123-element tensor claims 2e9 elements (8 GB) is refused; nothing is allocated."""
    import struct

    honest = tmp_path / "honest.pt"
    torch.save({"state_dict": {"w": torch.zeros(123)}}, honest)
    with zipfile.ZipFile(honest) as z:
        members = {n: z.read(n) for n in z.namelist()}
    pkl = next(n for n in members if n.endswith("data.pkl"))
    assert members[pkl].count(b"K{") >= 1  # BININT1 123: the shape (and storage size)
    members[pkl] = members[pkl].replace(b"K{", b"J" + struct.pack("<i", 2_000_000_000))
    forged = tmp_path / "forged.pt"
    with zipfile.ZipFile(forged, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    with pytest.raises(InspectorError, match="claims more data than the file stores"):
        load_checkpoint(forged)
