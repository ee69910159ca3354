"""The shared selection and its URL (inspector.ui.links): how a slot writes and reads a choice, when a link's
value is taken, when a widget is set from the kept choice and when the user's change wins; then the pages
opened with URL parameters (AppTest), and the empty and error states of the run picker."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from inspector.errors import InspectorError
from inspector.ui import links, nav
from inspector.ui.links import SourceSlot, ValueSlot
from inspector.ui.sources import RunSource, demo_runs, user_terms

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 120
RUN = SourceSlot("run_kind", "run_demo", "run_path", ("troubled", "fixed"), ("demo", "upload", "server path"))
COMPARE = SourceSlot(
    "compare_kind",
    "compare_demo",
    "compare_path",
    ("troubled", "fixed"),
    ("none", "demo", "upload", "server path"),
)
EPISODE = ValueSlot("episode", links.episode_number)


# ------------------------------------------------------------------------------------------------ slots


def test_a_source_slot_writes_demo_runs_paths_and_none_and_leaves_uploads_out():
    assert RUN.encode({"run_kind": "demo", "run_demo": "fixed"}) == "demo:fixed"
    assert RUN.encode({"run_kind": "demo"}) == "demo:troubled"  # the selectbox's first option
    assert RUN.encode({"run_kind": "server path", "run_path": "/data/log.csv"}) == "/data/log.csv"
    assert RUN.encode({"run_kind": "server path", "run_path": ""}) is None
    assert RUN.encode({"run_kind": "upload"}) is None  # an upload cannot be linked
    assert COMPARE.encode({"compare_kind": "none"}) == ""


def test_a_source_slot_reads_back_what_it_wrote_and_refuses_what_its_widgets_cannot_show():
    assert RUN.decode("demo:fixed") == {"run_kind": "demo", "run_demo": "fixed"}
    assert RUN.decode("s3://bucket/run/log.csv") == {
        "run_kind": "server path",
        "run_path": "s3://bucket/run/log.csv",
    }
    assert RUN.decode("demo:nope") is None
    assert RUN.decode("") is None  # the run picker has no "none"
    assert COMPARE.decode("") == {"compare_kind": "none"}
    for state in (
        {"run_kind": "demo", "run_demo": "fixed"},
        {"run_kind": "server path", "run_path": "x.csv"},
    ):
        value = RUN.encode(state)
        assert value is not None and RUN.encode(RUN.decode(value) or {}) == value


def test_value_slots_parse_and_check_their_options():
    assert EPISODE.decode("12") == {"episode": 12}
    assert EPISODE.decode("-1") is None and EPISODE.decode("two") is None
    view = ValueSlot("view", str, ("weighted", "raw", "side by side"))
    assert view.decode("raw") == {"view": "raw"} and view.decode("log") is None
    assert EPISODE.encode({"episode": 3}) == "3" and EPISODE.encode({}) is None


# --------------------------------------------------------------------------------- taking and showing


def test_a_link_is_taken_once_and_the_sessions_own_url_is_not_taken_again():
    state: dict = {}
    assert links.take_link({"run": "demo:fixed", "episode": "4", "utm": "x"}, state) == ["run", "episode"]
    assert links.store(state) == {"run": "demo:fixed", "episode": "4"}
    assert links.take_link({"run": "demo:fixed"}, state) == []  # the URL the session wrote itself
    assert links.take_link({}, state) == [] and links.store(state)["run"] == "demo:fixed"  # a page link


def test_the_kept_choice_fills_widgets_another_page_left_or_streamlit_dropped():
    state: dict = {}
    links.take_link({"run": "demo:fixed"}, state)
    assert links.show_kept("run", RUN, state) is None
    assert state["run_kind"] == "demo" and state["run_demo"] == "fixed"
    links.keep("run", RUN, state)
    # Streamlit dropped the widgets on a page change: they come back from the kept choice.
    del state["run_kind"], state["run_demo"]
    links.show_kept("run", RUN, state)
    assert (state["run_kind"], state["run_demo"]) == ("demo", "fixed")


def test_the_users_change_wins_over_the_kept_choice():
    state: dict = {}
    links.take_link({"run": "demo:fixed"}, state)
    links.show_kept("run", RUN, state)
    links.keep("run", RUN, state)
    state["run_kind"] = "server path"  # the user picked another source, with no path typed yet
    assert links.show_kept("run", RUN, state) is None
    assert state["run_kind"] == "server path"
    links.keep("run", RUN, state)
    assert links.store(state)["run"] is None and links.url_params(links.store(state)) == {}


def test_another_slot_of_the_same_choice_follows_it():
    """Compare's checkpoint A and the Episodes page's checkpoint are one choice: `checkpoint`."""
    episodes = SourceSlot(
        "ckpt_kind", "ckpt_demo", "ckpt_path", ("fixed/best.pt", "troubled/best.pt"), ("demo",)
    )
    side_a = SourceSlot("A_kind", "A_demo", "A_path", ("fixed/best.pt", "troubled/best.pt"), ("demo",))
    state: dict = {"ckpt_kind": "demo", "ckpt_demo": "troubled/best.pt"}
    links.keep("checkpoint", episodes, state)
    state.update({"A_kind": "demo", "A_demo": "fixed/best.pt"})  # stale: A's widgets from an earlier visit
    links.keep("checkpoint", side_a, state)
    state["ckpt_demo"] = "fixed/best.pt"  # the user, back on Episodes, changes it
    links.show_kept("checkpoint", episodes, state)
    assert state["ckpt_demo"] == "fixed/best.pt"  # the user's change stands
    links.keep("checkpoint", episodes, state)
    state["A_demo"] = "fixed/best.pt"
    state.pop("A_kind")
    links.show_kept("checkpoint", side_a, state)
    assert state["A_demo"] == "fixed/best.pt" and state["A_kind"] == "demo"


def test_an_unknown_demo_name_is_refused_and_never_written():
    state: dict = {}
    links.take_link({"run": "demo:nope"}, state)
    assert links.show_kept("run", RUN, state) == "demo:nope"
    assert "run_kind" not in state


def test_url_params_leave_out_uploads_and_an_empty_compare():
    assert links.url_params({"run": "demo:a", "compare": "", "checkpoint": None, "episode": "2"}) == {
        "run": "demo:a",
        "episode": "2",
    }


def test_pages_url_paths_are_streamlits():
    assert [p.url_path for p in nav.PAGES] == [
        "",
        "Loss_curves",
        "Episodes",
        "Compare",
        "Balance",
        "Runs",
    ]


# ------------------------------------------------------------------------------------ pages with links


def _open(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(REPO / page), default_timeout=TIMEOUT)
    at.query_params.update(query)
    return at.run()


needs_demo = pytest.mark.skipif(len(demo_runs()) < 2, reason="the bundled demo has two runs")


@needs_demo
def test_a_link_opens_its_run_and_view_and_the_url_says_so():
    at = _open("pages/1_Loss_curves.py", run="demo:fixed", view="raw")
    assert not at.exception
    assert at.sidebar.selectbox(key="run_demo").value == "fixed"
    assert at.sidebar.radio(key="view").value == "raw"
    assert at.query_params["run"] == "demo:fixed" and at.query_params["view"] == "raw"


@needs_demo
def test_the_url_follows_the_users_choice():
    at = _open("app.py")
    assert at.query_params["run"] == "demo:troubled"
    at.sidebar.selectbox(key="run_demo").select("fixed").run()
    assert at.query_params["run"] == "demo:fixed"
    assert any("fixed" in h.value for h in at.subheader)


@needs_demo
def test_a_link_to_a_demo_run_this_server_lacks_is_said_in_the_main_area():
    at = _open("app.py", run="demo:nope")
    assert not at.exception
    assert any("demo:nope" in w.value for w in at.main.warning)
    assert at.sidebar.selectbox(key="run_demo").value == "troubled"


# --------------------------------------------------------------------------------- empty and error states


def test_choosing_upload_with_nothing_uploaded_says_what_to_upload_in_the_main_area():
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    at.session_state["run_kind"] = "upload"
    at.run()
    assert not at.exception
    text = " ".join(e.value for e in [*at.main.info, *at.main.markdown])
    assert "Upload a training log" in text
    for what in ("TensorBoard event file", "Ultralytics results.csv", "MMEngine", "Detectron2", "DETR"):
        assert what in text


def test_an_empty_server_path_says_what_to_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INSPECTOR_ROOTS", str(tmp_path))
    at = AppTest.from_file(str(REPO / "pages/1_Loss_curves.py"), default_timeout=TIMEOUT)
    at.session_state["run_kind"] = "server path"
    at.run()
    assert not at.exception
    assert any("INSPECTOR_ROOTS" in e.value for e in at.main.info)


def test_a_missing_server_path_is_not_found_in_the_main_area(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INSPECTOR_ROOTS", str(tmp_path))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    at.session_state["run_kind"] = "server path"
    at.session_state["run_path"] = "/no/such/dir/log.csv"
    at.run()
    assert not at.exception
    errors = [e.value for e in at.main.error]
    assert any("no such file or directory" in e for e in errors)
    assert not any("outside the allowed roots" in e for e in errors)


def test_an_uploads_error_names_the_users_file_not_the_store(tmp_path: Path):
    stored = tmp_path / "uploads" / "sets" / "0123abcd" / "notes.txt"
    source = RunSource("notes.txt", (str(stored),), None, "0123abcd", uploaded=True)
    message = user_terms(InspectorError("not a training log", path=stored, line=3), source)
    assert message == "notes.txt, line 3: not a training log"
    remote = RunSource(
        "s3://bucket/run", (str(tmp_path / "mirror"),), None, "k", url="s3://key:secret@bucket/run"
    )
    inside = user_terms(InspectorError("bad record", path=tmp_path / "mirror" / "events.out"), remote)
    assert inside == "s3://bucket/run/events.out: bad record" and "secret" not in inside


def test_settings_are_kept_across_pages_but_buttons_and_uploads_are_not_touched():
    state: dict = {
        "log_y": True,
        "zoom_from_abc": 10,
        "ep_next": False,
        "run_upload": ["f"],
        "loss_chart": {},
    }

    class Recorder(dict):
        written: list[str] = []

        def __setitem__(self, key, value):
            self.written.append(key)
            super().__setitem__(key, value)

    recorder = Recorder(state)
    links.keep_settings(recorder)
    assert sorted(recorder.written) == ["log_y", "zoom_from_abc"]
    assert recorder == state


@needs_demo
def test_compare_opens_on_the_linked_checkpoints_and_dataset():
    at = AppTest.from_file(str(REPO / "pages/3_Compare.py"), default_timeout=TIMEOUT)
    at.query_params.update(
        {"checkpoint": "demo:fixed/epoch_4.pt", "checkpoint_b": "demo:troubled/epoch_8.pt", "episode": "3"}
    )
    at.session_state["cmp_tab"] = "Training logs"  # no detector run needed to check the pickers
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox(key="A_demo").value == "fixed/epoch_4.pt"
    assert at.sidebar.selectbox(key="B_demo").value == "troubled/epoch_8.pt"
    assert at.query_params["checkpoint_b"] == "demo:troubled/epoch_8.pt"
    assert at.query_params["dataset"] == "demo:shapes (val)"


def test_the_link_names_the_page_once_whichever_address_streamlit_gives():
    params = {"run": "demo:fixed", "episode": "2"}
    for address in ("http://h:8501", "http://h:8501/", "http://h:8501/Episodes", "http://h:8501/Episodes/"):
        assert (
            links.page_url(address, "Episodes", params) == "http://h:8501/Episodes?run=demo%3Afixed&episode=2"
        )
    assert links.page_url("http://h:8501", "", {}) == "http://h:8501/"
    assert links.page_url("http://h:8501/app/", "", params) == "http://h:8501/app/?run=demo%3Afixed&episode=2"
