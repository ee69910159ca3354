"""Fuzz the log readers: mutated sample logs through detect + read_log (auto and every format).

    .venv/bin/python bench/fuzz.py [--cases 10000] [--seed 0]

The contract checked for every case: a RunLog comes back, or an InspectorError whose message names
the file; nothing else escapes, and no read takes longer than SLOW_SECONDS. Differentially, the
readers that work piece by piece must not depend on where the pieces fall: the text reader in ~7
pieces gives what it gives in one, and the tfevents reader in chunks of 1-39 records what it gives in
its default chunks. Prints how many cases were tried and how many failed (goal: 0), with the first
few failures.

This module is also the mutation catalogue that tests/test_fuzz_readers.py draws from.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402

from inspector.errors import InspectorError  # noqa: E402
from inspector.runlog import RunLog, RunWriter, detect, formats, read_log, read_logs  # noqa: E402
from inspector.runlog.readers.tfevents import FILE_MARKER  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_seeds  # noqa: E402

SAMPLES = REPO / "tests" / "samples"

# A read of a few-MB input that takes longer than this is a hang for our purposes (the brief: a 1 MB
# input must finish "in well under a second or two"; the multi-MB mutations get a little more room).
SLOW_SECONDS = 3.0

# The JSON-lines readers skip lines over 1 MB (jsonlines.MAX_LINE_BYTES); the huge-line mutations
# go past it.
HUGE_JSON_LINE = 1_200_000
HUGE_TEXT_LINE = 3_000_000

Mutation = Callable[[bytes, random.Random], bytes]


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def bit_flips(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def insert_garbage(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data) + 1)
    junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
    return data[:i] + junk + data[i:]


def duplicate_lines(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    for _ in range(rng.randint(1, 5)):
        i = rng.randrange(len(lines))
        lines.insert(rng.randrange(len(lines) + 1), lines[i])
    return b"\n".join(lines)


def reorder_lines(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    if rng.random() < 0.3:
        rng.shuffle(lines)
    else:
        for _ in range(rng.randint(1, 5)):
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def huge_json_line(data: bytes, rng: random.Random) -> bytes:
    """A JSON object line past the 1 MB JSON-line bound, inserted between two lines."""
    lines = _lines(data)
    blob = b'{"step": 5, "loss": 1.0, "note": "' + b"a" * HUGE_JSON_LINE + b'"}'
    lines.insert(rng.randrange(len(lines) + 1), blob)
    return b"\n".join(lines)


def huge_text_line(data: bytes, rng: random.Random) -> bytes:
    """A multi-MB line with no newline: plain junk, repeated key=value pairs, or CSV-ish numbers."""
    lines = _lines(data)
    unit = rng.choice([b"x", b"loss: 1.25 ", b"1.0,", b"\xe2\x96\x88", b"iter: 3 ", b"\x1b[K"])
    lines.insert(rng.randrange(len(lines) + 1), unit * (HUGE_TEXT_LINE // len(unit)))
    return b"\n".join(lines)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def utf16(data: bytes, rng: random.Random) -> bytes:
    return _text(data).encode(rng.choice(["utf-16", "utf-16-le", "utf-16-be"]))


def latin1(data: bytes, rng: random.Random) -> bytes:
    out = _text(data).encode("latin-1", errors="replace")
    i = rng.randrange(len(out) + 1)
    return out[:i] + "Verlust für Größe µ".encode("latin-1") + out[i:]


def shift_jis(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    for _ in range(rng.randint(1, 5)):
        i = rng.randrange(len(lines) + 1)
        lines.insert(i, "損失 学習率: 0.01 エポック 3".encode("shift_jis"))
    return b"\n".join(lines)


def nul_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 20)):
        i = rng.randrange(len(out) + 1)
        out[i:i] = b"\x00" * rng.randint(1, 8)
    return bytes(out)


def newline_mix(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    ends = [rng.choice([b"\n", b"\r\n", b"\r", b"\r\r\n"]) for _ in lines[:-1]]
    return b"".join(line + end for line, end in zip(lines, ends, strict=False)) + lines[-1]


def blank_out(data: bytes, rng: random.Random) -> bytes:
    """Whitespace only, or just the first line: what a run that crashed at once leaves."""
    return rng.choice([b"", b"\n", b"  \r\n\n", _lines(data)[0], _lines(data)[0] + b"\n"])


MUTATIONS: dict[str, Mutation] = {
    "truncate": truncate,
    "bit_flips": bit_flips,
    "insert_garbage": insert_garbage,
    "duplicate_lines": duplicate_lines,
    "reorder_lines": reorder_lines,
    "huge_json_line": huge_json_line,
    "huge_text_line": huge_text_line,
    "utf16": utf16,
    "latin1": latin1,
    "shift_jis": shift_jis,
    "nul_bytes": nul_bytes,
    "newline_mix": newline_mix,
    "blank_out": blank_out,
}
# --- hostile generators: inputs built to cost memory or time, not damage (issue 11) -------------------


def _is_json_lines(data: bytes) -> bool:
    return data.lstrip()[:1] in (b"{", b"[")


def sparse_keys(data: bytes, rng: random.Random) -> bytes:
    """Every row adds keys no other row has (once 468 kB of JSON lines -> 2.35 GB, text alike)."""
    rows = rng.randint(2_000, 20_000)
    per_row = rng.randint(1, 8)
    if _is_json_lines(data):
        lines = [
            json.dumps({"step": i, "loss": 1.0, **{f"k{i}_{j}": 0.5 for j in range(per_row)}})
            for i in range(rows)
        ]
    elif _lines(data)[0].count(b",") >= 2:
        header = ",".join(["step", *[f"k{j}" for j in range(rows)]])  # a CSV as wide as it is long
        lines = [header, *(f"{i}," + "," * (i % rows) + "0.5" for i in range(min(rows, 400)))]
    else:
        lines = [f"step {i} " + " ".join(f"k{i}_{j}: 0.5" for j in range(per_row)) for i in range(rows)]
    return "\n".join(lines).encode() + b"\n"


def nested_line(data: bytes, rng: random.Random) -> bytes:
    """A JSON line nested thousands deep among the good lines (30k once crashed pyarrow's parser)."""
    depth = rng.choice([100, 1_000, 6_000, 15_000, 30_000])
    opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}"), (b'[{"a":', b"}]")])
    line = b'{"step": 5, "x": ' + opener * depth + b"1" + closer * depth + b"}"
    lines = _lines(data)
    lines.insert(rng.randrange(len(lines) + 1), line)
    return b"\n".join(lines)


