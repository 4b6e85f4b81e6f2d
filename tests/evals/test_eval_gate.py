"""The eval gate: a self-improvement of a twin gated by an eval set is run against the set with the
proposed prompt; the approval shows the result, and one below the required pass rate is denied by
the gate. Real planner and bus; the model is the fake provider."""

from __future__ import annotations

import json
from typing import Any

from bus_schemas import new_id
from bus_schemas.approval import ApprovalRecord
from bus_schemas.evals import EvalCheck, EvalGate
from bus_schemas.streams import PLANNER_EVAL_GATE
from bus_schemas.twin import TwinWrite
from pagi.bus import Bus, PullConsumer
from planner.evals.gate import gate_run_id
from records.approvals import ApprovalStore
from records.evals import EvalStore
from records.twins import TwinStore

from ..fake_llm import FakeLLMServer, Reply
from ..support import eventually
from .conftest import KEY, Finished, Say, Send, answer, deny_pending, make_set

PROPOSED = "Answer in French, in words."


def improve() -> str:
    return json.dumps({"action_type": "ActionSelfImprove", "new_prompt": PROPOSED, "rationale": "be elegant"})


async def gated_twin(twins: TwinStore, fake_llm: FakeLLMServer, set_id: str, min_pass_rate: float | None) -> str:
    twin_id = f"gated-{new_id()[:8]}"
    settings: dict[str, Any] = {
        "codename": "Gated", "provider": "openai-compatible", "model": "fake-model", "api_key": KEY,
        "base_url": fake_llm.base_url("openai"), "directive_logic": "You answer with digits.",
        "eval_gate": EvalGate(set_id=set_id, min_pass_rate=min_pass_rate).model_dump(),
    }  # fmt: skip
    await twins.create(twin_id, TwinWrite.model_validate(settings))
    return twin_id


async def evaluated(bus: Bus, session_id: str) -> ApprovalRecord:
    """The session's self-improve approval once the gate wrote a finished eval onto it."""
    approvals = await ApprovalStore.open(bus)

    async def probe() -> ApprovalRecord | None:
        for key in await approvals.kv.keys(f"{session_id}.*"):
            record = await approvals.kv.get_model(key, ApprovalRecord)
            if record is not None and record.kind == "self_improve" and record.eval and record.eval.state != "running":
                return record
        return None

    record = await eventually(probe, timeout=20, what="a self-improve approval with its eval")
    assert record is not None
    return record


async def test_a_proposal_below_the_required_pass_rate_is_denied_by_the_gate(
    bus: Bus, planner: list[PullConsumer], twins: TwinStore, fake_llm: FakeLLMServer, say_and_finish: Say,
    session_id: str,
) -> None:  # fmt: skip
    twin_id = await gated_twin(twins, fake_llm, "digits", 1.0)
    fake_llm.script(Reply(answer("It is 4.")))
    await say_and_finish("what is 2+2?", twin_id)
    await make_set(bus, "digits", twin_id, session_id, EvalCheck(kind="regex", value=r"\b4\b"))
    # The self-improvement; the gate's run of the proposed prompt; the job's answer after the denial.
    fake_llm.script(Reply(improve()), Reply(answer("C'est quatre.")), Reply(answer("I keep my prompt.")))

    job = await say_and_finish("improve yourself", twin_id)

    record = await evaluated(bus, session_id)
    assert record.eval is not None
    assert (record.eval.state, record.eval.ok, record.eval.pass_rate) == ("done", False, 0.0)
    assert (record.eval.baseline_pass_rate, record.eval.required, record.eval.total) == (1.0, 1.0, 1)
    assert record.eval.run_id == gate_run_id(record.approval_id) and record.eval.set_id == "digits"
    assert record.state == "denied" and record.decided_by == "eval-gate"
    assert "pass rate 0% (0/1) is below the required 100%" in (record.decision_reason or "")
    assert job.status == "completed" and job.steps[-1].action["content"] == "I keep my prompt."
    twin = await twins.get(twin_id)
    assert twin is not None and twin.directive_logic == "You answer with digits."
    # The gate's own run is kept with the set's results, for the approval.
    kept = await (await EvalStore.open(bus)).result("digits", record.eval.run_id)
    assert kept is not None and kept.approval_id == record.approval_id and kept.cases[0].answer == "C'est quatre."
    assert "Answer in French" in fake_llm.requests[2].body["messages"][0]["content"]


