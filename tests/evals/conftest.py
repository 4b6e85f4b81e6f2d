"""A recorded session to capture cases from: real jobs through the real planner, decided by a twin
on the fake provider (tests/fake_llm.py), then eval runs over the bus."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bus_schemas import ApprovalDecision, ChatIn, Envelope, new_id
from bus_schemas.evals import EvalCaseWrite, EvalCheck, EvalResult, EvalRun, EvalSetWrite
from bus_schemas.jobs import JobRecord
from bus_schemas.subjects import APPROVE_DECISION
from bus_schemas.twin import TwinWrite
from pagi.bus import Bus
from pagi.secrets import new_secret_key
from records.approvals import ApprovalStore
from records.evals import EvalStore, capture_set
from records.jobs import JobStore
from records.twins import TwinStore

from ..fake_llm import FakeLLMServer
from ..support import ObserveFactory, eventually

KEY = "sk-fake-" + "e" * 30


@pytest.fixture(autouse=True)
def provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGI_SECRET_KEY", new_secret_key())
    # The fake provider listens on loopback: allowed as an operator allows a local server.
    monkeypatch.setenv("PAGI_LLM_ALLOW_PRIVATE", "1")


def answer(content: str) -> str:
    return json.dumps({"action_type": "ActionResponse", "content": content})


def tool_call(name: str, args: dict[str, Any]) -> str:
    return json.dumps({"action_type": "ActionTool", "tool_name": name, "args": args})


async def llm_twin(
    twins: TwinStore, fake_llm: FakeLLMServer, prompt: str = "You are a careful assistant.", native: bool = False
) -> str:
    """A twin on the fake OpenAI-compatible provider, in the JSON-object format (`native`: the
    OpenAI preset, native tool calling)."""
    twin_id = f"ev-{new_id()[:8]}"
    provider = "openai" if native else "openai-compatible"
    settings = {"codename": "Evaluated", "provider": provider, "model": "fake-model", "api_key": KEY,
                "base_url": fake_llm.base_url("openai"), "directive_logic": prompt}  # fmt: skip
    await twins.create(twin_id, TwinWrite.model_validate(settings))
    return twin_id


Say = Callable[[str, str], Awaitable[JobRecord]]
Send = Callable[[str, str], Awaitable[str]]
Finished = Callable[[str], Awaitable[JobRecord]]


@pytest.fixture
def send(bus: Bus, session_id: str) -> Send:
    """A message to the real planner; returns its job id."""

    async def publish(message: str, twin_id: str) -> str:
        job_id = new_id()
        event = Envelope[ChatIn](
            id=job_id, type="chat.in", session_id=session_id, job_id=job_id, twin_id=twin_id,
            body=ChatIn(message=message, user_id="tester", twin_id=twin_id),
        )  # fmt: skip
        await bus.publish(event)
        return job_id

    return publish


@pytest.fixture
def finished(bus: Bus, session_id: str) -> Finished:
    async def wait(job_id: str) -> JobRecord:
        jobs = await JobStore.open(bus)

        async def probe() -> JobRecord | None:
            job = await jobs.get(session_id, job_id)
            return job if job is not None and job.finished else None

        job = await eventually(probe, timeout=20, what=f"job {job_id} finished")
        assert job is not None
        return job

    return wait


@pytest.fixture
def say_and_finish(send: Send, finished: Finished) -> Say:
    """A message through the real planner; returns the job once it is finished."""

    async def say(message: str, twin_id: str) -> JobRecord:
        return await finished(await send(message, twin_id))

    return say


async def deny_pending(bus: Bus, session_id: str, approved: bool = False) -> str:
    """Decide the session's one pending approval (deny, or approve), as a person would; its id."""
    approvals = await ApprovalStore.open(bus)
    [record] = await eventually(lambda: approvals.pending(session_id), what="a pending approval")
    decision = ApprovalDecision(approval_id=record.approval_id, approved=approved, decided_by="tester", reason="ok")
    await bus.publish(
        Envelope[ApprovalDecision](type=APPROVE_DECISION, session_id=session_id, job_id=record.job_id, body=decision)
    )
    return record.approval_id


async def make_set(bus: Bus, set_id: str, twin_id: str, session_id: str, *checks: EvalCheck) -> None:
    write = EvalSetWrite(
        set_id=set_id, twin_id=twin_id, cases=[EvalCaseWrite(session_id=session_id, checks=list(checks))]
    )
    approvals = await ApprovalStore.open(bus)
    captured = await capture_set(await JobStore.open(bus), write, "tester", approvals)
    assert await (await EvalStore.open(bus)).create(captured)


RunEval = Callable[..., Awaitable[EvalResult]]


@pytest.fixture
def run_eval(bus: Bus, session_id: str, observe: ObserveFactory) -> RunEval:
    """Publish eval.run and wait for its eval.result."""

    async def run(set_id: str, twin_id: str | None = None, **fields: Any) -> EvalResult:
        run_id = fields.pop("run_id", new_id()[:16])
        results = await observe(f"eval.result.{session_id}")
        body = EvalRun(run_id=run_id, set_id=set_id, requested_by="tester", **fields)
        await bus.publish(Envelope[EvalRun](type="eval.run", session_id=session_id, twin_id=twin_id, body=body))
        [result] = await results.wait_for_count(lambda e: e.body.run_id == run_id, 1, timeout=30)
        assert isinstance(result.body, EvalResult)
        return result.body

    return run


@pytest.fixture
async def twins(bus: Bus) -> TwinStore:
    return await TwinStore.open(bus)
