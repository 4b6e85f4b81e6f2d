"""The agent over a real nats-server: samples arrive on telemetry.host.<host> and decode to the schema."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bus_schemas import decode
from bus_schemas.streams import TELEMETRY
from bus_schemas.subjects import TELEMETRY_HOST, telemetry_subject
from bus_schemas.telemetry import TelemetrySample
from pagi.bus import Bus
from pagi_cli.nats_server import NatsServer
from telemetry_agent.agent import AgentStats, publish_samples
from telemetry_agent.sampler import Sampler

from ..support import ObserveFactory

REPO = Path(__file__).resolve().parents[2]


async def test_samples_arrive_on_the_host_subject_and_stay_in_the_stream(bus: Bus, observe: ObserveFactory) -> None:
    host = "it-host-1"
    events = await observe(telemetry_subject(host))
    stopping = asyncio.Event()
    sampler = Sampler(host)
    loop_task = asyncio.create_task(publish_samples(bus, stopping, sampler, interval_s=0.05))
    try:
        received = await events.wait_count(TELEMETRY_HOST, 3)
    finally:
        stopping.set()
        stats = await asyncio.wait_for(loop_task, timeout=5)
        sampler.close()

    assert stats.published >= 3 and stats.failed_publishes == 0
    for event in received:
        assert isinstance(event.body, TelemetrySample)
        assert event.session_id == host and event.body.host_id == host
    assert [e.ts for e in received] == sorted(e.ts for e in received)
    assert received[-1].body.interval_s is not None and received[-1].body.interval_s > 0
    # What a chart opening later reads: the stream holds the samples, decodable from the wire bytes.
    last = await bus.js.get_last_msg(TELEMETRY.name, telemetry_subject(host))
    assert last.subject is not None and last.data is not None
    stored = decode(last.subject, last.data, last.headers)
    assert isinstance(stored.body, TelemetrySample) and stored.body.host_id == host
    info = await bus.js.stream_info(TELEMETRY.name)
    assert info.state.messages == stats.published


async def test_agents_with_different_host_ids_do_not_mix(bus: Bus, observe: ObserveFactory) -> None:
    events = await observe(f"{TELEMETRY_HOST}.*")
    stopping = asyncio.Event()
    samplers = [Sampler("box-a"), Sampler("box-b")]
    tasks = [asyncio.create_task(publish_samples(bus, stopping, s, 0.05)) for s in samplers]
    try:
        await events.wait_for(lambda evs: {e.session_id for e in evs} == {"box-a", "box-b"})
    finally:
        stopping.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
        for s in samplers:
            s.close()
    assert all(e.body.host_id == e.session_id for e in events.events)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_cli_publishes_then_exits_cleanly_on_signal(
    nats_server: NatsServer, observe: ObserveFactory, sig: signal.Signals
) -> None:
    host = f"cli-{sig.name.lower()}"
    events = await observe(telemetry_subject(host))
    env = {**os.environ, "NATS_URL": nats_server.url, "TELEMETRY_INTERVAL_MS": "100"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "telemetry_agent",
        "--host-id",
        host,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        received = await events.wait_count(TELEMETRY_HOST, 2, timeout=30)
        proc.send_signal(sig)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert proc.returncode == 0, out.decode()
    assert all(e.body.host_id == host for e in received)
    log = out.decode()
    assert '"msg": "stopped"' in log
    assert "Traceback" not in log
    # No GPU on a machine is said once, not every second.
    assert log.count("no GPU figures") <= 1


async def test_invalid_host_id_is_refused_before_connecting() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "telemetry_agent",
        "--host-id",
        "bad.host",
        cwd=REPO,
        env={**os.environ, "NATS_URL": "nats://127.0.0.1:1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=15)
    assert proc.returncode == 2
    assert b"invalid host id" in err


async def _until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Bounded wait on a plain counter the agent loop updates (it has no event to await)."""

    async def poll() -> None:
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def test_bus_outage_is_reported_once_and_publishing_resumes(
    bus: Bus, nats_server: NatsServer, observe: ObserveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="telemetry_agent")
    host = "outage-host"
    events = await observe(telemetry_subject(host))
    stopping = asyncio.Event()
    sampler = Sampler(host)
    stats = AgentStats()
    loop_task = asyncio.create_task(publish_samples(bus, stopping, sampler, 0.1, stats))

    def failures() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "publishing telemetry failed" in r.getMessage()]

    try:
        await events.wait_count(TELEMETRY_HOST, 1)
        await asyncio.to_thread(nats_server.stop)
        # Several intervals fail while the server is away.
        await _until(lambda: stats.failed_publishes >= 3)
        acked_before = stats.published
        await asyncio.to_thread(nats_server.start)
        await _until(lambda: stats.published >= acked_before + 2, timeout=20)
        await events.wait_count(TELEMETRY_HOST, acked_before + 2)
    finally:
        stopping.set()
        await asyncio.wait_for(loop_task, timeout=10)
        sampler.close()

    # One warning for the whole outage, not one per failed second.
    assert len(failures()) == 1
    assert stats.failed_publishes >= 3
    assert any("works again" in r.getMessage() for r in caplog.records)
