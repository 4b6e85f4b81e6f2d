"""`pagi tail [SUBJECT]`: live events, decoded and readable (like `nats sub`, one line per event).

A core subscription: it shows what is published from now on and stores nothing. Payloads that are
not PAGI events (heartbeats, say) are shown as their text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from bus_schemas.streams import EVENTS
from bus_schemas.subjects import SubjectError, check_token, parse_subject
from pagi.bus import Bus, BusUnavailable, StoredMessage
from pagi.redact import scrub_text
from pagi.timeline import as_json, entry_of, line, session_filters

from .options import add_bus_options, bus_url

# Every event subject (the events stream's), not `>`: that would show the bus's own API traffic.
ALL_EVENTS: Final = EVENTS.subjects


def subjects_for(args: argparse.Namespace) -> list[str]:
    if args.session:
        return session_filters(check_token(args.session))
    return [args.subject] if args.subject else list(ALL_EVENTS)


def render(subject: str, data: bytes, as_json_line: bool) -> str:
    try:
        parse_subject(subject)
    except SubjectError:
        text = scrub_text(data[:2000].decode("utf-8", "replace"))
        return json.dumps({"subject": subject, "payload": text}) if as_json_line else f"{subject}  {text}"
    entry = entry_of(StoredMessage(0, subject, datetime.now(UTC), data, {}))
    return json.dumps(as_json(entry)) if as_json_line else line(entry)


async def tail(
    bus: Bus, subjects: list[str], as_json_line: bool, stop: asyncio.Event, write: Callable[[str], object]
) -> None:
    async def on_message(subject: str, data: bytes) -> None:
        write(render(subject, data, as_json_line) + "\n")
        sys.stdout.flush()

    observers = [await bus.listen(subject, on_message) for subject in subjects]
    try:
        await stop.wait()
    finally:
        for observer in observers:
            await observer.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", nargs="?", help="a subject or wildcard (default: every event subject)")
    parser.add_argument("--session", "-s", help="every event of one session (*.*.SESSION and its dead letters)")
    parser.add_argument("--json", action="store_true", help="one full event per line (JSON), secrets scrubbed")
    add_bus_options(parser)


def run(args: argparse.Namespace) -> int:
    try:
        subjects = subjects_for(args)
    except SubjectError as exc:
        print(f"pagi tail: {exc}", file=sys.stderr)
        return 2

    async def main() -> None:
        bus = await Bus.connect(bus_url(args), "pagi-tail", connect_timeout_s=args.connect_timeout)
        print(f"pagi tail: watching {', '.join(subjects)} (Ctrl-C to stop)", file=sys.stderr)
        try:
            await tail(bus, subjects, args.json, asyncio.Event(), sys.stdout.write)
        finally:
            await bus.close()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return 0
    except BusUnavailable as exc:
        print(f"pagi tail: {exc}", file=sys.stderr)
        return 2
    return 0
