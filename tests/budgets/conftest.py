"""Budgets against the real stack: a real nats-server, the real planner (with its ledger), twins on a
local server speaking the providers' real protocols and reporting usage (tests/fake_llm.py)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bus_schemas import ApprovalDecision, ChatIn, Envelope, new_id
from bus_schemas.approval import ApprovalChanges
from bus_schemas.budgets import BudgetWrite
from bus_schemas.streams import USAGE
from bus_schemas.subjects import APPROVE_REQUEST, CHAT_OUT
from bus_schemas.twin import TwinWrite
from bus_schemas.usage import UsageTotal
from pagi.bus import Bus
from pagi.secrets import new_secret_key
from records.budgets import BudgetStore
from records.twins import TwinStore

from ..fake_llm import FakeLLMServer, Family
from ..support import EventCollector

PROVIDER_KEY = "sk-fake-" + "k" * 30
Say = Callable[..., Awaitable[Envelope[Any]]]


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGI_SECRET_KEY", new_secret_key())
    monkeypatch.setenv("PAGI_LLM_ALLOW_PRIVATE", "1")  # the fake provider listens on loopback


@pytest.fixture
async def twins(bus: Bus) -> TwinStore:
    return await TwinStore.open(bus)


@pytest.fixture
async def budgets(bus: Bus) -> BudgetStore:
    return await BudgetStore.open(bus)


async def llm_twin(
    twins: TwinStore, fake_llm: FakeLLMServer, family: Family, preset: str | None = None, **settings: Any
) -> str:
    """A twin on the fake provider that may run no tool: a tool call is refused by its policy and the
    job decides again, so a job makes one model call per step without any worker. The family's own
    preset calls tools natively; `openai-compatible` asks for JSON objects."""
    twin_id = f"llm-{family}-{new_id()[:6]}"
    fields = {"codename": "LLM", "provider": preset or family, "model": "fake-model", "api_key": PROVIDER_KEY,
              "base_url": fake_llm.base_url(family), "allowed_tools": [], **settings}  # fmt: skip
    await twins.create(twin_id, TwinWrite.model_validate(fields))
    return twin_id


def tool_call(pad: int) -> str:
    """A reply asking for a tool (refused by the twin's policy); the fake reports len(reply) // 4 output tokens."""
    return json.dumps({"action_type": "ActionTool", "tool_name": "python", "args": {"code": "x" * pad}})


def answer(content: str) -> str:
    return json.dumps({"action_type": "ActionResponse", "content": content})


def today() -> str:
    return datetime.now(UTC).date().isoformat()


@pytest.fixture
def say(bus: Bus, session_id: str) -> Say:
    async def send(message: str, twin_id: str, user: str | None = "alice", session: str | None = None) -> Envelope[Any]:
        job_id = new_id()
        event = Envelope[ChatIn](
            id=job_id, type="chat.in", session_id=session or session_id, job_id=job_id, twin_id=twin_id,
            body=ChatIn(message=message, user_id=user, twin_id=twin_id),
        )  # fmt: skip
        await bus.publish(event)
        return event

    return send


async def decide(
    bus: Bus, session: str, approval_id: str, approved: bool = True, limit: float | None = None, by: str = "alice"
) -> Envelope[Any]:
    changes = ApprovalChanges(limit=limit) if limit is not None else None
    event = Envelope[ApprovalDecision](
        type="approve.decision",
        session_id=session,
        body=ApprovalDecision(approval_id=approval_id, approved=approved, decided_by=by, changes=changes),
    )
    await bus.publish(event)
    return event


async def put_budget(budgets: BudgetStore, scope: str, **limits: Any) -> None:
    await budgets.put(scope, BudgetWrite(period=limits.pop("period", "day"), **limits), by="root")


async def spent_tokens(bus: Bus, key: str) -> int:
    found = await (await bus.kv(USAGE)).get_model(key, UsageTotal)
    return 0 if found is None else found.input_tokens + found.output_tokens


def budget_requests(events: EventCollector) -> list[Envelope[Any]]:
    """Once each: a copy republished under the same id (kept once by the stream) is seen live again."""
    found: dict[str, Envelope[Any]] = {}
    for e in events.of_type(APPROVE_REQUEST):
        if e.body.kind == "budget":
            found.setdefault(e.id, e)
    return list(found.values())


def final_answers(events: EventCollector) -> list[Envelope[Any]]:
    return [e for e in events.of_type(CHAT_OUT) if e.body.is_final and e.body.status != "awaiting_approval"]
