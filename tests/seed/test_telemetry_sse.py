"""The seed console's telemetry panel, as it reads PAGI: an `EventSource` on `/v1/telemetry/stream`
from a page on :3000, reading `metrics` events' flat fields; CORS for the pages that may read across
origins (loopback pages in development mode, `PAGI_ALLOWED_ORIGINS` with keys), none for any other."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bus_schemas import Envelope
from bus_schemas.subjects import TELEMETRY_HOST
from bus_schemas.telemetry import TelemetrySample
from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus
from telemetry_agent.sampler import Sampler

from ..edge_streams.sse_client import SseReader
from ..support import eventually_sync

Client = TestClient[web.Request, web.Application]
MakeEdge = Callable[..., Awaitable[Client]]

SEED_PAGE = "http://127.0.0.1:3000"
LISTED = "http://console.example:3000"
ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef00"
# What the seed's telemetryClient.ts sends: an EventSource is a plain GET with this Accept.
EVENT_SOURCE = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
FLAT = ("ts_ms", "cpu_percent", "mem_total", "mem_used", "mem_free", "process_count")


@pytest.fixture(scope="module")
def sample() -> TelemetrySample:
    """A real sample of this machine (psutil) with a CPU percentage (the first sample has none: no
    earlier reading; a later one once the CPU counters moved)."""
    sampler = Sampler("probe")
    try:
        sampler.sample()

        def with_cpu() -> TelemetrySample | None:
            taken = sampler.sample()
            return taken if taken.cpu.percent is not None else None

        found = eventually_sync(with_cpu, 10, 0.05, "a sample with a CPU percentage")
        assert found is not None
        return found
    finally:
        sampler.close()


@pytest.fixture
async def make_edge(bus: Bus) -> AsyncIterator[MakeEdge]:
    clients: list[Client] = []

    async def make(**settings: Any) -> Client:
        client: Client = TestClient(TestServer(make_app(EdgeSettings(PAGI_SSE_PING_S=1.0, **settings), bus=bus)))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def publish(bus: Bus, sample: TelemetrySample, host: str) -> Envelope[TelemetrySample]:
    event = Envelope[TelemetrySample](
        type=TELEMETRY_HOST, session_id=host, body=sample.model_copy(update={"host_id": host})
    )
    await bus.publish(event)
    return event


async def test_seed_page_reads_flat_metrics_in_development_mode(
    make_edge: MakeEdge, bus: Bus, sample: TelemetrySample
) -> None:
    edge = await make_edge()
    sent = await publish(bus, sample, "seed-host")
    async with edge.get("/v1/telemetry/stream?since=60", headers={**EVENT_SOURCE, "Origin": SEED_PAGE}) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == SEED_PAGE
        assert "Origin" in response.headers["Vary"]
        assert "Access-Control-Allow-Credentials" not in response.headers
        metrics = [e for e in await SseReader(response).until("caught_up") if e.event == "metrics"]
    got = next(e.json() for e in metrics if e.json()["host_id"] == "seed-host")
    # The fields the seed's TelemetryContext.tsx reads, flat, beside PAGI's richer sample.
    assert all(name in got for name in FLAT)
    assert got["cpu_percent"] == sample.cpu.percent and isinstance(got["cpu_percent"], float)
    assert got["mem_total"] == sample.memory.total_bytes > 0
    assert got["mem_used"] == sample.memory.used_bytes
    assert got["mem_free"] == sample.memory.total_bytes - sample.memory.used_bytes
    assert got["process_count"] == sample.process_count > 0
    assert got["ts_ms"] == int(sent.ts.timestamp() * 1000)
    assert got["sample"]["memory"]["total_bytes"] == got["mem_total"]


async def test_preflight_allowed_and_refused(make_edge: MakeEdge) -> None:
    edge = await make_edge()
    ok = await edge.options(
        "/v1/telemetry/stream",
        headers={"Origin": SEED_PAGE, "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "last-event-id"},
    )  # fmt: skip
    assert ok.status == 204
    assert ok.headers["Access-Control-Allow-Origin"] == SEED_PAGE
    assert "GET" in ok.headers["Access-Control-Allow-Methods"]
    assert "Last-Event-ID" in ok.headers["Access-Control-Allow-Headers"]
    assert "Origin" in ok.headers["Vary"]

    write = await edge.options(
        "/v1/telemetry/stream", headers={"Origin": SEED_PAGE, "Access-Control-Request-Method": "DELETE"}
    )
    assert write.status == 403 and "only GET and HEAD" in (await write.json())["error"]

    stranger = await edge.options(
        "/v1/telemetry/stream", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert stranger.status == 403
    assert "Access-Control-Allow-Origin" not in stranger.headers
    assert "PAGI_ALLOWED_ORIGINS" in (await stranger.json())["error"]


async def test_other_pages_get_no_cors_header(make_edge: MakeEdge, bus: Bus, sample: TelemetrySample) -> None:
    edge = await make_edge()
    await publish(bus, sample, "seed-host")
    for origin in ("https://evil.example", "http://127.0.0.1.evil.example:3000", "null"):
        async with edge.get("/v1/telemetry/stream?since=0", headers={**EVENT_SOURCE, "Origin": origin}) as response:
            assert "Access-Control-Allow-Origin" not in response.headers, origin
            assert "Origin" in response.headers["Vary"]
    # A DNS-rebound name (the page's Host is its own): refused at the door, and no CORS header.
    rebound = await edge.get(
        "/v1/telemetry/hosts", headers={"Host": "evil.example:3000", "Origin": "http://evil.example:3000"}
    )
    assert rebound.status == 421 and "Access-Control-Allow-Origin" not in rebound.headers
    # A route outside the cross-origin reads never answers with CORS, even to a loopback page.
    twins = await edge.get("/v1/twins", headers={"Origin": SEED_PAGE})
    assert "Access-Control-Allow-Origin" not in twins.headers


async def test_keys_mode_only_listed_origins(make_edge: MakeEdge, bus: Bus, sample: TelemetrySample) -> None:
    edge = await make_edge(PAGI_API_KEYS=f"{ALICE}:alice,{BOB}:bob", PAGI_ALLOWED_ORIGINS=LISTED)
    await publish(bus, sample, "seed-host")
    key = {"Authorization": f"Bearer {ALICE}"}
    async with edge.get("/v1/telemetry/stream?since=60", headers={**EVENT_SOURCE, **key, "Origin": LISTED}) as listed:
        assert listed.status == 200 and listed.headers["Access-Control-Allow-Origin"] == LISTED
        metrics = [e.json() for e in await SseReader(listed).until("caught_up") if e.event == "metrics"]
        assert metrics and all(name in metrics[0] for name in FLAT)
    for origin in (SEED_PAGE, "https://evil.example"):  # with keys, a loopback page is not trusted by default
        async with edge.get("/v1/telemetry/stream?since=0", headers={**EVENT_SOURCE, **key, "Origin": origin}) as other:
            assert "Access-Control-Allow-Origin" not in other.headers, origin

    # No key: refused, and the listed page may read why.
    anonymous = await edge.get("/v1/telemetry/hosts", headers={"Origin": LISTED})
    assert anonymous.status == 401 and anonymous.headers["Access-Control-Allow-Origin"] == LISTED

    # A preflight carries no key: answered for the listed page, refused (naming the setting) otherwise.
    preflight = {"Access-Control-Request-Method": "GET"}
    assert (await edge.options("/v1/telemetry/stream", headers={**preflight, "Origin": LISTED})).status == 204
    refused = await edge.options("/v1/telemetry/stream", headers={**preflight, "Origin": SEED_PAGE})
    assert refused.status == 403 and "add it to PAGI_ALLOWED_ORIGINS" in (await refused.json())["error"]
