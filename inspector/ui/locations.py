"""What a user may type where the app asks for a path on the server: a local path below a local root, or
a URL (s3://, gs://, https://, …) below a remote root of INSPECTOR_ROOTS, read through its local mirror.

One mirror per URL is kept for the server's life (shared by the sessions that open it), and synced
each time the page asks for the location: one listing or info request when nothing changed, plus one
ranged read per grown file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from inspector.paths import confined_path
from inspector.remote import Mirror, confined_url, display_url, is_remote


@dataclass(frozen=True)
class Location:
    """Where the readers find what the user named (`local`), what to call it (`label`), and the remote URL
    it mirrors (None for a local path). The URL may hold credentials: it is never shown."""

    local: Path
    label: str
    url: str | None = None


@st.cache_resource(max_entries=64, show_spinner=False)
def mirror_of(url: str) -> Mirror:
    return Mirror(url)


def server_location(text: str) -> Location:
    """The confined location the user typed, synced when remote; InspectorError when refused or unreadable."""
    if is_remote(text):
        url = confined_url(text)
        mirror = mirror_of(url)
        with st.spinner(f"Fetching {display_url(url)}…"):
            mirror.sync()
        return Location(mirror.local, display_url(url), url)
    path = confined_path(text)
    return Location(path, str(path))
