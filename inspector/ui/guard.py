"""A context manager that turns an unexpected exception in one page section into a short st.error."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from inspector.errors import InspectorError

log = logging.getLogger("inspector.ui")


@contextmanager
def guard(what: str) -> Iterator[None]:
    """Yield; an exception inside shows one st.error naming `what`, and the rest of the page still renders.

    InspectorError is the user's input explained, so its message is shown as is; anything else is our bug:
    the user gets its type and message, the server log gets the traceback. Streamlit's own rerun/stop
    signals derive from BaseException and pass through untouched.
    """
    try:
        yield
    except InspectorError as exc:
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001 — the whole point is a page that survives one broken section
        log.exception("while drawing %s", what)
        st.error(f"Could not show {what}: {type(exc).__name__}: {exc}")
