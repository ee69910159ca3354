"""Config files read beside a log (args.yaml, hyp.yaml, an MMEngine `.py` dump): a mapping, or why not.

A companion only adds to a log (loss gains, the schedule), so a bad one must never cost the log: it is
ignored with a reason (`Companion.problem`) that the reader turns into a warning naming the file. What
one may cost is bounded before it is parsed, because parsing is where the cost is (measured):

- its size, by `limits.max_companion_bytes()`, checked on the file before it is read;
- how many values it holds, by `limits.MAX_COMPANION_NODES`: YAML nodes counted from the parser's event
  stream with every alias expanded (a 379-byte "billion laughs" of anchors is 10^10 nodes; built, the
  shared lists are cheap, but anything that walks or shows them is not), Python tokens counted with one
  regular-expression pass before `ast.parse` (2 MB of names took 1.4 GB to parse);
- how deep it nests, by `limits.MAX_COMPANION_DEPTH` (yaml.safe_load's recursive composer raised
  RecursionError at 600 nested lists, which refused the whole log).

A Python config is never executed: only literals and `dict(...)` calls of top-level assignments are
evaluated from its syntax tree.
"""

from __future__ import annotations

import ast
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from inspector import limits

YAML_SUFFIXES = (".yaml", ".yml", ".json")
PYTHON_SUFFIXES = (".py",)
# libyaml's parser is ~10× faster than PyYAML's own (4.5 s vs 24 s for a 2 MB list, measured).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# An upper bound on Python tokens: every name, number part and punctuation mark counts at least once.
_TOKENISH = re.compile(r"\w+|[^\w\s]")


class CompanionError(Exception):
    """A companion that is not loaded; the message says why (for the warning that names the file)."""


@dataclass(frozen=True)
class Companion:
    """One companion file: its mapping, or None and the reason it was ignored."""

    path: Path
    data: dict | None
    problem: str | None = None

    @property
    def warning(self) -> str:
        """The warning a reader gives for an ignored companion: the file's name and why."""
        return f"{self.path.name} ignored ({self.problem})."


def _size_text(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} kB"


def read_text(path: Path) -> str:
    """The text of a regular file of at most `limits.max_companion_bytes()`; CompanionError otherwise."""
    limit = limits.max_companion_bytes()
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise CompanionError("not a regular file")
        if info.st_size > limit:
            raise CompanionError(
                f"too large: {_size_text(info.st_size)}, the limit is {_size_text(limit)} "
                "(INSPECTOR_MAX_COMPANION_BYTES)"
            )
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise CompanionError(f"cannot read it: {exc.strerror or exc}") from None
    if len(data) > limit:  # it grew after the stat
        raise CompanionError(f"too large: over {_size_text(limit)} (INSPECTOR_MAX_COMPANION_BYTES)")
    return data.decode("utf-8-sig", errors="replace")


def _check_yaml_cost(text: str) -> None:
    """CompanionError when the YAML nests deeper than MAX_COMPANION_DEPTH or expands past MAX_COMPANION_NODES.

    Walks the parser's events (no objects built): a collection or scalar counts 1, an alias counts the
    expanded size of its anchored node.
    """
    max_nodes, max_depth = limits.MAX_COMPANION_NODES, limits.MAX_COMPANION_DEPTH
    sizes: dict[str, int] = {}  # anchor → nodes it expands to
    open_: list[tuple[str | None, int]] = []  # (anchor, total nodes so far when it opened)
    total = 0
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            open_.append((event.anchor, total))
            total += 1
            if len(open_) > max_depth:
                raise CompanionError(
                    f"nested deeper than {max_depth} levels (line {event.start_mark.line + 1})"
                )
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, before = open_.pop()
            if anchor is not None:
                sizes[anchor] = total - before
        elif isinstance(event, yaml.ScalarEvent):
            total += 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            total += sizes.get(event.anchor, 1)
        if total > max_nodes:
            raise CompanionError(
                f"more than {max_nodes:,} values once its aliases are expanded "
                f"(line {event.start_mark.line + 1})"
            )


def yaml_mapping(text: str) -> dict:
    """The top-level mapping of a YAML (or JSON) document, within the companion bounds; CompanionError
    otherwise."""
    try:
        _check_yaml_cost(text)
        data = yaml.load(text, Loader=_YAML_LOADER)
    except CompanionError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise CompanionError(f"YAML error{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise CompanionError(f"YAML error: {exc}") from None
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:
        # e.g. an integer of over 4,300 digits (ValueError from int()), a bound missed
        raise CompanionError(f"cannot be loaded ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(data, dict):
        raise CompanionError(f"not a mapping of settings (it holds {type(data).__name__})")
    return data


def _literal(node: ast.AST) -> Any:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and not node.args
    ):
        return {kw.arg: _literal(kw.value) for kw in node.keywords if kw.arg is not None}
    if isinstance(node, ast.Dict):
        return {
            _literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=False) if k is not None
        }
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e) for e in node.elts]
    return ast.literal_eval(node)


def python_assignments(text: str) -> dict[str, Any]:
    """Top-level `name = <literal or dict(...)>` assignments of a Python config; CompanionError when over
    a bound.

    The text is parsed with `ast`, never executed; an assignment whose value is not a literal (a call,
    a name) is left out. Python's parser refuses more than 200 nested brackets itself.
    """
    max_nodes = limits.MAX_COMPANION_NODES
    if len(text) > max_nodes and _TOKENISH.subn("", text)[1] > max_nodes:
        raise CompanionError(f"more than {max_nodes:,} tokens")
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise CompanionError(f"Python syntax error at line {exc.lineno}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise CompanionError(f"cannot be parsed ({type(exc).__name__})") from None
    found: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = _literal(node.value)
            except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                continue  # not a literal (or one too deep to evaluate): not a setting we read
    return found


def load(path: str | os.PathLike) -> Companion:
    """The companion at `path` (YAML/JSON, or a Python config by its suffix), or why it was ignored."""
    p = Path(path)
    try:
        text = read_text(p)
        data = python_assignments(text) if p.suffix.lower() in PYTHON_SUFFIXES else yaml_mapping(text)
    except CompanionError as exc:
        return Companion(p, None, str(exc))
    return Companion(p, data)


def gain_problem(value: Any) -> str | None:
    """Why `value` cannot be a loss gain or weight ("is negative", "is not finite", …); None when it can.

    A gain multiplies a loss: a real number, finite and at least 0 (0 switches a loss off). A YAML
    string, even "7.5", or a boolean is a mistake in the file, not a number to guess from.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"is not a number (a {type(value).__name__})"
    try:
        number = float(value)
    except OverflowError:  # an int beyond float64
        return "is too large"
    if not math.isfinite(number):
        return "is not finite"
    if number < 0:
        return "is negative"
    return None
