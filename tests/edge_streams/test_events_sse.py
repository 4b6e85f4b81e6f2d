"""GET /v1/events/stream: the session's history, then live; resume with Last-Event-ID; bad input."""

from __future__ import annotations

import asyncio

from pagi.bus import Bus

from .conftest import Client
from .events import log_line
from .sse_client import SseReader


def stream_url(session_id: str, user: str = "alice") -> str:
    return f"/v1/events/stream?session={session_id}&user={user}"


async def test_history_then_live(stream_edge: Client, bus: Bus, session_id: str) -> None:
    before = [await log_line(bus, session_id, f"before {i}") for i in range(3)]
    async with stream_edge.get(stream_url(session_id)) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        reader = SseReader(response)
        replay = await reader.until("caught_up")
        history = [e for e in replay if e.event == "message"]
        assert [int(e.id or 0) for e in history] == before
        assert [e.json()["body"]["message"] for e in history] == ["before 0", "before 1", "before 2"]
        assert history[0].json()["event_type"] == "job.log" and history[0].json()["seq"] == before[0]
        assert replay[-1].json() == {"replayed": 3, "last_seq": before[-1]}

        after = [await log_line(bus, session_id, f"after {i}") for i in range(2)]
        live = [await reader.next(), await reader.next()]
        assert [int(e.id or 0) for e in live] == after


async def test_last_event_id_resumes_without_gap_or_duplicate(stream_edge: Client, bus: Bus, session_id: str) -> None:
    """A client drops mid-stream while events keep coming, reconnects with the last id it saw, and
    gets exactly the rest, in order, across the switch from history to live."""
    published: list[int] = []
    total = 120

    async def publish() -> None:
        for i in range(total):
            published.append(await log_line(bus, session_id, f"event {i}"))
            if i % 10 == 0:
                await asyncio.sleep(0.005)  # let the clients interleave with the publisher

    publisher = asyncio.create_task(publish())
    first: list[int] = []
    async with stream_edge.get(stream_url(session_id)) as response:
        reader = SseReader(response)
        while len(first) < 25:
            event = await reader.next()
            if event.event == "message":
                first.append(int(event.id or 0))
    last_seen = first[-1]
    second: list[int] = []
    headers = {"Last-Event-ID": str(last_seen)}
    async with stream_edge.get(stream_url(session_id), headers=headers) as response:
        reader = SseReader(response)
        while len(first) + len(second) < total:
            event = await reader.next()
            if event.event == "message":
                second.append(int(event.id or 0))
    await asyncio.wait_for(publisher, 10)
    assert first + second == published
    assert len(set(second)) == len(second) and second[0] > last_seen


async def test_resume_after_the_last_event_gives_nothing_old(stream_edge: Client, bus: Bus, session_id: str) -> None:
    last = [await log_line(bus, session_id, f"old {i}") for i in range(2)][-1]
    async with stream_edge.get(stream_url(session_id) + f"&after={last}") as response:
        reader = SseReader(response)
        caught_up = (await reader.until("caught_up"))[-1]
        assert caught_up.json() == {"replayed": 0, "last_seq": last}
        fresh = await log_line(bus, session_id, "new")
        assert int((await reader.next()).id or 0) == fresh


async def test_bad_requests_get_clear_errors(stream_edge: Client, bus: Bus, session_id: str) -> None:
    too_long = await stream_edge.get(f"/v1/events/stream?session={session_id}&user={'u' * 129}")
    assert too_long.status == 400 and "longer than 128" in (await too_long.json())["error"]
    bad_session = await stream_edge.get("/v1/events/stream?session=no%20spaces&user=alice")
    assert bad_session.status == 400 and "session" in (await bad_session.json())["error"]
    for bad in ("abc", "-1", "1.5", "\u00b2"):
        bad_id = await stream_edge.get(stream_url(session_id), headers={"Last-Event-ID": bad})
        assert bad_id.status == 400 and "Last-Event-ID" in (await bad_id.json())["error"], bad
    beyond = await stream_edge.get(stream_url(session_id), headers={"Last-Event-ID": "999999"})
    assert beyond.status == 400 and "beyond the stream's last sequence" in (await beyond.json())["error"]


async def test_only_the_owner_sees_a_session(stream_edge: Client, bus: Bus, session_id: str) -> None:
    async with stream_edge.get(stream_url(session_id, "alice")) as response:
        assert response.status == 200
    mallory = await stream_edge.get(stream_url(session_id, "mallory"))
    assert mallory.status == 403
    assert (await mallory.json())["error"] == f"session {session_id} belongs to another user"
    by_header = await stream_edge.get(f"/v1/events/stream?session={session_id}", headers={"X-User-Id": "mallory"})
    assert by_header.status == 403


async def test_shutdown_ends_streams_with_a_reason(stream_edge: Client, session_id: str) -> None:
    async with stream_edge.get(stream_url(session_id)) as response:
        reader = SseReader(response)
        await reader.until("caught_up")
        assert stream_edge.app is not None
        shutdown = asyncio.create_task(stream_edge.app.shutdown())
        closing = (await reader.until("closing"))[-1]
        assert closing.json() == {"reason": "server shutting down"}
        await asyncio.wait_for(shutdown, 5)
