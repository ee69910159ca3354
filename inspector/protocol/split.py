"""The base / novel class split of the few-shot protocol: which classes the detector trained on (base) and
which it meets only through its K support shots (novel), so that bAP and nAP are reported apart.

Where it comes from, first found wins:
- `--novel-classes a,b` (the rest of the dataset's classes are base);
- `--split FILE`: YAML or JSON `{novel: [...], base: [...]}` (base optional: the rest), or a text file of
  novel class names, one per line (`#` starts a comment);
- the checkpoint's train config, when it names its classes: `novel_classes`, else `base_classes` or
  `train_classes` (the classes it trained on: base; the rest of the dataset: novel). The split then says so;
- none: every class counts alike (AP only).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from inspector.errors import InspectorError

WaysFrom = Literal["novel", "base", "all"]
WAYS_FROM: tuple[WaysFrom, ...] = ("novel", "base", "all")

# A split file is a short list of names; anything larger is not one.
MAX_SPLIT_BYTES = 1 << 20

# Keys of a train config that name its classes, by what they mean.
_CONFIG_NOVEL = ("novel_classes",)
_CONFIG_BASE = ("base_classes", "train_classes")


@dataclass(frozen=True)
class ClassSplit:
    """Novel and base class names (disjoint, in the dataset's order) and where the split came from."""

    novel: tuple[str, ...]
    base: tuple[str, ...]
    source: str

    def classes(self, ways_from: WaysFrom) -> tuple[str, ...]:
        """The class names episodes draw their ways from; () means every class."""
        return {"novel": self.novel, "base": self.base, "all": ()}[ways_from]

    def as_dict(self) -> dict[str, Any]:
        return {"novel": list(self.novel), "base": list(self.base), "source": self.source}


def make_split(
    class_names: Sequence[str],
    novel: Sequence[str] | None,
    base: Sequence[str] | None,
    source: str,
) -> ClassSplit:
    """The split of a dataset's classes given novel and/or base names (the other side: the rest);
    InspectorError for names the dataset lacks, a class on both sides, or an empty side."""
    known = list(class_names)
    named = [*(novel or ()), *(base or ())]
    unknown = [n for n in dict.fromkeys(named) if n not in known]
    if unknown:
        shown = ", ".join(map(repr, known[:20])) + (" …" if len(known) > 20 else "")
        raise InspectorError(f"{source}: no class {', '.join(map(repr, unknown))} in the dataset ({shown})")
    both = sorted(set(novel or ()) & set(base or ()), key=known.index)
    if both:
        raise InspectorError(f"{source}: {', '.join(map(repr, both))} is both novel and base")
    if novel is not None:
        novel_set = set(novel)
        base_set = set(base) if base is not None else set(known) - novel_set
    else:
        base_set = set(base or ())
        novel_set = set(known) - base_set
    split = ClassSplit(
        tuple(n for n in known if n in novel_set), tuple(n for n in known if n in base_set), source
    )
    if not split.novel:
        raise InspectorError(f"{source}: the split leaves no novel class")
    return split


def parse_names(text: str) -> list[str]:
    """Class names of `--novel-classes a,b` (spaces around names dropped, empty names ignored)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def read_split_file(path: str | os.PathLike, class_names: Sequence[str]) -> ClassSplit:
    """The split a file defines (module docstring); InspectorError naming the file when it is not one."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_SPLIT_BYTES:
            raise InspectorError(f"over {MAX_SPLIT_BYTES} bytes: not a class split", path=path)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InspectorError(f"cannot read the split file ({exc})", path=path) from None
    source = f"split file {path.name}"
    parsed = _structured(text, path)
    if isinstance(parsed, Mapping):
        novel, base = _names(parsed.get("novel"), "novel", path), _names(parsed.get("base"), "base", path)
        if novel is None and base is None:
            raise InspectorError("a split file's mapping needs a 'novel' or 'base' list", path=path)
        return make_split(class_names, novel, base, source)
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return make_split(class_names, [n for n in lines if n], None, source)


def _structured(text: str, path: Path) -> Any:
    """A JSON or YAML mapping, else None (a plain list of names)."""
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            return None
    if isinstance(value, Mapping):
        return value
    if isinstance(value, list):
        return {"novel": value}
    return None


def _names(value: Any, side: str, path: Path) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InspectorError(f"'{side}' must be a list of class names", path=path)
    return list(value)


def config_names_split(config: Mapping[str, Any] | None) -> bool:
    """Whether a train config names its classes (so `config_split` gives a split)."""
    if not isinstance(config, Mapping):
        return False
    return any(isinstance(config.get(key), list) and config[key] for key in (*_CONFIG_NOVEL, *_CONFIG_BASE))


def config_split(config: Mapping[str, Any] | None, class_names: Sequence[str]) -> ClassSplit | None:
    """The split a checkpoint's train config names (module docstring), None when it names none. Names the
    dataset lacks are an error: the checkpoint was trained on other classes than these."""
    if not isinstance(config, Mapping):
        return None
    for keys, side in ((_CONFIG_NOVEL, "novel"), (_CONFIG_BASE, "base")):
        for key in keys:
            value = config.get(key)
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                source = f"the checkpoint's train config ({key})"
                if side == "novel":
                    return make_split(class_names, value, None, source)
                return make_split(class_names, None, value, source)
    return None


def resolve_split(
    class_names: Sequence[str],
    novel_classes: str | None,
    split_file: str | None,
    train_config: Mapping[str, Any] | None,
) -> ClassSplit | None:
    """The split the options ask for, else the checkpoint's, else None (module docstring's order)."""
    if novel_classes is not None and split_file is not None:
        raise InspectorError("give --novel-classes or --split, not both")
    if novel_classes is not None:
        return make_split(class_names, parse_names(novel_classes), None, "--novel-classes")
    if split_file is not None:
        return read_split_file(split_file, class_names)
    return config_split(train_config, class_names)
