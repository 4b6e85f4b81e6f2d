"""The door core itself (edge/doors/job_run.py and approvals.py), the path every door takes, driven as a
door drives it against the real stack (tests/doors/openai_stack.py: real nats-server, planner, tool
worker and edge): what a job yields, the approval in the middle decided by the right and the wrong
person, cancellation, keep-alives, attaching to a job, and the refusals a second user gets."""

from __future__ import annotations

import uuid

import pytest
from aiohttp import web

from edge.doors.approvals import decide
from edge.doors.errors import DoorRefused
from edge.doors.job_run import Finished, JobEvent, JobRun, WaitingApproval, follow_job, start_job
from records.access import Caller

from ..workers_support import state_dir
from .openai_stack import NEEDS_APPROVAL, OpenAIStack, openai_stack

__all__ = ["openai_stack", "state_dir"]

ALICE = Caller("alice")
BOB = Caller("bob")
DOOR = "test"


def app_of(stack: OpenAIStack) -> web.Application:
    app = stack.http.app
    assert isinstance(app, web.Application)
    return app


def session() -> str:
    return f"core-{uuid.uuid4().hex[:12]}"


async def start(stack: OpenAIStack, who: Caller, session_id: str, message: str, twin_id: str | None = None) -> JobRun:
    return await start_job(
        app_of(stack),
        who,
        door=DOOR,
        session_id=session_id,
        message=message,
        twin_id=twin_id,
        recorded_as=None,
        trace_label=None,
    )


async def until_question(run: JobRun) -> tuple[list[JobEvent], WaitingApproval]:
    seen: list[JobEvent] = []
    async for event in run.events(timeout_s=20):
        assert event is not None
        seen.append(event)
        if isinstance(event, WaitingApproval):
            return seen, event
    raise AssertionError(f"the job ended without asking: {seen}")


async def until_finished(run: JobRun, idle_s: float | None = None) -> tuple[list[JobEvent | None], Finished]:
    seen: list[JobEvent | None] = []
    async for event in run.events(idle_s=idle_s, timeout_s=20):
        seen.append(event)
        if isinstance(event, Finished):
            return seen, event
    raise AssertionError(f"the events ended without Finished: {seen}")


async def test_a_greeting_finishes_with_the_answer(openai_stack: OpenAIStack) -> None:
    async with await start(openai_stack, ALICE, session(), "hello") as run:
        seen, finished = await until_finished(run)
    assert finished.status == "completed" and finished.job_id == run.job_id
    assert "You said: hello" in finished.answer.content
    assert not any(isinstance(event, WaitingApproval) for event in seen)


async def test_an_approval_is_decided_by_its_owner_not_by_another_user(openai_stack: OpenAIStack) -> None:
    app = app_of(openai_stack)
    session_id = session()
    async with await start(openai_stack, ALICE, session_id, NEEDS_APPROVAL) as run:
        _, waiting = await until_question(run)
        assert waiting.session_id == session_id and waiting.job_id == run.job_id
        assert waiting.approval_id in waiting.how_to_answer
        assert f"approve.decision.{session_id}" in waiting.how_to_answer

        # Bob cannot see it, so cannot decide it: the same answer as for an approval that does not exist.
        with pytest.raises(DoorRefused) as bobs:
            await decide(app, BOB, waiting.approval_id, approved=True, reason=None, recorded_as="bob")
        with pytest.raises(DoorRefused) as nobodys:
            await decide(app, BOB, "no-such-approval", approved=True, reason=None, recorded_as="bob")
        assert bobs.value.status == nobodys.value.status == 404

        # Alice may not make it "always" on the shared twin (only an admin changes its policy).
        with pytest.raises(DoorRefused) as always:
            await decide(app, ALICE, waiting.approval_id, approved=True, always=True, reason=None, recorded_as="alice")
        assert always.value.status == 403 and "always" in always.value.message

        decision = await decide(app, ALICE, waiting.approval_id, approved=True, reason="fine", recorded_as="alice")
        assert decision.body.decided_by == "alice" and decision.session_id == session_id
        _, finished = await until_finished(run)
    assert finished.status == "completed"
    with pytest.raises(DoorRefused) as again:
        await decide(app, ALICE, waiting.approval_id, approved=False, reason=None, recorded_as="alice")
    assert again.value.status == 409


async def test_a_wait_sends_keep_alives_and_a_cancel_ends_the_job(openai_stack: OpenAIStack) -> None:
    async with await start(openai_stack, ALICE, session(), NEEDS_APPROVAL) as run:
        await until_question(run)
        keep_alives = 0
        async for event in run.events(idle_s=0.05, timeout_s=20):
            if event is None:
                keep_alives += 1
                if keep_alives == 3:
                    await run.cancel("the caller hung up")
            elif isinstance(event, Finished):
                assert event.status == "cancelled"
                break
    assert keep_alives >= 3


async def test_attaching_to_a_finished_job_yields_its_answer_and_only_to_its_owner(openai_stack: OpenAIStack) -> None:
    app = app_of(openai_stack)
    async with await start(openai_stack, ALICE, session(), "hello again") as run:
        _, first = await until_finished(run)
    async with await follow_job(app, ALICE, run.job_id, door=DOOR) as again:
        _, finished = await until_finished(again)
    assert finished.answer.content == first.answer.content
    with pytest.raises(DoorRefused) as bobs:
        await follow_job(app, BOB, run.job_id, door=DOOR)
    with pytest.raises(DoorRefused) as nobodys:
        await follow_job(app, BOB, "no-such-job", door=DOOR)
    assert bobs.value.status == nobodys.value.status == 404


async def test_refusals_say_what_was_wrong(openai_stack: OpenAIStack) -> None:
    alices = session()
    async with await start(openai_stack, ALICE, alices, "hello") as run:
        await until_finished(run)

    async def refused(who: Caller, session_id: str, message: str, twin_id: str | None = None) -> DoorRefused:
        with pytest.raises(DoorRefused) as caught:
            await start(openai_stack, who, session_id, message, twin_id)
        return caught.value

    other = await refused(BOB, alices, "let me in")
    assert other.status == 403 and "another user" in other.message
    private = await refused(BOB, session(), "hello", twin_id="alice-notes")
    missing = await refused(BOB, session(), "hello", twin_id="no-such-twin")
    assert private.status == missing.status == 404  # a private twin is not told apart from none
    bad_session = await refused(ALICE, "not a token!", "hello")
    assert bad_session.status == 400 and "session id" in bad_session.message
    empty = await refused(ALICE, session(), "   ")
    assert empty.status == 400 and "empty" in empty.message

    # Nothing of that touched alice's session: she goes on in it.
    async with await start(openai_stack, ALICE, alices, "still here") as run:
        _, finished = await until_finished(run)
    assert finished.status == "completed"
