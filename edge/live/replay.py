"""Stored events as feed items: the history a follower replays before it goes live."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any

from bus_schemas import DecodeError, decode
from bus_schemas.codec import stored_event_id
from pagi.bus import Bus

from .feeds import FeedItem


async def history(
    bus: Bus, stream: str, subject: str, after_seq: int | None = None, since: datetime | None = None
) -> AsyncGenerator[FeedItem, None]:
    """Events on `subject` after `after_seq` (or taken since `since`), in stream order, up to the
    stream's end. Undecodable ones are skipped: their dead letters say why."""
    start_seq = None if after_seq is None else after_seq + 1
    reader = bus.read_events(stream, [subject], start_seq=start_seq, start_time=since)
    try:
        async for stored in reader:
            try:
                fallback = stored_event_id(stream, stored.seq)
                event = decode(stored.subject, stored.data, stored.headers, fallback_id=fallback)
            except DecodeError:
                continue
            yield FeedItem(stored.seq, event)
    finally:
        await _close(reader)


async def _close(reader: AsyncIterator[Any]) -> None:
    # Closed now, not when collected, so a replay that stops early drops its consumer at once.
    if isinstance(reader, AsyncGenerator):
        await reader.aclose()
