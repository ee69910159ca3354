"""inspector/compare_worker.py: one side of a comparison evaluated in the worker process is what the page's
own thread computes; the worker reports progress, passes an adapter's error on, and its death (an input that
kills the interpreter) fails only that side, the next side starting a fresh worker."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from inspector import compare_worker
from inspector.adapters import load_detector, register_adapter
from inspector.batch import EpisodePlan, EvalSettings, run_meta
from inspector.batch.stored import summary_path
from inspector.checkpoint import save_checkpoint
from inspector.data import read_dataset
from inspector.data.shapes import write_coco_dataset
from inspector.errors import InspectorError
from inspector.model import ModelConfig, create_model

TINY = ModelConfig(widths=(8, 16, 16, 24, 32), neck_dim=24, head_dim=16, embed_dim=16)
SETTINGS = EvalSettings(episodes=6, n_way=2, k_shot=1, n_query=2)
TESTS = str(Path(__file__).resolve().parent)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("workerdata") / "val"
    write_coco_dataset(root, 16, seed=4)
    return root


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(1)
    return save_checkpoint(tmp_path_factory.mktemp("workerckpt") / "tiny.pt", create_model(TINY), TINY)


def _submit(
    checkpoint: Path,
    data: Path,
    cache: Path,
    adapter: str = "reference",
    allowed: tuple[str, ...] | None = None,
) -> compare_worker.Submitted:
    dataset = read_dataset(data)
    total = EpisodePlan(dataset, None, SETTINGS).total
    meta = run_meta(checkpoint, adapter, dataset, None, SETTINGS, dataset.class_names, total)
    allowed = (adapter,) if allowed is None else allowed
    return compare_worker.submit(str(checkpoint), adapter, allowed, str(data), SETTINGS, meta, cache)


def test_the_worker_gives_what_the_page_computes(checkpoint: Path, data: Path, tmp_path: Path) -> None:
    sent = _submit(checkpoint, data, tmp_path / "cache")
    there = sent.result.result(timeout=300)
    assert sent.done() == SETTINGS.episodes  # its progress, episode by episode
    assert Path(there.batch.meta["cache"]).parent == tmp_path / "cache"  # the page's cache, not the worker's
    assert summary_path(there.batch.meta["cache"]).is_file()  # the summary kept beside it

    dataset = read_dataset(data)
    plan = EpisodePlan(dataset, None, SETTINGS)
    meta = run_meta(checkpoint, "reference", dataset, None, SETTINGS, dataset.class_names, plan.total)
    here = compare_worker.evaluate_side(load_detector(checkpoint), plan, meta)  # the page's thread, cache hit
    pd.testing.assert_frame_equal(there.batch.rows, here.batch.rows)
    assert repr(there.breakdown) == repr(here.breakdown)  # repr: nan == nan
    assert there.resampled is not None and here.resampled is not None
    np.testing.assert_array_equal(there.resampled.map50, here.resampled.map50)

    fresh = compare_worker.evaluate_side(
        load_detector(checkpoint), EpisodePlan(dataset, None, SETTINGS), meta
    )
    pd.testing.assert_frame_equal(fresh.batch.rows, there.batch.rows)  # and what a fresh run computes


def test_an_adapters_error_reaches_the_page(checkpoint: Path, data: Path, tmp_path: Path) -> None:
    sys.path.insert(0, TESTS)  # the page's import path travels with the side: failing_adapter is found there
    try:
        sent = _submit(checkpoint, data, tmp_path, adapter="failing_adapter:make")
        with pytest.raises(RuntimeError, match="injected failure at episode 1"):
            sent.result.result(timeout=300)
        missing = _submit(checkpoint, data, tmp_path, adapter="failing_adapter:other")
        with pytest.raises(InspectorError, match="has no attribute 'other'"):
            missing.result.result(timeout=300)
        # the server's allowed adapters hold in the worker too
        refused = _submit(checkpoint, data, tmp_path, adapter="failing_adapter:make", allowed=())
        with pytest.raises(InspectorError, match="not allowed on this server"):
            refused.result.result(timeout=300)
    finally:
        sys.path.remove(TESTS)


def test_a_dead_worker_fails_its_side_and_the_next_starts_afresh(
    checkpoint: Path, data: Path, tmp_path: Path
) -> None:
    sys.path.insert(0, TESTS)
    try:
        dead = _submit(checkpoint, data, tmp_path, adapter="crashing_adapter:make")
        with pytest.raises(InspectorError, match=r"worker process stopped \(exit status 3\)"):
            dead.result.result(timeout=300)
    finally:
        sys.path.remove(TESTS)
    alive = _submit(checkpoint, data, tmp_path / "after")
    assert alive.result.result(timeout=300).batch.rows["kind"].eq("image").any()


def test_only_adapters_a_fresh_interpreter_knows_go_to_the_worker() -> None:
    assert compare_worker.runs_in_worker("reference")
    assert compare_worker.runs_in_worker("some_package.module:factory")
    register_adapter("registered-in-this-process", load_detector)
    assert not compare_worker.runs_in_worker("registered-in-this-process")


def test_a_side_job_travels_whole() -> None:
    """What the page sends is plain data (pickled to the worker)."""
    import pickle

    job = compare_worker.SideJob("c.pt", "reference", (), "data", SETTINGS, {"k": [1]}, "/cache", ("/p",))
    assert pickle.loads(pickle.dumps(job)) == job
    assert dataclasses.asdict(job)["settings"]["episodes"] == SETTINGS.episodes
