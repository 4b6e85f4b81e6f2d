"""GET /v1/telemetry/stream and /v1/telemetry/hosts: history then live, host filter, host presence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bus_schemas import Envelope
from bus_schemas.subjects import TELEMETRY_HOST
from bus_schemas.telemetry import TelemetrySample
from pagi.bus import Bus
from telemetry_agent.sampler import Sampler

from ..support import eventually
from .conftest import Client, EdgeFactory
from .sse_client import SseEvent, SseReader


@pytest.fixture(scope="module")
def sample() -> TelemetrySample:
    """One real sample of this machine (psutil), reused under several host ids."""
    sampler = Sampler("probe")
    try:
        return sampler.sample()
    finally:
        sampler.close()


async def publish(bus: Bus, sample: TelemetrySample, host: str, age_s: float = 0.0) -> int:
    event = Envelope[TelemetrySample](
        type=TELEMETRY_HOST,
        session_id=host,
        ts=datetime.now(UTC) - timedelta(seconds=age_s),
        body=sample.model_copy(update={"host_id": host}),
    )
    return await bus.publish(event)


def metrics(events: list[SseEvent]) -> list[tuple[str, int]]:
    return [(e.json()["host_id"], int(e.id or 0)) for e in events if e.event == "metrics"]


async def test_history_then_live(stream_edge: Client, bus: Bus, sample: TelemetrySample) -> None:
    history = [("host-a", await publish(bus, sample, "host-a")) for _ in range(3)]
    history += [("host-b", await publish(bus, sample, "host-b")) for _ in range(2)]
    async with stream_edge.get("/v1/telemetry/stream?since=60") as response:
        assert response.status == 200
        reader = SseReader(response)
        opening = await reader.until("caught_up")
        assert opening[0].event == "hosts"
        assert {h["host_id"] for h in opening[0].json()["hosts"]} >= {"host-a", "host-b"}
        assert metrics(opening) == history
        first = next(e for e in opening if e.event == "metrics").json()
        assert first["sample"]["cpu"]["count"] == sample.cpu.count and first["seq"] == history[0][1]

        live = await publish(bus, sample, "host-b")
        assert metrics([await reader.next()]) == [("host-b", live)]


async def test_host_filter_and_no_history(stream_edge: Client, bus: Bus, sample: TelemetrySample) -> None:
    await publish(bus, sample, "host-a")
    await publish(bus, sample, "host-b")

    async def hub_has_seen_host_b() -> bool:
        # Else the edge's tail may deliver these two samples after the stream opened, as live ones.
        hosts = (await (await stream_edge.get("/v1/telemetry/hosts")).json())["hosts"]
        return any(h["host_id"] == "host-b" for h in hosts)

    await eventually(hub_has_seen_host_b, 10, what="the edge's telemetry hub has host-b's sample")
    async with stream_edge.get("/v1/telemetry/stream?since=0&host=host-b") as response:
        reader = SseReader(response)
        opening = await reader.until("caught_up")
        assert metrics(opening) == [] and opening[-1].json()["replayed"] == 0
        await publish(bus, sample, "host-a")
        wanted = await publish(bus, sample, "host-b")
        # A `hosts` event may come first (the hub learning of host-b); the next metrics is host-b's.
        assert metrics(await reader.until("metrics")) == [("host-b", wanted)]


async def test_last_event_id_resumes_telemetry(stream_edge: Client, bus: Bus, sample: TelemetrySample) -> None:
    seqs = [await publish(bus, sample, "host-a") for _ in range(4)]
    headers = {"Last-Event-ID": str(seqs[1])}
    async with stream_edge.get("/v1/telemetry/stream", headers=headers) as response:
        opening = await SseReader(response).until("caught_up")
        assert [s for _, s in metrics(opening)] == seqs[2:]


async def test_keep_alive_pings(stream_edge: Client) -> None:
    async with stream_edge.get("/v1/telemetry/stream?since=0") as response:
        reader = SseReader(response)
        await reader.until("caught_up")
        with pytest.raises(TimeoutError):
            await reader.next(timeout=2.5)
        assert reader.pings >= 1


async def test_hosts_appear_and_go_silent(make_edge: EdgeFactory, bus: Bus, sample: TelemetrySample) -> None:
    await publish(bus, sample, "old-host", age_s=120)
    edge = await make_edge(PAGI_HOST_SILENT_S=1.0)
    listed = await (await edge.get("/v1/telemetry/hosts")).json()
    assert [(h["host_id"], h["silent"]) for h in listed["hosts"]] == [("old-host", True)]
    async with edge.get("/v1/telemetry/stream?since=0") as response:
        reader = SseReader(response)
        await reader.until("caught_up")
        await publish(bus, sample, "new-host")
        appeared = (await reader.until("hosts"))[-1].json()
        assert (appeared["changed"], appeared["change"]) == ("new-host", "appeared")
        silent = (await reader.until("hosts", timeout=5)).pop().json()
        assert (silent["changed"], silent["change"]) == ("new-host", "silent")
    listed = await (await edge.get("/v1/telemetry/hosts")).json()
    assert {h["host_id"]: h["silent"] for h in listed["hosts"]} == {"old-host": True, "new-host": True}


async def test_bad_requests_get_clear_errors(stream_edge: Client) -> None:
    for query, needle in (
        ("since=abc", "since must be a number"),
        ("since=99999", "since must be between 0 and 3600"),
        ("host=bad%20host", "host"),
        ("after=-1", "after must be the stream sequence"),
    ):
        response = await stream_edge.get(f"/v1/telemetry/stream?{query}")
        assert response.status == 400, query
        assert needle in (await response.json())["error"], query
