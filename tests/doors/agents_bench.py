"""How much the agent protocol door adds to a greeting, against `POST /v1/chat`, in one run on one stack
(tests/doors/agents_stack.py: the generated nats.conf, every part its own NATS user). Not collected
by the suite (no `test_` prefix); run it by name:

    .venv/bin/python -m pytest tests/doors/agents_bench.py -q -s

It prints the p50 and p90 of each, alternating the two so drift hits both alike, and the ratio at p50
(issue 19's goal: at most 1.3).
"""

from __future__ import annotations

import statistics
import time

from synadia_ai.agents import Agent, Agents, DiscoverFilter, ResponseChunk

from bus_schemas import agents as protocol
from records.twins import DEFAULT_TWIN_ID

from ..support import eventually
from ..workers_support import state_dir
from .agents_stack import AgentsStack, agents_stack

__all__ = ["agents_stack", "state_dir"]

ROUNDS = 40
WARM_UP = 5


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def test_greeting_overhead(agents_stack: AgentsStack) -> None:
    nc = await agents_stack.caller("alice")
    agents = Agents(nc=nc, stream_inactivity_timeout=30)
    found: list[Agent] = []

    async def listed() -> bool:
        found[:] = await agents.discover(filter=DiscoverFilter(owner="alice"))
        return any(a.metadata.get(protocol.META_TWIN) == DEFAULT_TWIN_ID for a in found)

    await eventually(listed, timeout=15, interval=0.2, what="alice's agent")
    agent = next(a for a in found if a.metadata.get(protocol.META_TWIN) == DEFAULT_TWIN_ID)
    chat_s: list[float] = []
    agents_s: list[float] = []
    try:
        for round_no in range(WARM_UP + ROUNDS):
            started = time.perf_counter()
            response = await agents_stack.http.post(
                "/v1/chat",
                json={"message": "hello", "session_id": "alice-bench-chat"},
                headers=agents_stack.auth("alice"),
            )
            assert response.status == 200, await response.text()
            await response.read()
            chat = time.perf_counter() - started
            started = time.perf_counter()
            chunks = [m async for m in agent.prompt("hello", timeout=30)]
            door = time.perf_counter() - started
            assert any(isinstance(m, ResponseChunk) for m in chunks)
            if round_no >= WARM_UP:
                chat_s.append(chat)
                agents_s.append(door)
    finally:
        await agents.close()
        await nc.close()
    chat_p50, door_p50 = statistics.median(chat_s), statistics.median(agents_s)
    print(
        f"\nPOST /v1/chat   p50 {chat_p50 * 1000:.1f} ms  p90 {percentile(chat_s, 0.9) * 1000:.1f} ms"
        f"\nagents (NATS)   p50 {door_p50 * 1000:.1f} ms  p90 {percentile(agents_s, 0.9) * 1000:.1f} ms"
        f"\nratio at p50    {door_p50 / chat_p50:.2f} ({ROUNDS} rounds each, alternating)"
    )
