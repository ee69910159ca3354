"""`diagnose --follow`: keep reading a log while it is written, and report what changed at each poll.

Markdown: the full report once, then one line per change (last step, rows added, bytes parsed, how
fresh the data is) with the findings that appeared or went away. `--json`: one JSON object per line,
one per change (JSON lines), each the `diagnose --json` object plus a `follow` record. Stops on Ctrl-C,
after `--polls` polls, or once the log has not changed for `--idle-exit` seconds.
"""

from __future__ import annotations

import argparse
import time

from inspector.diagnose import Diagnosis, diagnose
from inspector.live import Follower, Poll, freshness
from inspector.report import heading, to_json_dict, to_markdown
from inspector.serialize import dumps


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--follow", action="store_true", help="keep reading the log as it grows; report each change"
    )
    parser.add_argument(
        "--interval", type=float, default=5.0, metavar="S", help="with --follow: seconds between polls (5)"
    )
    parser.add_argument(
        "--polls", type=int, default=None, metavar="N", help="with --follow: stop after N polls"
    )
    parser.add_argument(
        "--idle-exit",
        type=float,
        default=None,
        metavar="S",
        help="with --follow: stop once the log has not changed for S seconds",
    )


def follow_record(poll: Poll, rows_added: int) -> dict:
    """What a followed poll adds to the JSON object: freshness and the cost of the read."""
    return {
        "version": poll.version,
        "last_step": poll.last_step,
        "rows_added": rows_added,
        "parsed_bytes": poll.parsed_bytes,
        "total_bytes": poll.total_bytes,
        "incremental": poll.incremental,
        "data_at": poll.data_at,
        "polled_at": poll.polled_at,
        "freshness": freshness(poll),
        "error": poll.error,
    }


def _titles(diag: Diagnosis) -> dict[str, str]:
    return {f.id: f.title for f in diag.findings}


def run_follow(args: argparse.Namespace) -> int:
    """Poll the log until stopped; print the report, then each change."""
    weights, logged = args.weights_override, args.logged_override
    follower = Follower(args.paths, format=args.format, mirror=args.mirror)
    before: dict[str, str] | None = None
    rows = 0
    polls = 0
    quiet_since = time.monotonic()
    try:
        while args.polls is None or polls < args.polls:
            if polls:
                time.sleep(args.interval)
            polls += 1
            poll = follower.poll()
            if not poll.changed or poll.log is None:
                if poll.error and poll.log is None and polls == 1:
                    print(f"waiting: {poll.error}", flush=True)
                if args.idle_exit is not None and time.monotonic() - quiet_since >= args.idle_exit:
                    break
                continue
            quiet_since = time.monotonic()
            log = poll.log
            diag = diagnose(log, weights_override=weights, logged_override=logged)
            added, rows = log.n_steps - rows, log.n_steps
            if args.json:
                out = to_json_dict(diag, source=args.shown, format=log.format)
                out["follow"] = follow_record(poll, added)
                print(dumps(out), flush=True)
            elif before is None:
                title = f"{heading(args.shown, log.format, log.framework)} · {freshness(poll)}"
                print(to_markdown(diag, args.shown, title=title), flush=True)
            else:
                now = _titles(diag)
                stamp = time.strftime("%H:%M:%S", time.localtime(poll.polled_at))
                how = "appended bytes" if poll.incremental else "read whole"
                print(
                    f"\n## {stamp} · {freshness(poll)} · +{added:,} step(s), "
                    f"{poll.parsed_bytes / 1e3:,.1f} kB parsed ({how})"
                )
                for fid in now.keys() - before.keys():
                    print(f"- new finding: {now[fid]}")
                for fid in before.keys() - now.keys():
                    print(f"- no longer found: {before[fid]}")
                print(end="", flush=True)
            before = _titles(diag)
    except KeyboardInterrupt:
        pass
    return 0
