"""Remote inputs for every command: a URL given where a local path is expected (a log, a run directory, a
checkpoint, a dataset) is fetched into the remote cache (inspector/remote) and the command reads the local
copy. Credentials come from each fsspec backend's own environment variables; messages show the URL
without them (`display_url`).

The command line is run by the user as themselves, so URLs are not confined to INSPECTOR_ROOTS here (as
local paths are not); the app confines both.
"""

from __future__ import annotations

import argparse

from inspector.remote import Mirror, display_url, fetch_file, is_remote

# Options naming one file each (a checkpoint, a log, evaluation rows, a class split, evaluate-merge's shard
# files, compare's A and B) and options naming a directory (a dataset, video clips): what main() resolves
# before a command runs.
FILE_OPTIONS = ("checkpoint", "log", "rows", "split", "files", "a", "b")
DIR_OPTIONS = ("data", "clips")


def mirrored(text: str) -> Mirror:
    """A remote log file or run directory, synced once (`Mirror.local` is what readers read)."""
    mirror = Mirror(text)
    mirror.sync()
    return mirror


def local_file(text: str) -> str:
    """`text` itself, or the local copy of the remote file it names."""
    return str(fetch_file(text)) if is_remote(text) else text


def local_dir(text: str) -> str:
    """`text` itself, or the local mirror of the remote directory it names."""
    return str(mirrored(text).local) if is_remote(text) else text


def resolve_remote_options(args: argparse.Namespace) -> None:
    """Replace remote values of the file and directory options with their local copies, in place. The values
    as given are kept in `args.given_inputs` ({option: value}), so that work sent to other machines (Ray
    tasks) can fetch the URLs there instead of reading this machine's copies."""
    given: dict[str, str | list[str]] = {}
    for names, local in ((FILE_OPTIONS, local_file), (DIR_OPTIONS, local_dir)):
        for name in names:
            value = getattr(args, name, None)
            if isinstance(value, str):
                given[name] = value
                setattr(args, name, local(value))
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                given[name] = list(value)
                setattr(args, name, [local(v) for v in value])
    args.given_inputs = given


def given_input(args: argparse.Namespace, name: str) -> str | None:
    """Option `name` as the user gave it (a URL stays a URL); its value when resolve_remote_options has not
    run (a command called in-process)."""
    value = getattr(args, "given_inputs", {}).get(name, getattr(args, name, None))
    return value if isinstance(value, str) or value is None else None


__all__ = [
    "display_url",
    "given_input",
    "is_remote",
    "local_dir",
    "local_file",
    "mirrored",
    "resolve_remote_options",
]