def _masked_crc(data: bytes) -> int:
    import crc32c

    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _tf_record(payload: bytes) -> bytes:
    import struct

    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", _masked_crc(header)) + payload + struct.pack("<I", _masked_crc(payload))


def many_tags(data: bytes, rng: random.Random) -> bytes:
    """Scalar events under thousands of distinct tags appended to the file (300k tags once took 433 MB)."""
    from tensorboard.compat.proto import event_pb2

    tags = rng.randint(2_000, 12_000)
    out = [data]  # after a tfevents source's own records; before them any other bytes are junk to skip
    for i in range(tags):
        ev = event_pb2.Event(step=i, wall_time=1.0e9 + i)
        ev.summary.value.add(tag=f"tag/{i}", simple_value=0.5)
        out.append(_tf_record(ev.SerializeToString()))
    return b"".join(out)


HOSTILE: dict[str, Mutation] = {
    "hostile_sparse_keys": sparse_keys,
    "hostile_nested_line": nested_line,
    "hostile_many_tags": many_tags,
}
# Drawn about as often as the huge mutations (each builds a 0.1-2 MB input).
HOSTILE_WEIGHT = 0.15

# The multi-MB mutations cost ~100× a small one; drawn less often so 10k cases stay minutes, not hours.
WEIGHTS = {name: (0.15 if name.startswith("huge") else 1.0) for name in MUTATIONS}


