"""Prometheus metrics move when traffic flows, scraped the way Prometheus does (GET /metrics)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bus_schemas.subjects import CHAT_OUT
from pagi.bus import Bus

from ..support import ObserveFactory

Client = TestClient[web.Request, web.Application]


async def scrape(edge: Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await edge.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_handled_published_latency_and_http_counters_move(
    edge: Client, bus: Bus, observe: ObserveFactory, session_id: str
) -> None:
    before = await scrape(edge)
    answers = await observe(f"chat.out.{session_id}")
    for text in ("one", "two", "three"):
        response = await edge.post("/v1/chat", json={"message": text, "session_id": session_id})
        assert response.status == 200
    await bus.nc.publish(f"chat.in.{session_id}", b"\xc1 not an event")
    await answers.wait_count(CHAT_OUT, 3)
    key = {"consumer": "planner-chat-in", "event_type": "chat.in"}

    async def counted() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        # The poison message is counted once the planner has dead-lettered and terminated it.
        while True:
            after = await scrape(edge)
            dead = "pagi_messages_handled_total"
            if value(after, dead, **key, outcome="dead_lettered") > value(before, dead, **key, outcome="dead_lettered"):
                return after
            await asyncio.sleep(0.02)

    after = await asyncio.wait_for(counted(), 10)
    assert value(after, "pagi_messages_handled_total", **key, outcome="acked") >= (
        value(before, "pagi_messages_handled_total", **key, outcome="acked") + 3
    )
    assert value(after, "pagi_handler_duration_seconds_count", **key) >= (
        value(before, "pagi_handler_duration_seconds_count", **key) + 4
    )
    assert value(after, "pagi_messages_published_total", event_type="chat.out") >= (
        value(before, "pagi_messages_published_total", event_type="chat.out") + 3
    )
    assert value(after, "pagi_messages_published_total", event_type="dead_letter") >= 1
    http = {"method": "POST", "route": "/v1/chat", "status": "200"}
    assert value(after, "pagi_http_requests_total", **http) == value(before, "pagi_http_requests_total", **http) + 3


async def test_websocket_clients_gauge_follows_open_sockets(edge: Client, session_id: str) -> None:
    async with edge.ws_connect("/ws/chat/erin") as ws:
        await ws.send_json({"session_id": session_id, "user_id": "erin", "message": "hi"})
        while (await ws.receive_json(timeout=10))["type"] != "complete_message":
            pass
        assert value(await scrape(edge), "pagi_websocket_clients") == 1

    async def closed() -> None:
        while True:
            if value(await scrape(edge), "pagi_websocket_clients") == 0:
                return
            await asyncio.sleep(0.01)

    await asyncio.wait_for(closed(), 10)
