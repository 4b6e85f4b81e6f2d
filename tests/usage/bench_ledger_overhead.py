"""The usage ledger's cost on the chat round trip (issue 21, goal <= 5 %), not part of the suite:

    .venv/bin/python -m pytest tests/usage/bench_ledger_overhead.py -q -s -p no:cacheprovider

POST /v1/chat -> edge -> planner -> the fake provider (Anthropic protocol, streamed, local: the
worst case, an LLM answering in about a millisecond) -> answer, sequentially, in one process on the
real bus; alternating `on` (usage event and ledger), `pub` (the event, no ledger) and `off`."""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bus_schemas.streams import USAGE_LEDGER
from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus
from pagi.service import start_routes
from planner.__main__ import PlannerService
from planner.usage import UsageRecorder
from records.twins import TwinStore

from ..fake_llm import FakeLLMServer, Reply
from .conftest import llm_twin

COUNT, WARMUP = 150, 10


async def test_ledger_overhead(
    bus: Bus, fake_llm: FakeLLMServer, twins: TwinStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    twin_id = await llm_twin(twins, fake_llm, "anthropic")
    fake_llm.default = Reply(json.dumps({"action_type": "ActionResponse", "content": "a short answer here"}))
    results: dict[str, list[float]] = {"on": [], "pub": [], "off": []}
    record = UsageRecorder.record

    async def nothing(self: Any, *args: Any, **kwargs: Any) -> None:
        return None

    for mode in ["on", "pub", "off"] * 2:
        monkeypatch.setattr(UsageRecorder, "record", nothing if mode == "off" else record)
        service = PlannerService()
        routes = [r for r in await service.routes(bus) if mode == "on" or r.spec != USAGE_LEDGER]
        consumers = await start_routes(bus, routes)
        async with TestClient(TestServer(make_app(EdgeSettings(PAGI_CHAT_TIMEOUT_S=10), bus=bus))) as client:
            for i in range(COUNT + WARMUP):
                started = time.perf_counter()
                body = {"message": "hi", "twin_id": twin_id, "session_id": f"b-{mode}-{i}"}
                response = await client.post("/v1/chat", json=body)
                assert response.status == 200
                await response.read()
                if i >= WARMUP:
                    results[mode].append((time.perf_counter() - started) * 1000)
        for consumer in consumers:
            await consumer.stop()
        await service.close()
    for mode, times in results.items():
        times.sort()
        print(
            f"\n{mode}: n={len(times)} p50={statistics.median(times):.2f} ms p90={times[int(len(times) * 0.9)]:.2f} ms"
        )
