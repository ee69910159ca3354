"""The one registry mechanism, and the four registries built on it: readers, dialects, adapters, commands."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from inspector.adapters import ADAPTERS, ReferenceDetector, register_adapter, resolve_adapter
from inspector.cli import COMMANDS, Command, build_parser
from inspector.data import READERS as READ_DATASETS
from inspector.data import detect_format, read_dataset
from inspector.errors import InspectorError
from inspector.registry import Registry, doc_summary
from inspector.rules import RULES
from inspector.runlog import formats
from inspector.runlog.registry import READERS, Reader
from inspector.runlog.text_dialects import DIALECTS, GENERIC, detect_dialect


def test_a_declared_entry_is_imported_on_first_use_only(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "lazy_plugin_for_test.py").write_text('"""A plugin."""\nVALUE = 42\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry[int] = Registry("number", str)
    registry.declare("answer", "lazy_plugin_for_test:VALUE")
    assert registry.names() == ("answer",) and "lazy_plugin_for_test" not in sys.modules
    assert registry.get("answer") == 42 and "lazy_plugin_for_test" in sys.modules
    monkeypatch.delitem(sys.modules, "lazy_plugin_for_test")


def test_entries_keep_declared_order_and_list_what_they_are() -> None:
    registry: Registry[int] = Registry("number", lambda n: f"{n} doubled is {2 * n}")
    registry.add("three", 3)
    registry.add("one", 1)
    assert registry.names() == ("three", "one")
    assert list(registry) == [("three", 3), ("one", 1)]
    assert registry.listing() == {"three": "3 doubled is 6", "one": "1 doubled is 2"}
    registry.add("three", 33)  # add replaces
    assert registry.get("three") == 33 and len(registry.names()) == 2


def test_an_unknown_name_is_a_user_error_naming_the_choices() -> None:
    registry: Registry[int] = Registry("number", str)
    registry.add("one", 1)
    with pytest.raises(InspectorError, match="unknown number 'two'; choose one of one"):
        registry.get("two")
    assert "two" not in registry


def test_a_name_declared_twice_is_a_programming_error() -> None:
    registry: Registry[int] = Registry("number", str)
    registry.declare("one", "json")
    with pytest.raises(ValueError, match="registered twice"):
        registry.declare("one", "json")


def test_every_reader_is_registered_under_its_own_name() -> None:
    for name, reader in READERS:
        assert isinstance(reader, Reader), name
        assert reader.NAME == name
        assert reader.__name__.startswith("inspector.runlog.readers.")
    assert list(formats()) == list(READERS.names())
    assert READERS.names()[-1] == "text"  # the fallback reader is tried last
    readers_dir = Path(READERS.get("text").__file__).parent
    modules = {p.stem for p in readers_dir.glob("*.py")} - {"__init__"}
    assert modules == {reader.__name__.rsplit(".", 1)[1] for _, reader in READERS}  # the folder is the list


def test_dialects_are_searched_in_order_and_generic_is_the_fallback() -> None:
    names = DIALECTS.names()
    assert names[-1] == GENERIC and DIALECTS.get(GENERIC).marker is None
    assert all(DIALECTS.get(n).marker is not None for n in names[:-1])
    # MMEngine's val line also carries mmdet 2.x's marker: MMEngine is searched first.
    line = "2024/01/01 00:00:00 - mmengine - INFO - Epoch(val) [1][500/500]    coco/bbox_mAP: 0.1000\n"
    assert DIALECTS.get("mmdet").marker.search(line) and detect_dialect(line) == "mmengine"
    assert detect_dialect("nothing to see\n") == GENERIC
    assert all(DIALECTS.listing().values())


def test_adapters_register_and_resolve_through_the_registry() -> None:
    assert resolve_adapter("reference") is ReferenceDetector
    assert "reference" in ADAPTERS.listing()

    def factory(path: str) -> ReferenceDetector:
        """A test adapter."""
        return ReferenceDetector(path)

    register_adapter("test-only", factory)
    try:
        assert resolve_adapter("test-only") is factory
        assert ADAPTERS.listing()["test-only"] == "A test adapter."
    finally:
        ADAPTERS.remove("test-only")
    assert "test-only" not in ADAPTERS
    with pytest.raises(InspectorError, match="unknown adapter 'nope'; built in: reference"):
        resolve_adapter("nope")


def test_every_command_is_a_sub_command_with_its_help() -> None:
    parser = build_parser()
    subs = next(a for a in parser._actions if a.dest == "command")
    assert list(subs.choices) == list(COMMANDS.names())
    for name, command in COMMANDS:
        assert isinstance(command, Command), name
        assert subs.choices[name].description == command.HELP == COMMANDS.listing()[name]


def test_a_listing_is_the_first_paragraph_of_the_docstring_on_one_line() -> None:
    def documented() -> None:
        """Says what comes back,
        over two lines.

        Details that a listing leaves out."""

    assert doc_summary(documented) == "Says what comes back, over two lines."
    assert doc_summary(42) == doc_summary(int) and doc_summary(type("Bare", (), {})) == ""


def test_every_rule_is_listed_with_what_it_looks_for_in_reporting_order() -> None:
    listing = RULES.listing()
    assert list(listing) == [name for name, _ in RULES] and len(listing) >= 10
    assert all(line.endswith((".", ")")) for line in listing.values()), listing  # whole sentences


def test_dataset_formats_detect_in_declared_order(tmp_path: Path) -> None:
    assert READ_DATASETS.names() == ("video", "yolo", "coco")
    (tmp_path / "annotations.json").write_text("{}")
    assert detect_format(tmp_path) == "coco"
    (tmp_path / "sample_1" / "object_images").mkdir(parents=True)
    assert detect_format(tmp_path) == "video"  # a sample-folder root with an annotations.json of its own
    assert detect_format(tmp_path / "sample_1" / "object_images") is None
    with pytest.raises(InspectorError, match="unknown dataset format 'voc' \\(known: video, yolo, coco\\)"):
        read_dataset(tmp_path, format="voc")
