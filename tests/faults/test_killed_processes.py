"""kill -9 under a steady mixed load: each worker in turn mid-job, then nats-server itself."""

from __future__ import annotations

import asyncio

import pytest

from pagi.bus import Bus

from ..stack import Stack
from ..workload import Workload

# A killed worker's unacknowledged message comes back after its consumer's ack wait (30 s, 60 s for
# tools and builds), so the kills happen close together and the redeliveries overlap.
REDELIVERY_S = 120.0


# Five kills, each waited out to a full redelivery: ~70 s on a quiet machine, so more than the default.
@pytest.mark.timeout(300)
async def test_each_worker_killed_mid_job_and_restarted_loses_nothing(stack: Stack, client: Bus) -> None:
    load = Workload(client, tool_cmd="sleep 0.4; echo ran >> {file}")
    await load.start()
    stop = asyncio.Event()
    sender = asyncio.create_task(load.run_steady(6, stop))
    try:
        for name, request_type in (
            ("tool_worker", "tool.run"),
            ("memory_worker", "memory.query"),
            ("build_worker", "build.req"),
            ("planner", None),
        ):
            if request_type is not None:
                await load.wait_in_flight(request_type)
            else:
                await load.wait_for(lambda: bool(load.unanswered()), 10, "a job in progress")
            stack.kill(name)
            await asyncio.to_thread(stack.restart, name)
        await asyncio.sleep(1)  # a second more of the steady load against the restarted services
    finally:
        stop.set()
        await sender
    try:
        await load.verify(stack.data, timeout_s=REDELIVERY_S)
    finally:
        await load.stop()
    kinds = {j.kind for j in load.jobs.values()}
    assert kinds == {"greeting", "memory", "tool", "build"} and load.refused == 0


async def test_nats_server_killed_and_restarted_loses_no_accepted_message(stack: Stack, client: Bus) -> None:
    load = Workload(client)
    await load.start()
    stop = asyncio.Event()
    sender = asyncio.create_task(load.run_steady(6, stop))
    try:
        await load.wait_for(lambda: len(load.jobs) >= 12 and bool(load.unanswered()), 20, "load under way")
        stack.nats.stop(kill=True)
        await asyncio.sleep(1.0)  # the outage: the server stays down this long
        await asyncio.to_thread(stack.nats.start)
        answered = sum(1 for j in load.jobs.values() if j.answer)
        await load.wait_for(
            lambda: sum(1 for j in load.jobs.values() if j.answer) >= answered + 6, 60, "answers after the restart"
        )
    finally:
        stop.set()
        await sender
    try:
        await load.verify(stack.data, timeout_s=REDELIVERY_S)
    finally:
        await load.stop()