def write_native(path: Path, steps: int = 120, seed: int = 0) -> Path:
    """Our own native log at `path`, written by RunWriter (with a NaN step and eval rows)."""
    rng = np.random.default_rng(seed)
    with RunWriter(path, config={"loss_weights": {"bbox": 7.5, "cls": 0.5, "dfl": 1.5}}) as w:
        for s in range(steps):
            losses = {"bbox": float(rng.random()), "cls": float(rng.random()), "dfl": float(rng.random())}
            if s == steps // 2:
                losses["cls"] = math.nan
            w.step(s, losses, lr=1e-3, epoch=s // 40, positives=int(rng.integers(0, 50)), pos_iou=0.5)
            if s % 40 == 39:
                w.eval(s, {"map50": float(rng.random())}, epoch=s // 40)
    return path


@dataclass(frozen=True)
class Source:
    """One seed file for mutation: its bytes, the file name it must keep (detection reads names),
    and the companion files uploaded beside it."""

    label: str
    name: str
    data: bytes
    companions: tuple[tuple[str, bytes], ...] = ()


def sources(native_dir: Path) -> list[Source]:
    """Every file in tests/samples (log files, with their yaml companions), a native log, and generated seeds
    of the formats no sample has (bench/fuzz_seeds.py: MMEngine and YOLOX text, results.txt, YOLOv10,
    DETR)."""
    found: list[Source] = []
    for path in sorted(SAMPLES.rglob("*")):
        if not path.is_file() or path.name == "SOURCES.md" or path.suffix in (".yaml", ".yml"):
            continue
        comps = tuple((c.name, c.read_bytes()) for c in sorted(path.parent.glob("*.yaml")))
        found.append(Source(str(path.relative_to(SAMPLES)), path.name, path.read_bytes(), comps))
    native = write_native(native_dir / "log.jsonl")
    found.append(Source("native/log.jsonl", "log.jsonl", native.read_bytes()))
    found += [Source(label, name, build(), companions) for label, name, build, companions in fuzz_seeds.SEEDS]
    return found


@dataclass(frozen=True)
class Failure:
    source: str
    mutation: str
    format: str
    problem: str


def check_runlog(log: RunLog) -> str | None:
    """What is wrong with a RunLog a reader returned (None when it is well-formed)."""
    if not isinstance(log, RunLog):
        return f"returned {type(log).__name__}, not a RunLog"
    for name, s in log.series.items():
        if s.steps.dtype != np.int64 or s.values.dtype != np.float64:
            return f"series {name!r} has dtypes {s.steps.dtype}/{s.values.dtype}"
        if s.steps.shape != s.values.shape:
            return f"series {name!r}: {s.steps.shape[0]} steps but {s.values.shape[0]} values"
        if s.steps.size > 1 and not bool(np.all(np.diff(s.steps) > 0)):
            return f"series {name!r}: steps not strictly increasing"
    return None


# The slowest read so far: (seconds, format, file name, input bytes); the bench reports it.
slowest: list[tuple[float, str, str, int]] = [(0.0, "", "", 0)]


def _attempt(path: Path, fmt: str | None, companions: list[Path]) -> str | None:
    """Run one read under the contract; the problem as text, or None when the contract held."""
    t0 = time.perf_counter()
    try:
        if fmt is None:
            detect(path)
            log = read_logs([path, *companions]) if companions else read_log(path)
        else:
            log = read_log(path, format=fmt, companions=companions)
        problem = check_runlog(log)
    except InspectorError as exc:
        problem = None if str(path) in str(exc) else f"InspectorError without the file name: {exc}"
    except RecursionError:
        problem = "RecursionError"
    except Exception as exc:  # noqa: BLE001 - escaping exceptions are exactly what we look for
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        problem = f"{type(exc).__name__}: {str(exc)[:200]} (at {Path(tb.filename).name}:{tb.lineno})"
    elapsed = time.perf_counter() - t0
    if elapsed > slowest[0][0]:
        slowest[0] = (elapsed, fmt or "auto", path.name, path.stat().st_size)
    if problem is None and elapsed > SLOW_SECONDS:
        problem = f"took {elapsed:.1f} s"
    return problem


def text_outcome(path: Path, piece_bytes: int) -> tuple:
    """All a caller sees of text.read in `piece_bytes` pieces (NaN spelled -1 so tuples compare), or the
    error."""
    from inspector.runlog.readers import text

    try:
        log = text.read(path, piece_bytes=piece_bytes)
    except InspectorError as exc:
        return ("error", str(exc))
    series = {
        k: (s.steps.tolist(), np.where(np.isnan(s.values), -1.0, s.values).tolist())
        for k, s in log.series.items()
    }
    return (
        log.framework,
        log.step_unit,
        series,
        log.warnings,
        log.config.get("dialect"),
        [(s.first_step, s.last_step, s.rows) for s in log.segments],
    )


def _tfevents_outcome(path: Path, chunk_records: int | None) -> tuple:
    """All a caller sees of tfevents.read with `chunk_records` records per chunk (None: the default)."""
    from inspector.runlog.readers import tfevents

    default = tfevents._CHUNK_RECORDS
    tfevents._CHUNK_RECORDS = chunk_records or default
    try:
        log = tfevents.read(path)
    except InspectorError as exc:
        return ("error", str(exc))
    finally:
        tfevents._CHUNK_RECORDS = default
    return (
        {
            k: (
                s.steps.tolist(),
                np.where(np.isnan(s.values), -1.0, s.values).tolist(),
                None if s.wall_times is None else s.wall_times.tolist(),
            )
            for k, s in log.series.items()
        },
        log.warnings,
    )


def piecewise_problem(path: Path, rng: random.Random) -> str | None:
    """Where a piecewise reader's result depends on where its pieces fall, say so; else None."""
    try:
        size = max(64, path.stat().st_size // 7 + rng.randrange(1, 997))
        if text_outcome(path, size) != text_outcome(path, 1 << 30):
            return f"text: {size}-byte pieces read differently from one piece"
        if FILE_MARKER in path.name:
            chunk = rng.randrange(1, 40)
            if _tfevents_outcome(path, chunk) != _tfevents_outcome(path, None):
                return f"tfevents: {chunk}-record chunks read differently from the default"
    except Exception as exc:  # noqa: BLE001 - the contract check reports escapes; here they are mismatches too
        return f"{type(exc).__name__} in the piecewise comparison: {str(exc)[:200]}"
    return None


def write_case(data: bytes, source: Source, workdir: Path) -> tuple[Path, list[Path]]:
    """`data` under the source's file name in `workdir`, with its companions: (log path, companion paths)."""
    path = workdir / source.name
    path.write_bytes(data)
    companions = []
    for name, body in source.companions:
        (workdir / name).write_bytes(body)
        companions.append(workdir / name)
    return path, companions


def run_case(
    data: bytes, source: Source, mutation: str, workdir: Path, fmts: list[str | None] | None = None
) -> list[Failure]:
    """Write `data` under the source's file name in `workdir` and read it every way; the failures."""
    path, companions = write_case(data, source, workdir)
    failures = []
    for fmt in fmts if fmts is not None else [None, *formats()]:
        problem = _attempt(path, fmt, companions)
        if problem is not None:
            failures.append(Failure(source.label, mutation, fmt or "auto", problem))
    return failures


def rss_bytes(field: str) -> int:
    """A /proc/self/status memory field in bytes (VmRSS: now, VmHWM: the high-water mark)."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(field))


def reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the next peak is one case's own."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=10, help="how many failures to print")
    parser.add_argument("--max-gb", type=int, default=4, help="address-space cap of this process (GiB)")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    catalogue = {**MUTATIONS, **HOSTILE}
    names = list(catalogue)
    weights = [WEIGHTS.get(n, HOSTILE_WEIGHT) for n in names]
    # A blow-up must fail its case (MemoryError), not take the machine: cap the address space.
    resource.setrlimit(resource.RLIMIT_AS, (args.max_gb << 30, resource.RLIM_INFINITY))
    worst_memory = (0.0, "", 0, 0)  # (peak RSS growth / input bytes, case, input bytes, growth)
    worst_time = (0.0, "", 0)  # (seconds per MB of input, case, input bytes)
    failures: list[Failure] = []
    reads = 0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        seeds = sources(Path(tmp))
        n_formats = 1 + len(formats())
        for case in range(args.cases):
            source = rng.choice(seeds)
            mutation = rng.choices(names, weights)[0]
            data = catalogue[mutation](source.data, rng)
            # Rarely stack a second mutation: real damage comes in combinations.
            if rng.random() < 0.2:
                second = rng.choice([n for n in MUTATIONS if not n.startswith("huge")])
                data, mutation = MUTATIONS[second](data, rng), f"{mutation}+{second}"
            workdir = Path(tmp) / f"case{case % 64}"
            workdir.mkdir(exist_ok=True)
            reset_peak_rss()
            before, t_case = rss_bytes("VmRSS:"), time.perf_counter()
            failures += run_case(data, source, mutation, workdir)
            seconds, grown = time.perf_counter() - t_case, rss_bytes("VmHWM:") - before
            # Ratios per MB of input, inputs under 1 MB counted as 1 MB: a few kB of fixed cost (a first
            # import, an allocator arena) is not a blow-up of a 200-byte file.
            size, per_mb = len(data), max(len(data), 1 << 20) / (1 << 20)
            label = f"{source.label} / {mutation}"
            if case >= 8 and grown / (per_mb * (1 << 20)) > worst_memory[0]:  # the first cases import lazily
                worst_memory = (grown / (per_mb * (1 << 20)), label, size, grown)
            if seconds / per_mb > worst_time[0]:
                worst_time = (seconds / per_mb, label, size)
            reads += n_formats
            problem = piecewise_problem(workdir / source.name, rng)
            if problem is not None:
                failures.append(Failure(source.label, mutation, "piecewise", problem))
    elapsed = time.perf_counter() - t0
    failed_cases = len({(f.source, f.mutation) for f in failures})
    print(
        f"tried {args.cases} mutated cases ({reads} reads: auto + {len(formats())} forced formats each, "
        f"plus the piecewise comparisons) in {elapsed:.0f} s"
    )
    print(f"failed reads: {len(failures)} (in ~{failed_cases} cases)")
    secs, fmt, name, size = slowest[0]
    print(f"slowest read: {secs:.2f} s ({fmt} on a {size / 1e6:.1f} MB {name})")
    ratio, label, size, grown = worst_memory
    print(
        f"largest memory ratio: peak RSS growth {ratio:.1f}x the input, inputs under 1 MB counted as 1 MB "
        f"({grown / 1e6:.0f} MB over all {n_formats} reads of {label}, {size / 1e6:.2f} MB)"
    )
    ratio, label, size = worst_time
    print(f"largest time ratio: {ratio:.2f} s per MB of input, same floor ({label}, {size / 1e6:.2f} MB)")
    for f in failures[: args.show]:
        print(f"  [{f.format}] {f.source} / {f.mutation}: {f.problem}")


if __name__ == "__main__":
    main()
