"""The named moves of a job and of an approval (records.jobs, records.approvals): each makes its
change once, and is a no-op when it was already made (a redelivered message repeats nothing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bus_schemas import ActionTool
from bus_schemas.approval import ApprovalRecord
from bus_schemas.jobs import JobRecord, JobStep
from bus_schemas.twin import PromptVersion
from pagi.bus import Bus
from records import approvals as approval_moves
from records import jobs as job_moves
from records.approvals import ApprovalStore, approval_key, pending_key
from records.bundle import open_records
from records.jobs import JobStore, job_key, waiting_key
from records.prompts import change_prompt, legacy_current_key, roll_back, version_key
from records.twins import status_key, twin_key

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(seconds=5)


def job() -> JobRecord:
    return JobRecord(job_id="j1", session_id="s1", twin_id="orchestrator", message="hi", created_at=T0, updated_at=T0)


def step(n: int, trigger: str) -> JobStep:
    return JobStep(step=n, trigger_id=trigger, action_type="ActionTool", action={}, decided_by="deterministic")


def approval() -> ApprovalRecord:
    return ApprovalRecord(
        approval_id="a1",
        session_id="s1",
        job_id="j1",
        twin_id="orchestrator",
        step=1,
        kind="tool",
        action=ActionTool(tool_name="python", args={}),
        summary="run tool python",
        reason="r",
        policy="tool-run",
        created_at=T0,
        expires_at=T1,
    )


def test_key_formats_are_one_function_each_and_their_wildcards_are_the_listing_patterns() -> None:
    assert (twin_key("t"), status_key("t"), twin_key("*")) == ("twin.t", "status.t", "twin.*")
    assert (approval_key("s", "a"), approval_key("*", "a")) == ("s.a", "*.a")
    assert (pending_key("s", "a"), pending_key("*", "*")) == ("s.a.pending", "*.*.pending")
    assert (job_key("s", "j"), waiting_key("s", "j"), job_key("*", "j")) == ("s.j", "s.j.waiting", "*.j")
    assert (version_key("t", 3), version_key("t", "*"), legacy_current_key("t")) == ("t.3", "t.*", "t.current")


def test_a_job_moves_through_its_states_and_each_move_happens_once() -> None:
    first = job_moves.first_step(job(), step(1, "e1"), answered=False)
    assert first.status == "running" and [s.step for s in first.steps] == [1]
    assert job_moves.first_step(job(), step(1, "e1"), answered=True).status == "completed"

    waiting = job_moves.await_approval("a1", T1)(first)
    assert waiting is not None
    assert (waiting.status, waiting.waiting_for, waiting.waiting_id) == ("waiting_approval", "approval", "a1")
    assert waiting.waiting_since == T1
    assert job_moves.await_approval("a1", T1)(waiting) is None

    asked = job_moves.await_worker("tool", "r1", T1)(waiting)
    assert asked is not None and (asked.status, asked.waiting_for, asked.waiting_id) == ("running", "tool", "r1")
    assert job_moves.await_worker("tool", "r1", T1)(asked) is None
    assert job_moves.waits_for_worker(asked) and not job_moves.waits_for_worker(waiting)

    late = job_moves.warn_late("r1")(asked)
    assert late is not None and late.warned
    assert job_moves.warn_late("r1")(late) is None
    assert job_moves.warn_late("another request")(asked) is None  # the job has moved on

    seen = job_moves.record_observation(1, "exit 0", "result-1", T1)(late)
    assert seen is not None and seen.steps[0].observation == "exit 0"
    assert (seen.waiting_for, seen.waiting_id, seen.waiting_since, seen.warned) == (None, None, None, False)
    assert job_moves.record_observation(1, "again", "result-1", T1)(seen) is None

    second = job_moves.add_step(step(2, "e2"), T1)(seen)
    assert second is not None and [s.trigger_id for s in second.steps] == ["e1", "e2"]
    assert job_moves.add_step(step(2, "e2"), T1)(second) is None

    failed = job_moves.finish("failed", "boom", T1)(second)
    assert failed is not None and (failed.status, failed.error, failed.finished) == ("failed", "boom", True)
    assert job_moves.finish("completed", None, T1)(failed) is None


@pytest.mark.parametrize(
    ("move", "state"),
    [
        (approval_moves.approve("bo", T1, "fine", "ev1"), "approved"),
        (approval_moves.deny("bo", T1, "no", "ev1"), "denied"),
        (approval_moves.expire, "expired"),
        (approval_moves.cancel, "cancelled"),
    ],
)
def test_an_approval_leaves_pending_once(move: approval_moves.ApprovalChange, state: str) -> None:
    settled = move(approval())
    assert settled is not None and settled.state == state
    for later in (approval_moves.approve("eve", T1, None, "ev2"), approval_moves.expire, approval_moves.cancel):
        assert later(settled) is None
    if state in ("approved", "denied"):
        assert (settled.decided_by, settled.decided_at, settled.decision_event_id) == ("bo", T1, "ev1")


async def test_the_stores_keep_their_indexes_with_the_moves(bus: Bus) -> None:
    records = await open_records(bus)
    jobs: JobStore = records.jobs
    stored = await jobs.create(job_moves.first_step(job(), step(1, "e1"), answered=False))
    waiting = await jobs.wait_for_worker(stored, "memory", "r1", T1)
    assert [j.job_id for j in await jobs.waiting()] == ["j1"] and waiting.waiting_id == "r1"
    await jobs.update(waiting, job_moves.record_observation(1, "found", "result-1", T1))
    assert await jobs.kv.get(waiting_key("s1", "j1")) is None

    approvals: ApprovalStore = records.approvals
    await approvals.create(approval())
    assert [a.approval_id for a in await approvals.pending("s1")] == ["a1"]
    approved = await approvals.update(approval(), approval_moves.approve("bo", T1, None, "ev1"))
    assert approved.state == "approved" and await approvals.pending("s1") == []
    assert await approvals.kv.get(pending_key("s1", "a1")) is None


async def test_a_prompt_change_and_a_rollback_are_one_write_of_the_twin(bus: Bus) -> None:
    records = await open_records(bus)
    twin = await records.twins.get_or_default("orchestrator")
    original = twin.directive_logic
    version = await change_prompt(records.twins, records.prompts, twin, "You are terse.", "shorter", "test")
    assert version.version == 2
    changed = await records.twins.get("orchestrator")
    assert changed is not None and (changed.directive_logic, changed.prompt_version) == ("You are terse.", 2)
    assert await records.prompts.current("orchestrator", changed) == 2

    back = await roll_back(records.twins, records.prompts, "orchestrator", 1)
    assert isinstance(back, PromptVersion) and back.prompt == original
    rolled = await records.twins.get("orchestrator")
    assert rolled is not None and (rolled.directive_logic, rolled.prompt_version) == (original, 1)
    assert await roll_back(records.twins, records.prompts, "orchestrator", 9) is None
    assert "prompt_version" not in (await records.twins.view(rolled)).model_dump()


async def test_a_twin_from_before_the_record_named_its_version_reads_the_old_pointer(bus: Bus) -> None:
    records = await open_records(bus)
    twin = await records.twins.get_or_default("orchestrator")
    assert twin.prompt_version is None and await records.prompts.current("orchestrator", twin) is None
    await records.prompts.kv.put(legacy_current_key("orchestrator"), b"3")
    assert await records.prompts.current("orchestrator", twin) == 3
