"""A session's stored events, in stream order, decoded: what `pagi replay` prints and `--rerun` runs again.

Reads through an ephemeral consumer filtered to the session (`*.*.<session>` and
`dlq.*.*.<session>`, or only the requested event types), so the server picks the session's
messages out of the stream and nothing else crosses the wire, however long the stream is.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from datetime import datetime

from bus_schemas.streams import EVENTS
from pagi.bus import Bus
from pagi.timeline import Entry, entry_of, session_filters


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
