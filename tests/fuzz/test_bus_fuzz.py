"""10,000 bad messages on every consumed subject, with valid traffic in between: every bad one is
terminated with a dead letter naming its stream position, every valid one is answered exactly once,
and no service crashed or had a handler fail."""

from __future__ import annotations

import asyncio
import uuid

from pagi.bus import Bus

from ..stack import Stack
from ..support import dead_lettered
from ..workload import Workload
from .messages import generate

COUNT = 10_000
CHUNK = 250


async def test_ten_thousand_bad_messages_are_dead_lettered_and_valid_traffic_is_answered(
    stack: Stack, client: Bus
) -> None:
    prefix = f"z{uuid.uuid4().hex[:6]}"
    bad = await asyncio.to_thread(generate, prefix, COUNT)
    load = Workload(client, tool_cmd="echo ran >> {file}")
    await load.start()
    seqs: dict[int, tuple[str, bytes]] = {}

    async def publish(subject: str, payload: bytes, headers: dict[str, str]) -> None:
        ack = await client.js.publish(subject, payload, headers=headers or None, timeout=30)
        seqs[int(ack.seq)] = (subject, payload[:80])

    for start in range(0, COUNT, CHUNK):
        await asyncio.gather(*(publish(*m) for m in bad[start : start + CHUNK]))
        await load.send(("greeting", "memory", "tool")[(start // CHUNK) % 3])
    assert len(seqs) == COUNT and len(load.jobs) == COUNT // CHUNK

    await load.verify(stack.data, timeout_s=120)
    await load.stop()
    dead = await dead_lettered(client)
    missing = {seq: seqs[seq] for seq in seqs if seq not in dead}
    assert not missing, f"{len(missing)} bad messages without a dead letter, e.g. {list(missing.items())[:5]}"
    for service in stack.services.values():
        assert service.proc is not None and service.proc.poll() is None, f"{service.name} died:\n{service.tail()}"
        assert service.starts == 1
        log = service.log_path.read_text(errors="replace")
        assert "handler failed" not in log and "Traceback" not in log, f"{service.name}:\n{service.tail(60)}"
