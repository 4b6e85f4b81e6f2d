"""Pinned memories in a twin's context: the real planner asks the real memory worker for its
namespace's pinned memories on every prompt (captured by the fake provider). A pinned memory is in the
system prompt; once its forget is acknowledged it is in no later prompt; with the worker away the
prompt is built without them and the job still answers."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bus_schemas import ChatIn, Envelope
from bus_schemas.memory import MEMORY_API_SUBJECT, MemoryApiReply, MemoryApiRequest, MemoryRecordOut
from bus_schemas.subjects import CHAT_IN, CHAT_OUT
from bus_schemas.twin import TwinWrite
from memory_worker.memory import NewMemory
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus, PullConsumer
from pagi.secrets import new_secret_key
from planner.context import pinned_block
from records.twins import TwinStore

from ..fake_llm import FakeLLMServer, RecordedRequest, Reply
from ..support import ObserveFactory

KEY = "sk-fake-" + "k" * 30


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGI_SECRET_KEY", new_secret_key())
    monkeypatch.setenv("PAGI_LLM_ALLOW_PRIVATE", "1")  # the fake provider listens on loopback


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(default=Reply(json.dumps({"action_type": "ActionResponse", "content": "noted"}))) as s:
        yield s


async def _twin(twins: TwinStore, fake_llm: FakeLLMServer, namespace: str) -> str:
    settings = {"codename": "Ops", "provider": "openai-compatible", "model": "fake-model", "api_key": KEY,
                "base_url": fake_llm.base_url("openai"), "memory_namespace": namespace}  # fmt: skip
    await twins.create("ops-twin", TwinWrite.model_validate(settings))
    return "ops-twin"


def _system(request: RecordedRequest) -> str:
    first = request.body["messages"][0]
    assert first["role"] == "system"
    text: str = first["content"]
    return text


async def _chat(bus: Bus, observe: ObserveFactory, twin_id: str, session_id: str, message: str) -> None:
    """A message to the twin as the edge sends it, answered (the provider's scripted reply)."""
    answers = await observe(f"{CHAT_OUT}.{session_id}")
    body = ChatIn(message=message, twin_id=twin_id, user_id="alice")
    await bus.publish(Envelope[ChatIn](type=CHAT_IN, session_id=session_id, body=body))
    [answer] = await answers.wait_for_count(lambda e: e.body.is_final, 1, timeout=30)
    assert answer.body.content == "noted", answer.body


async def _ask(bus: Bus, **fields: Any) -> MemoryApiReply:
    reply = await bus.request(MEMORY_API_SUBJECT, MemoryApiRequest(**fields), MemoryApiReply, timeout_s=10)
    assert reply.ok, reply.error
    return reply


async def test_pinned_memories_are_in_the_prompt_and_a_forgotten_one_never_again(
    bus: Bus,
    planner: list[PullConsumer],
    observe: ObserveFactory,
    twins: TwinStore,
    memory_worker: MemoryWorker,
    fake_llm: FakeLLMServer,
    session_id: str,
) -> None:
    twin_id = await _twin(twins, fake_llm, "ops")
    texts = ["the change freeze runs every Friday", "db-prod-03 must never be rebooted by hand", "lunch is at noon"]
    added = [(await memory_worker.run(memory_worker.memory.add, [NewMemory(t, "ops")]))[0] for t in texts]
    await _ask(bus, op="pin", id=added[0].id, pinned=True, actor="alice")
    await _ask(bus, op="pin", id=added[1].id, pinned=True, actor="alice")
    await memory_worker.run(memory_worker.memory.add, [NewMemory("another namespace's pin", "biz")])

    await _chat(bus, observe, twin_id, session_id, "what should I know?")
    system = _system(fake_llm.requests[-1])
    assert "Pinned memories" in system
    assert texts[0] in system and texts[1] in system
    assert texts[2] not in system and "another namespace" not in system
    # Most recent first: the one made later leads.
    assert system.index(texts[1]) < system.index(texts[0])

    forgot = await _ask(bus, op="forget", id=added[1].id, actor="alice")
    assert forgot.deleted is True
    await _chat(bus, observe, twin_id, session_id, "and now?")
    system = _system(fake_llm.requests[-1])
    assert texts[0] in system and texts[1] not in system
    # Nor does the forgotten text reach the model through the session's history or anything else.
    assert texts[1] not in json.dumps(fake_llm.requests[-1].body)


async def test_without_a_memory_worker_the_prompt_is_built_without_pinned_memories(
    bus: Bus,
    planner: list[PullConsumer],
    observe: ObserveFactory,
    twins: TwinStore,
    fake_llm: FakeLLMServer,
    session_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    twin_id = await _twin(twins, fake_llm, "ops")
    with caplog.at_level(logging.WARNING, logger="planner.context"):
        await _chat(bus, observe, twin_id, session_id, "hello")
    assert "Pinned memories" not in _system(fake_llm.requests[-1])
    assert any("without pinned memories of ops" in r.getMessage() for r in caplog.records), caplog.text


def _memory(n: int, text: str) -> MemoryRecordOut:
    return MemoryRecordOut(id=f"m{n}", text=text, kb="mind", namespace="ops", created_at=float(n))


def test_the_pinned_block_keeps_whole_memories_within_its_budget_and_counts_the_rest() -> None:
    memories = [_memory(n, f"memory {n} " + "x" * 90) for n in range(60)]
    block = pinned_block(memories, budget=1000)
    lines = block.splitlines()
    kept = [line for line in lines if line.startswith("- ")]
    assert sum(len(line) + 1 for line in kept) <= 1000 and len(kept) == 9
    assert kept[0].startswith("- memory 0 ") and kept[-1].startswith("- memory 8 ")
    assert lines[-1] == "(51 more pinned memories left out: over the 1000-character budget)"
    # One memory longer than the whole budget is cut to it, not dropped.
    [huge] = [line for line in pinned_block([_memory(1, "y" * 5000)], budget=100).splitlines() if line.startswith("-")]
    assert len(huge) == 100 and huge.endswith("…")
    assert "left out" not in pinned_block([_memory(1, "short")])
