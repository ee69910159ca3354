"""Following a run in the app (AppTest): the follow toggle, the freshness line, and the page's numbers
moving on as the log grows."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from inspector.live import Poll
from inspector.runlog import RunWriter
from inspector.ui.live_views import poll_caption

REPO = Path(__file__).resolve().parents[1]


def _write(path: Path, first: int, last: int) -> None:
    config = {"loss_weights": {"bbox": 7.5, "cls": 0.5}} if first == 0 else None
    with RunWriter(path, config=config) as log:
        for step in range(first, last):
            log.step(step, losses={"bbox": 1.0 / (step + 1), "cls": 0.5}, lr=1e-3)


@pytest.mark.parametrize("page", ["app.py", "pages/1_Loss_curves.py"])
def test_following_a_growing_log_moves_the_page_on(page: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("INSPECTOR_ROOTS", str(tmp_path))
    path = tmp_path / "log.jsonl"
    _write(path, 0, 100)
    at = AppTest.from_file(str(REPO / page), default_timeout=60).run()
    at.sidebar.radio(key="run_kind").set_value("server path").run()
    at.sidebar.text_input(key="run_path").input(str(path)).run()
    at.sidebar.toggle(key="follow").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [c.value for c in at.caption]
    assert any("Following · last step 99, data" in c for c in captions), captions
    _write(path, 100, 250)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [c.value for c in at.caption]
    assert any("Following · last step 249, data" in c and "appended bytes only" in c for c in captions), (
        captions
    )
    if page == "app.py":
        assert [m.value for m in at.metric if m.label == "Steps"] == ["250"]
    else:  # the chart showed the whole run, and keeps showing all of it as it grows
        assert any(c.startswith("the whole run: 500 of 500 points drawn") for c in captions), captions


def test_the_caption_names_what_a_poll_cost() -> None:
    poll = Poll(None, 3, True, 45_100, 1_000_000, True, 100.0, 104.0, None, 2, 45_164)
    text = poll_caption(poll, now=104.0)
    assert text.startswith("Following · no step yet, data 4 s old · polled ")
    assert "45.1 kB parsed (appended bytes only)" in text and "2 request(s), 45.2 kB fetched" in text
