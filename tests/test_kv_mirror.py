"""pagi.stores.KVMirror: a bucket's keys kept in memory by a watch, against a real nats-server. The
planner reads every session's handoff from one (records.sessions.SessionTwins)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats.errors
import pytest

from bus_schemas.streams import JOBS
from pagi.bus import Bus
from pagi.stores import KVMirror, KVStore
from pagi_cli.nats_server import NatsServer

from .support import eventually

PATTERN = "*.handoff.twin"


@pytest.fixture
async def jobs(bus: Bus) -> KVStore:
    return await bus.kv(JOBS)


@pytest.fixture
async def mirror(bus: Bus, jobs: KVStore) -> AsyncIterator[KVMirror]:
    mirror = KVMirror(jobs, PATTERN)
    bus.on_reconnect(mirror.start_over)  # as the planner wires it
    stopping = asyncio.Event()
    task = asyncio.create_task(mirror.run(stopping))
    yield mirror
    stopping.set()
    await asyncio.wait_for(task, 5)


async def test_it_starts_with_what_the_bucket_holds_and_follows_puts_and_deletes(jobs: KVStore) -> None:
    await jobs.put("s1.handoff.twin", b"one")
    await jobs.put("s2.handoff.twin", b"two")
    await jobs.delete("s2.handoff.twin")
    await jobs.put("s1.job1", b"not mirrored")
    mirror = KVMirror(jobs, PATTERN)
    assert not mirror.ready  # not yet in step: a reader asks the bucket
    stopping = asyncio.Event()
    task = asyncio.create_task(mirror.run(stopping))
    try:
        await eventually(lambda: mirror.ready, what="the mirror caught up")
        assert mirror.get("s1.handoff.twin") == b"one"
        assert mirror.get("s2.handoff.twin") is None
        assert mirror.get("s1.job1") is None
        await jobs.put("s3.handoff.twin", b"three")
        await eventually(lambda: mirror.get("s3.handoff.twin") == b"three")
        await jobs.delete("s1.handoff.twin")
        await eventually(lambda: mirror.get("s1.handoff.twin") is None)
    finally:
        stopping.set()
        await asyncio.wait_for(task, 5)


async def test_an_empty_bucket_is_in_step_at_once(mirror: KVMirror, jobs: KVStore) -> None:
    await eventually(lambda: mirror.ready)
    await jobs.put("s9.handoff.twin", b"nine")
    await eventually(lambda: mirror.get("s9.handoff.twin") == b"nine")


async def test_after_a_start_over_it_is_not_trusted_until_in_step_again(mirror: KVMirror, jobs: KVStore) -> None:
    await eventually(lambda: mirror.ready)
    await mirror.start_over()
    assert not mirror.ready
    await jobs.put("s4.handoff.twin", b"four")
    await eventually(lambda: mirror.ready and mirror.get("s4.handoff.twin") == b"four")


async def test_a_nats_server_restart_leaves_it_in_step_with_writes_made_after(
    nats_server: NatsServer, bus: Bus, mirror: KVMirror, jobs: KVStore
) -> None:
    await eventually(lambda: mirror.ready)
    nats_server.restart()
    await eventually(lambda: bus.connected, timeout=15)

    async def put() -> bool:
        try:
            await jobs.put("s5.handoff.twin", b"five")
        except nats.errors.Error:  # JetStream is still starting up
            return False
        return True

    await eventually(put, timeout=15, what="a put once JetStream is back")
    await eventually(lambda: mirror.ready and mirror.get("s5.handoff.twin") == b"five", timeout=15)
