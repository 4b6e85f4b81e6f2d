"""One bootstrap identity: the operator creates the streams and buckets (`pagi up`, `pagi init`);
a service started before it waits, bounded, and then fails saying what to run."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from bus_schemas import streams as st
from pagi.bus import Bus, BusUnavailable
from pagi.bus._topology import topology_names
from pagi.nats_users import OPERATOR
from pagi.service import no_routes, serve
from pagi.settings import BusSettings
from planner.__main__ import PlannerService

from ..support import eventually
from .conftest import SecureBus

REPO = Path(__file__).resolve().parents[2]


def pagi_init(url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pagi_cli", "init", "--nats-url", url, "--data-dir", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


async def stream_names(secure: SecureBus) -> set[str]:
    nc = await nats.connect(secure.url(OPERATOR))
    try:
        return {info.config.name for info in await nc.jetstream().streams_info() if info.config.name}
    finally:
        await nc.close()


async def test_a_service_before_the_bootstrap_fails_saying_what_to_run(bare_secure_server: SecureBus) -> None:
    settings = BusSettings(NATS_URL=bare_secure_server.url("telemetry"), PAGI_CONNECT_TIMEOUT_S=1.0)
    started = asyncio.get_running_loop().time()
    with pytest.raises(BusUnavailable, match="run `pagi init`") as refused:
        await asyncio.wait_for(serve("telemetry_agent", no_routes, settings=settings), 10)
    assert st.TELEMETRY.name in str(refused.value)
    assert asyncio.get_running_loop().time() - started < 5
    assert await stream_names(bare_secure_server) == set()  # and it created nothing


async def test_a_service_waiting_for_the_bootstrap_starts_once_pagi_init_ran(
    bare_secure_server: SecureBus, tmp_path: Path
) -> None:
    planner = PlannerService()
    stopping = asyncio.Event()
    settings = BusSettings(NATS_URL=bare_secure_server.url("planner"), PAGI_CONNECT_TIMEOUT_S=30.0)
    task = asyncio.create_task(serve("planner", planner.routes, settings=settings, stopping=stopping, heartbeat_s=5))
    operator = await Bus.connect(bare_secure_server.url(OPERATOR), "test-operator", connect_timeout_s=5)
    try:
        done = await asyncio.to_thread(pagi_init, bare_secure_server.url(OPERATOR), tmp_path)
        assert done.returncode == 0, done.stderr
        assert "streams ready" in done.stdout and "operator" not in done.stdout  # no credentials printed

        async def consuming() -> bool:
            assert not task.done(), task
            return await operator.consumer_state(st.EVENTS.name, st.PLANNER_CHAT_IN.durable) is not None

        assert await eventually(consuming, 30, 0.1, "the planner's durable created after the bootstrap")
    finally:
        stopping.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 20)
        await planner.close()
        await operator.close()


async def test_pagi_init_as_a_service_user_is_refused_with_a_clear_error(
    bare_secure_server: SecureBus, tmp_path: Path
) -> None:
    done = await asyncio.to_thread(pagi_init, bare_secure_server.url("tool"), tmp_path)
    assert done.returncode == 1
    assert "'operator' user's credentials" in done.stderr and "'tool'" in done.stderr
    assert bare_secure_server.passwords["PAGI_NATS_TOOL_PASSWORD"] not in done.stderr
    assert await stream_names(bare_secure_server) == set()


async def test_pagi_init_is_repeatable_and_closes_roll_ups_on_buckets_made_before(
    bare_secure_server: SecureBus, tmp_path: Path
) -> None:
    """A bucket as an earlier release created it (nats-py's defaults accept `Nats-Rollup`): the
    bootstrap brings it up to date; a second run changes nothing."""
    nc = await nats.connect(bare_secure_server.url(OPERATOR))
    try:
        js = nc.jetstream()
        old = await js.create_key_value(bucket=st.DONE.bucket, history=st.DONE.history, ttl=st.DONE.ttl_s)
        await old.put("tool.r-1", b"kept")
        assert (await js.stream_info(f"KV_{st.DONE.bucket}")).config.allow_rollup_hdrs
        for _ in range(2):
            done = await asyncio.to_thread(pagi_init, bare_secure_server.url(OPERATOR), tmp_path)
            assert done.returncode == 0, done.stderr
        assert await stream_names(bare_secure_server) == set(topology_names())
        for bucket in st.KV_BUCKETS:
            assert not (await js.stream_info(f"KV_{bucket.bucket}")).config.allow_rollup_hdrs, bucket.bucket
        assert (await old.get("tool.r-1")).value == b"kept"
    finally:
        await nc.close()
