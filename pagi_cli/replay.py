"""`pagi replay SESSION`: a session's whole timeline from the events stream, in stream order.

Reads through an ephemeral consumer filtered to the session (`*.*.<session>` and
`dlq.*.*.<session>`, or only the requested event types), so the server picks the session's
messages out of the stream and nothing else crosses the wire, however long the stream is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncGenerator, Callable
from datetime import datetime
from pathlib import Path

from bus_schemas.streams import EVENTS
from bus_schemas.subjects import SubjectError, check_token
from pagi.bus import Bus, BusUnavailable
from pagi.settings import BusSettings
from pagi.timeline import Entry, as_json, check_event_types, entry_of, line, parse_since, session_filters


async def timeline(
    bus: Bus,
    session_id: str,
    event_types: list[str] | None = None,
    from_seq: int | None = None,
    since: datetime | None = None,
    follow: bool = False,
) -> AsyncGenerator[Entry, None]:
    """The session's stored events in order, decoded; with `follow`, then new ones as they come."""
    filters = session_filters(session_id, event_types)
    stored = bus.read_events(EVENTS.name, filters, start_seq=from_seq, start_time=since, follow=follow)
    async with contextlib.aclosing(stored) as messages:
        async for message in messages:
            yield entry_of(message, EVENTS.name)


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
    add_bus_argument(parser)


def add_bus_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--nats-url",
        help="the bus (default: $NATS_URL, else the NATS_URL in $PAGI_DATA_DIR/pagi.env that `pagi up` writes, "
        "else nats://127.0.0.1:4222)",
    )


def nats_url(given: str | None) -> str:
    if given:
        return given
    settings = BusSettings()
    if "NATS_URL" in os.environ:
        return settings.nats_url
    env_file = Path(settings.data_dir) / "pagi.env"
    if env_file.is_file():
        for raw in env_file.read_text().splitlines():
            key, _, value = raw.partition("=")
            if key.strip() == "NATS_URL" and value.strip():
                return value.strip()
    return settings.nats_url


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
    bus = await Bus.connect(nats_url(args.nats_url), "pagi-replay", connect_timeout_s=5)
    try:
        if args.rerun:
            from .rerun import print_rerun

            return await print_rerun(bus, args.session, live=args.live, timeout_s=args.timeout)
        count = await print_timeline(bus, args)
        if count == 0:
            print(f"pagi replay: no events for session {args.session!r} with these filters", file=sys.stderr)
            return 1
        return 0
    finally:
        await bus.close()
