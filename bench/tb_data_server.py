"""TensorBoard's Rust data server as a bench peer: start it on a logdir, wait for its load, fetch by gRPC.

Bench-only: nothing under inspector/ imports this or starts the server. The binary is the one the
`tensorboard-data-server` package ships (`tensorboard_data_server.server_binary()`), the gRPC stubs are
tensorboard's own (`tensorboard/data/proto/data_provider_pb2_grpc.py`), the ones TensorBoard's Python
front end uses to talk to it.

One `load_and_fetch(logdir)` is one round of the peer:
  1. start `server --logdir D --reload once --samples-per-plugin scalars=all [--checksum]` on a free port;
  2. wait until it logs "Finished load cycle" (with `--reload once` that is the one and only load, of every
     run, and its commit is done: the runs' data are visible to gRPC);
  3. `ListScalars` (which tags), then one `ReadScalars` of every tag with every point;
  4. each tag's steps, wall times and values as NumPy arrays;
  5. close the server (stdin closed: `--die-after-stdin`).
It also returns the server's own timing of step 2 (its log line) and the client's wall time of steps 3–4,
so a bench can report "load + fetch" without the process start.

`--samples-per-plugin scalars=all` keeps every point: by default the server keeps a 1000-point reservoir
sample per scalar tag. `--checksum` makes it verify every record's data CRC; by default (`--no-checksum`)
it checks a record's data CRC only when the record fails to parse (the length CRC always).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import tensorboard_data_server
from tensorboard.data.proto import data_provider_pb2 as pb
from tensorboard.data.proto import data_provider_pb2_grpc as pb_grpc

SCALARS = "scalars"
# ReadScalars downsamples to at most this many points per tag; above any tag's length, it returns them all.
ALL_POINTS = 2**31 - 1
# gRPC's Python client refuses messages over 4 MB by default; 1M points are ~17 MB.
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", -1)]
# How long the server may take to start and load before the bench gives up.
TIMEOUT_S = 300.0
_FINISHED = re.compile(r"Finished load cycle \(([0-9.]+)(ns|µs|us|ms|s)\)")
_UNIT_S = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


@dataclass(frozen=True)
class Fetched:
    """What one round of the peer got: per tag (steps, wall times, values), and where its time went."""

    series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # tag → (int64, float64, float64), each (N,)
    load_s: float  # the server's own measure of its load cycle ("Finished load cycle (…)")
    fetch_s: float  # ListScalars + ReadScalars + conversion to NumPy, wall time in this process


def binary() -> Path:
    """The data server executable that the installed `tensorboard-data-server` package ships."""
    return Path(tensorboard_data_server.server_binary())


def version() -> str:
    """The server's `--version` line, e.g. "rustboard 0.7.2"."""
    out = subprocess.run([binary(), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _duration_s(line: str) -> float:
    """Seconds in a Rust `Duration` debug string inside a "Finished load cycle" line."""
    match = _FINISHED.search(line)
    if match is None:
        raise ValueError(f"not a load-cycle line: {line!r}")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _wait_for_load(server: subprocess.Popen[str], deadline: float) -> float:
    """Read the server's log until its load cycle finishes; the cycle's own duration in seconds."""
    assert server.stderr is not None
    log: list[str] = []
    while time.monotonic() < deadline:
        line = server.stderr.readline()
        if not line:  # the server exited
            raise RuntimeError(f"data server exited ({server.wait()}): {''.join(log)}")
        log.append(line)
        if "Finished load cycle" in line:
            return _duration_s(line)
    raise TimeoutError(f"data server did not finish loading in {TIMEOUT_S} s: {''.join(log)}")


def fetch_scalars(address: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every point of every scalar tag the server at `address` holds, as NumPy arrays per tag.

    Tags of several runs are named `run/tag` ("." is the logdir itself: then just `tag`).
    """
    plugin = pb.PluginFilter(plugin_name=SCALARS)
    with grpc.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
        stub = pb_grpc.TensorBoardDataProviderStub(channel)
        listed = stub.ListScalars(pb.ListScalarsRequest(plugin_filter=plugin))
        runs = [r.run_name for r in listed.runs]
        tags = sorted({t.tag_name for r in listed.runs for t in r.tags})
        read = stub.ReadScalars(
            pb.ReadScalarsRequest(
                plugin_filter=plugin,
                run_tag_filter=pb.RunTagFilter(runs=pb.RunFilter(names=runs), tags=pb.TagFilter(names=tags)),
                downsample=pb.Downsample(num_points=ALL_POINTS),
            )
        )
    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for run in read.runs:
        for entry in run.tags:
            name = entry.tag_name if run.run_name in (".", "") else f"{run.run_name}/{entry.tag_name}"
            data = entry.data
            out[name] = (
                np.array(data.step, dtype=np.int64),
                np.array(data.wall_time, dtype=np.float64),
                np.array(data.value, dtype=np.float64),
            )
    return out


def load_and_fetch(logdir: Path, checksum: bool = True) -> Fetched:
    """One round of the peer (module docstring): start the server on `logdir`, wait for its load, read
    every scalar point by gRPC, stop the server."""
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "RUST_LOG_LEVEL")}
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        server = subprocess.Popen(
            [
                binary(),
                "--logdir",
                str(logdir),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--port-file",
                str(port_file),
                "--reload",
                "once",
                "--samples-per-plugin",
                f"{SCALARS}=all",
                "--checksum" if checksum else "--no-checksum",
                "--die-after-stdin",
                "-v",  # info level: the "Finished load cycle" line is how we know the load is done
            ],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        try:
            load_s = _wait_for_load(server, time.monotonic() + TIMEOUT_S)
            port = int(port_file.read_text().strip())  # written before the load starts
            t0 = time.perf_counter()
            series = fetch_scalars(f"127.0.0.1:{port}")
            fetch_s = time.perf_counter() - t0
        finally:
            _stop(server)
    return Fetched(series, load_s, fetch_s)


def _stop(server: subprocess.Popen[str]) -> None:
    """Close the server's stdin (it dies on that) and reap it; kill it if it lingers."""
    assert server.stdin is not None and server.stderr is not None
    server.stdin.close()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    server.stderr.close()
