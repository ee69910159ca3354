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


# Largest network input side (ModelConfig.image_size) a checkpoint may ask for. The reference detector is
# trained at 128 px; one 2-way 3-shot 4-query episode (no gradients) was measured at +0.3 GB / 3.5 s at 640,
# +0.7 GB / 4.2 s at 1024 and +2.7 GB / 17 s at 2048, and 60000 asked for a 43 GB canvas (MemoryError).
# 1024 covers the 640-1024 px inputs common detectors use (YOLOv8 and RT-DETR train at 640).
MAX_MODEL_IMAGE_SIZE = 1024


# Largest dataset image decoded, in pixels (INSPECTOR_MAX_IMAGE_PIXELS). Pillow's own decompression-bomb
# threshold (1024 MB of 24-bit pixels / 4 / 3 ≈ 89.5 M pixels, ~9459²): a decoded RGB copy costs 268 MB.
# A tiny compressed PNG can claim 20000² (1.2 GB decoded), so the header is checked before decoding.
def max_image_pixels() -> int:
    return _env_int("INSPECTOR_MAX_IMAGE_PIXELS", 1024 * 1024 * 1024 // 4 // 3)


# Most values one companion may hold: YAML nodes counted after alias expansion, Python config tokens.
# Real args.yaml files hold ~100 and an MMDetection config dump 2-10 k; 2 MB of `x = [a, a, …]` took
# 1.4 GB to parse with `ast` (measured), and a 379-byte YAML "billion laughs" expands to 10^10 nodes.
MAX_COMPANION_NODES = 100_000
# Deepest nesting a companion may have. Config dumps nest 5-8 levels (model.roi_head.bbox_head.loss_cls);
# yaml.safe_load's recursive composer raised RecursionError at 600 nested lists (measured), which refused
# the log.
MAX_COMPANION_DEPTH = 64


# torch threads one evaluation uses (`evaluate`, the Compare page). A demo-sized episode (2-way, 128 px)
# measured 2.9× slower with torch's default threads on a 2-core machine: OpenMP threads contend for the cores
# that other sessions and shards need; shards scale out as processes instead.
def eval_threads() -> int:
    return _env_int("INSPECTOR_EVAL_THREADS", 1)


# Whether the Compare page evaluates its aggregate ahead, in its worker process, while another tab is shown
# and nothing else is being evaluated: up to two evaluations (~3 s of one core on the demo) that nobody may
# look at. 0 turns it off: the aggregate is then evaluated when its tab is opened.
def evaluate_ahead() -> bool:
    return os.environ.get("INSPECTOR_EVALUATE_AHEAD", "1").strip() != "0"
