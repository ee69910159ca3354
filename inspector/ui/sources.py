"""The run-source picker shared by every page: the bundled demo runs, an upload, or a server path."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from inspector import uploads
from inspector.errors import InspectorError
from inspector.paths import demo_dir
from inspector.runlog import RunLog, formats, read_logs
from inspector.ui import links
from inspector.ui.locations import server_location

AUTO = "auto-detect"


@dataclass(frozen=True)
class RunSource:
    """Where a run's log comes from: files on disk (uploads are saved first) and a format override."""

    label: str
    paths: tuple[str, ...]
    format: str | None
    content_key: str
    url: str | None = None  # the remote log mirrored at paths[0] (may hold credentials: never shown)
    uploaded: bool = False  # paths are the upload store's copies: messages name the user's file instead

    def shown(self, path: str) -> str:
        """`path` as the user knows it: an upload's own file name, a remote log's URL, else the path."""
        for p in self.paths:
            if path == p or path.startswith(p.rstrip("/") + "/"):
                own = Path(p).name if self.uploaded else (self.label if self.url else p)
                return own + path[len(p) :]
        return path


# The demo run the app opens on: the one that shows the problem inspector exists to diagnose.
FIRST_DEMO_RUN = "troubled"


def demo_runs() -> dict[str, Path]:
    """{run name: log path} of the bundled demo runs (demo/runs/<name>/log.jsonl), the troubled run first."""
    found = sorted(
        (demo_dir() / "runs").glob("*/log.jsonl"),
        key=lambda p: (p.parent.name != FIRST_DEMO_RUN, p.parent.name),
    )
    return {p.parent.name: p for p in found}


def content_key(paths: tuple[str, ...]) -> str:
    """A hash of the files' names, sizes and modification times (cheap; uploads are keyed by content); a
    directory counts its files and theirs one level down (a TensorBoard run directory's event files)."""
    h = hashlib.sha256()
    for p in paths:
        path = Path(p)
        files = [path] if not path.is_dir() else [path, *sorted(path.glob("*")), *sorted(path.glob("*/*"))]
        for f in files:
            stat = f.stat()
            h.update(f"{f}|{stat.st_size}|{stat.st_mtime_ns};".encode())
    return h.hexdigest()[:24]


def save_uploads(files: list) -> tuple[str, ...]:
    """Save Streamlit's uploaded files as one set in the upload store (inspector/uploads.py); their paths."""
    saved = uploads.save([uploads.Upload(f.name, f.getvalue()) for f in files])
    return tuple(str(p) for p in saved)


def pick_run_source(key: str = "run", label: str = "Run", allow_none: bool = False) -> RunSource | None:
    """Sidebar widgets choosing a run; the choice lives in session_state so every page shares it."""
    runs = demo_runs()
    kinds = (["none"] if allow_none else []) + (["demo"] if runs else []) + ["upload", "server path"]
    param: links.Param = "run" if key == "run" else "compare"
    slot = links.SourceSlot(f"{key}_kind", f"{key}_demo", f"{key}_path", tuple(runs), tuple(kinds))
    links.bind(param, slot)
    source = _pick(key, label, runs, kinds)
    links.remember(param, slot)
    return source