async def test_a_passing_proposal_shows_its_eval_and_may_then_be_approved(
    bus: Bus, planner: list[PullConsumer], twins: TwinStore, fake_llm: FakeLLMServer, say_and_finish: Say,
    send: Send, finished: Finished, session_id: str,
) -> None:  # fmt: skip
    twin_id = await gated_twin(twins, fake_llm, "digits-ok", 0.5)
    fake_llm.script(Reply(answer("It is 4.")))
    await say_and_finish("what is 2+2?", twin_id)
    await make_set(bus, "digits-ok", twin_id, session_id, EvalCheck(kind="regex", value=r"\b4\b"))
    fake_llm.script(Reply(improve()), Reply(answer("Quatre (4).")), Reply(answer("Prompt changed.")))
    job_id = await send("improve yourself", twin_id)

    record = await evaluated(bus, session_id)
    assert record.eval is not None and record.state == "pending"
    assert (record.eval.state, record.eval.ok, record.eval.pass_rate, record.eval.required) == ("done", True, 1.0, 0.5)
    assert record.eval.passed == 1 and record.eval.baseline_pass_rate == 1.0
    await deny_pending(bus, session_id, approved=True)
    job = await finished(job_id)
    assert job.status == "completed" and job.steps[-1].action["content"] == "Prompt changed."
    twin = await twins.get(twin_id)
    assert twin is not None and twin.directive_logic == PROPOSED
    # Redelivered (the same request again): the kept eval is used, nothing is run or asked again.
    asked = len(fake_llm.requests)
    stored = await bus.read_stream("PAGI_EVENTS", f"approve.request.{session_id}")
    [(_, request)] = stored
    [gate] = [c for c in planner if c.spec == PLANNER_EVAL_GATE]
    handled = gate.handled
    await bus.publish(request.model_copy(update={"id": new_id()}))
    await eventually(lambda: gate.handled > handled, what="the gate handled the redelivered request")
    results = await (await EvalStore.open(bus)).results("digits-ok")
    assert [r.run_id for r in results] == [record.eval.run_id]
    assert len(fake_llm.requests) == asked


async def test_a_gate_set_after_the_planner_read_the_twin_still_runs_the_eval(
    bus: Bus, planner: list[PullConsumer], twins: TwinStore, fake_llm: FakeLLMServer, say_and_finish: Say,
    send: Send, session_id: str,
) -> None:  # fmt: skip
    """The asking planner's twin may be up to its cache's age old: a request asked without
    `eval_pending` for a twin gated by now is still run, or its approval would wait for ever."""
    twin_id = await gated_twin(twins, fake_llm, "late", 1.0)
    fake_llm.script(Reply(answer("It is 4.")))
    await say_and_finish("what is 2+2?", twin_id)
    await make_set(bus, "late", twin_id, session_id, EvalCheck(kind="regex", value=r"\b4\b"))
    fake_llm.script(Reply(improve()), Reply(answer("Four: 4.")))
    await send("improve yourself", twin_id)
    first = await evaluated(bus, session_id)
    # The same request as a planner with a stale twin would have asked it, for a fresh approval.
    approvals = await ApprovalStore.open(bus)
    late = first.model_copy(update={"approval_id": new_id(), "eval": None})
    await approvals.create(late)
    [(_, request)] = await bus.read_stream("PAGI_EVENTS", f"approve.request.{session_id}")
    body = request.body.model_copy(update={"approval_id": late.approval_id, "eval_pending": False})
    await bus.publish(request.model_copy(update={"id": new_id(), "body": body}))

    async def late_eval() -> ApprovalRecord | None:
        record = await approvals.get(session_id, late.approval_id)
        return record if record is not None and record.eval and record.eval.state == "done" else None

    record = await eventually(late_eval, timeout=20, what="the late request's eval")
    assert record is not None and record.eval is not None
    assert (record.eval.set_id, record.eval.ok, record.eval.pass_rate) == ("late", True, 1.0)
