"""`pagi replay SESSION`: a session's whole timeline from the events stream, in stream order
(`session_events.timeline`), or with `--rerun` its messages run again (`rerun`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Callable

from bus_schemas.subjects import SubjectError, check_token
from pagi.bus import Bus, BusUnavailable
from pagi.timeline import as_json, check_event_types, line, parse_since

from .options import add_bus_options, bus_url
from .rerun import print_rerun
from .session_events import timeline

__all__ = ["add_arguments", "print_timeline", "run", "timeline"]


async def print_timeline(bus: Bus, args: argparse.Namespace, write: Callable[[str], object] = sys.stdout.write) -> int:
    count = 0
    async with contextlib.aclosing(
        timeline(bus, args.session, check_event_types(args.type), args.from_seq, args.since, args.follow)
    ) as entries:
        async for entry in entries:
            write((json.dumps(as_json(entry)) if args.json else line(entry)) + "\n")
            count += 1
            if args.follow:
                sys.stdout.flush()
    return count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", help="the session id")
    parser.add_argument("--json", action="store_true", help="one full event per line (JSON), secrets scrubbed")
    parser.add_argument("--from-seq", type=int, metavar="N", help="start at stream sequence N")
    parser.add_argument("--since", metavar="TIME", help="start at an ISO-8601 time or an age (15m, 2h, 7d)")
    parser.add_argument("--type", metavar="TYPES", help="only these event types, comma-separated (chat.in,plan.action)")
    parser.add_argument("--follow", "-f", action="store_true", help="then keep printing new events")
    parser.add_argument(
        "--rerun",
        action="store_true",
        help="run the session's user messages again through the current planner under a new session id, "
        "reusing the recorded decisions, and print where the new run diverges",
    )
    parser.add_argument("--live", action="store_true", help="with --rerun: let the planner decide afresh (LLM calls)")
    parser.add_argument("--timeout", type=float, default=60.0, help="with --rerun: seconds to wait for each answer")
    add_bus_options(parser)


def run(args: argparse.Namespace) -> int:
    try:
        check_token(args.session)
        check_event_types(args.type)
        args.since = parse_since(args.since) if args.since else None
    except (ValueError, SubjectError) as exc:
        print(f"pagi replay: {exc}", file=sys.stderr)
        return 2
    if args.rerun and (args.follow or args.json or args.type or args.from_seq or args.since):
        print("pagi replay: --rerun takes the whole session; drop --follow/--json/--type/--from-seq/--since",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        return asyncio.run(_main(args))
    except KeyboardInterrupt:
        return 130
    except BusUnavailable as exc:
        print(f"pagi replay: {exc}", file=sys.stderr)
        return 2


async def _main(args: argparse.Namespace) -> int:
    bus = await Bus.connect(bus_url(args), "pagi-replay", connect_timeout_s=args.connect_timeout)
    try:
        if args.rerun:
            return await print_rerun(bus, args.session, live=args.live, timeout_s=args.timeout)
        count = await print_timeline(bus, args)
        if count == 0:
            print(f"pagi replay: no events for session {args.session!r} with these filters", file=sys.stderr)
            return 1
        return 0
    finally:
        await bus.close()