def _pick(key: str, label: str, runs: dict[str, Path], kinds: list[str]) -> RunSource | None:
    """pick_run_source's widgets and what they choose."""
    kind = st.sidebar.radio(f"{label} source", kinds, key=f"{key}_kind", horizontal=True)
    format_names = [AUTO, *formats()]
    if kind == "none":
        return None
    if kind == "demo":
        name = st.sidebar.selectbox(f"{label}: demo run", list(runs), key=f"{key}_demo")
        paths = (str(runs[name]),)
        return RunSource(f"demo/{name}", paths, None, content_key(paths))
    fmt: str | None = st.sidebar.selectbox(f"{label}: format", format_names, key=f"{key}_format")
    fmt = None if fmt == AUTO else fmt
    if kind == "upload":
        files = st.sidebar.file_uploader(
            f"{label}: log file (+ args.yaml / hyp.yaml)", accept_multiple_files=True, key=f"{key}_upload"
        )
        if not files:
            st.sidebar.info("Upload a training log to analyse it.")
            if key == "run":
                explain_upload()
            return None
        # Hashing and writing a large upload costs ~0.5 s: do it once per upload, not on every rerun.
        upload_ids = tuple(getattr(f, "file_id", f.name) for f in files)
        saved = st.session_state.setdefault("_saved_uploads", {})
        if upload_ids not in saved or not all(Path(p).is_file() for p in saved[upload_ids]):
            try:
                saved[upload_ids] = save_uploads(files)
            except InspectorError as exc:
                report(f"Cannot take the upload: {exc}")
                return None
        paths = saved[upload_ids]
        uploads.touch(paths)
        names = ", ".join(Path(p).name for p in paths)
        return RunSource(names, paths, fmt, Path(paths[0]).parent.name, uploaded=True)
    text = st.sidebar.text_input(
        f"{label}: path on the server",
        key=f"{key}_path",
        help="A log file or TensorBoard run directory inside INSPECTOR_ROOTS: a local path, or a URL "
        "(s3://, gs://, https://) below a remote root listed there.",
    )
    if not text:
        if key == "run":
            st.info(
                "Type the path of a training log, or of a TensorBoard run directory, in the sidebar. "
                + ROOTS_HINT,
                icon=":material/folder_open:",
            )
        return None
    try:
        where = server_location(text)
        paths = (str(where.local),)
        return RunSource(where.label, paths, fmt, content_key(paths), where.url)
    except InspectorError as exc:
        report(f"Cannot open {label.lower()} {text.strip()!r}: {exc.reason}")
        return None


ROOTS_HINT = (
    "Paths are read inside the server's INSPECTOR_ROOTS (a local folder, or an s3://, gs:// or https:// root "
    "listed there)."
)


def report(message: str) -> None:
    """A picker's error, where the user looks: in the main area, with a pointer in the sidebar."""
    st.error(message, icon=":material/error:")
    st.sidebar.caption(":material/error: See the message in the main area.")


def supported_formats() -> str:
    """The formats inspector reads, as a Markdown list (the readers' own descriptions)."""
    return "\n".join(f"- {_plain(description)}" for description in formats().values())


def _plain(text: str) -> str:
    """`text` with Markdown's emphasis characters escaped ("train_*/test_*" is not italics)."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")


def explain_upload() -> None:
    """The main area while the upload picker holds no file: what to upload, and what inspector reads."""
    st.info(
        "**Upload a training log** in the sidebar (drop it on the upload box there). Add the run's config "
        "files with it (Ultralytics `args.yaml`, `hyp.yaml`; a YAML/JSON config with the loss weights) so "
        "the weights are read, not guessed. A whole TensorBoard run directory can be given as a path on the "
        "server.",
        icon=":material/upload_file:",
    )
    st.markdown("**Logs inspector reads** (the format is detected; the sidebar's *format* overrides it):")
    st.markdown(supported_formats())


# cache_resource, not cache_data: a 1M-step RunLog pickles to ~160 MB, and cache_data's store + copy on
# every rerun cost ~2 s there (measured, bench/bench_browser.py); the pages never mutate a RunLog.
@st.cache_resource(show_spinner="Reading the log…", max_entries=8)
def _read_cached(paths: tuple[str, ...], fmt: str | None, key: str) -> RunLog:
    return read_logs(list(paths), format=fmt)


def load_run(source: RunSource) -> RunLog | None:
    """The source's RunLog, cached by content; an unreadable log shows st.error and returns None."""
    try:
        return _read_cached(source.paths, source.format, source.content_key)
    except InspectorError as exc:
        st.error(f"Cannot read {source.label}: {user_terms(exc, source)}", icon=":material/error:")
        if source.uploaded:
            with st.expander("What inspector reads"):
                st.markdown(supported_formats())
        return None


def user_terms(exc: InspectorError, source: RunSource) -> str:
    """The error as the user knows their files: the file's own name (never the upload store's path), its
    line, and the reason."""
    if exc.path is None:
        return exc.reason
    line = "" if exc.line is None else f", line {exc.line}"
    return f"{source.shown(exc.path)}{line}: {exc.reason}"
