"""What one read may cost: the bounds every reader, companion and upload is held to, in one place.

Each bound is a plain default that an operator can change with the environment variable named beside it
(read when the value is asked for, so a test or a server can change it without a restart). A reader that
meets a bound skips what is over it with a warning naming the file and line, or refuses the input with
InspectorError; it never lets one input take the server's memory, disk or a thread.
"""

from __future__ import annotations

import os


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        return default
    return value if value > 0 else default


# Distinct series one log may hold. Real detector logs have tens to a few hundred scalars (a per-class AP
# table of COCO's 80 classes × a few metrics is ~500); a log with more is machine-generated noise, and a
# sparse log with one new key per row would otherwise cost rows × keys.
def max_series() -> int:
    return _env_int("INSPECTOR_MAX_SERIES", 5_000)


# Deepest JSON nesting parsed. Metric lines nest 1-3 levels (DETR's per-IoU lists are 2); CPython's json
# raises RecursionError near 1,000 and pyarrow's parser was seen to crash the process at 30,000.
MAX_JSON_DEPTH = 64


# Largest companion (args.yaml, hyp.yaml, an MMEngine config dump) read. Real ones are 2-40 kB.
def max_companion_bytes() -> int:
    return _env_int("INSPECTOR_MAX_COMPANION_BYTES", 2 * 1024 * 1024)


# Total disk the upload store may use before the oldest uploads are evicted (INSPECTOR_UPLOAD_MAX_MB).
def max_upload_bytes() -> int:
    return _env_int("INSPECTOR_UPLOAD_MAX_MB", 2048) * 1024 * 1024


# Uploads older than this are evicted whatever the total (INSPECTOR_UPLOAD_MAX_AGE_H).
def max_upload_age_seconds() -> int:
    return _env_int("INSPECTOR_UPLOAD_MAX_AGE_H", 24) * 3600
