"""Several edges behind a load balancer: each tails only its own clients' sessions, and a client
that reconnects to another edge resumes there with nothing lost or repeated."""

from __future__ import annotations

from pagi.bus import Bus

from ..support import VERBOSE
from .conftest import EdgeFactory
from .events import log_line
from .sse_client import SseReader


async def test_a_client_resumes_on_another_edge(make_edge: EdgeFactory, bus: Bus, session_id: str) -> None:
    first_edge, second_edge = await make_edge(), await make_edge()
    url = f"/v1/events/stream?session={session_id}&user=alice"
    published = [await log_line(bus, session_id, f"early {i}") for i in range(3)]
    async with first_edge.get(url) as response:
        reader = SseReader(response)
        seen = [int(e.id or 0) for e in await reader.until("caught_up") if e.event == "message"]
    # The client's connection moves to the other edge while events keep coming.
    published += [await log_line(bus, session_id, f"late {i}") for i in range(3)]
    async with second_edge.get(url, headers={"Last-Event-ID": str(seen[-1])}) as response:
        reader = SseReader(response)
        seen += [int(e.id or 0) for e in await reader.until("caught_up") if e.event == "message"]
        published.append(await log_line(bus, session_id, "live"))
        seen.append(int((await reader.next()).id or 0))
    assert seen == published


async def test_each_edge_follows_only_its_own_clients_sessions(
    make_edge: EdgeFactory, bus: Bus, session_id: str
) -> None:
    first_edge, second_edge = await make_edge(), await make_edge()
    mine, theirs = f"{session_id}-1", f"{session_id}-2"
    async with (
        first_edge.ws_connect("/ws/chat/alice", protocols=VERBOSE) as alice,
        second_edge.ws_connect("/ws/chat/bob", protocols=VERBOSE) as bob,
    ):
        await alice.send_json({"type": "resume", "session_id": mine, "user_id": "alice"})
        await bob.send_json({"type": "resume", "session_id": theirs, "user_id": "bob"})
        assert (await alice.receive_json(timeout=5))["status"] == "subscribed"
        assert (await bob.receive_json(timeout=5))["status"] == "subscribed"
        filters = sorted(
            tuple(info.config.filter_subjects or ())
            for info in await bus.js.consumers_info("PAGI_EVENTS")
            if info.config.deliver_subject
        )
        assert filters == [(f"*.*.{mine}",), (f"*.*.{theirs}",)]
        to_alice = await log_line(bus, mine, "for alice")
        to_bob = await log_line(bus, theirs, "for bob")
        assert (await alice.receive_json(timeout=5))["seq"] == to_alice
        assert (await bob.receive_json(timeout=5))["seq"] == to_bob
