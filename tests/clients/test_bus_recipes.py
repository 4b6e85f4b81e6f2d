"""Every `nats ...` recipe of README.md and docs/*.md, read from the files and run as written through bash,
with the official NATS JavaScript client as `nats`, against `pagi up` started as a user starts it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from .recipes import Received, Running, Shell, covers, fill, parse_sub_output, recipe

pytestmark = pytest.mark.asyncio(loop_scope="package")

SUB_CHAT_OUT = "nats sub 'chat.out.demo' &"
HELLO = """nats pub chat.in.demo '{"message":"hello"}'"""
BARE = """nats pub chat.in '{"message":"hi","session_id":"ops"}'"""
HELLO_ALICE = """nats pub chat.in.demo '{"message":"hello","user_id":"alice"}' -H "Nats-Msg-Id:$(uuidgen)\""""
BARE_DEMO = """nats pub chat.in '{"message":"hello","session_id":"demo"}' -H "Nats-Msg-Id:$(uuidgen)\""""
LIST_FILES = (
    """nats pub chat.in.demo '{"message":"list files","twin_id":"orchestrator"}' -H "Nats-Msg-Id:$(uuidgen)\""""
)
SUB_APPROVALS = "nats sub 'approve.request.demo' &"
KV_LS_APPROVALS = "nats kv ls pagi_approvals"
KV_GET_APPROVAL = "nats kv get pagi_approvals demo.<approval_id> --raw"
APPROVE = (
    "nats pub approve.decision.demo "
    """'{"approval_id":"<approval_id>","approved":true,"decided_by":"alice"}' -H "Nats-Msg-Id:$(uuidgen)\""""
)
DENY = (
    "nats pub approve.decision.demo "
    """'{"approval_id":"<approval_id>","approved":false,"decided_by":"alice","reason":"not on prod"}' """
    """-H "Nats-Msg-Id:$(uuidgen)\""""
)
ALWAYS = (
    "nats pub approve.decision.demo "
    """'{"approval_id":"<approval_id>","approved":true,"decided_by":"alice","always":true}' """
    """-H "Nats-Msg-Id:$(uuidgen)\""""
)
CANCEL = """nats pub job.cancel.demo '{"job_id":"<job_id>","requested_by":"alice"}' -H "Nats-Msg-Id:$(uuidgen)\""""
KV_LS_TWINS = "nats kv ls pagi_twins"
KV_GET_TWIN = "nats kv get pagi_twins twin.orchestrator --raw"
SUB_SESSION = "nats sub '*.*.demo'"
VIEW_SESSION = "nats stream view PAGI_EVENTS --subject '*.*.demo'"
LAST_ANSWER = "nats stream get PAGI_EVENTS --last-for chat.out.demo"


def body(r: Received) -> dict[str, Any]:
    value: dict[str, Any] = r.event["body"]
    return value


def final_answers(sub: Running, subject: str = "chat.out.demo") -> list[Received]:
    return [r for r in sub.received() if r.subject == subject and body(r)["is_final"]]


async def answered(sub: Running, before: int, what: str, subject: str = "chat.out.demo") -> Received:
    """The next final answer on `subject` after the `before` already seen."""
    await sub.wait_for(lambda _: len(final_answers(sub, subject)) > before, what)
    return final_answers(sub, subject)[before]


@pytest_asyncio.fixture(loop_scope="package")
async def session_log(shell: Shell) -> AsyncIterator[Running]:
    """`nats sub '*.*.demo'`, the docs' way to watch everything in the session, for the whole test."""
    sub = await shell.start(recipe(SUB_SESSION).text)
    yield sub
    await sub.stop()


@covers(SUB_CHAT_OUT, HELLO, BARE)
async def test_readme_chat_is_answered_in_readable_json(shell: Shell) -> None:
    chat_out = await shell.start(recipe(SUB_CHAT_OUT).text)
    ops = await shell.start("nats sub 'chat.out.ops' &")
    try:
        await shell.ok(recipe(HELLO).text)
        answer = await answered(chat_out, 0, "the answer to hello on chat.out.demo")
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.event.get("type") == "chat.out" and answer.event["session_id"] == "demo"
        assert "You said: hello" in body(answer)["content"] and body(answer)["status"] == "completed"

        await shell.ok(recipe(BARE).text)
        hi = await answered(ops, 0, "the answer to the bare chat.in on chat.out.ops", "chat.out.ops")
        assert "You said: hi" in body(hi)["content"]
    finally:
        await chat_out.stop()
        await ops.stop()


@covers(HELLO_ALICE, BARE_DEMO)
async def test_bus_doc_chat_with_message_ids(shell: Shell, session_log: Running) -> None:
    seen = len(final_answers(session_log))
    await shell.ok(recipe(HELLO_ALICE).text)
    first = await answered(session_log, seen, "the answer to alice's hello")
    await shell.ok(recipe(BARE_DEMO).text)
    second = await answered(session_log, seen + 1, "the answer to the bare chat.in for demo")
    assert "You said: hello" in body(first)["content"] and "You said: hello" in body(second)["content"]
    # Each publish had its own Nats-Msg-Id (uuidgen): two messages, two jobs.
    assert first.event["job_id"] != second.event["job_id"]


async def next_approval(shell: Shell, approvals: Running, seen: int) -> Received:
    await shell.ok(recipe(LIST_FILES).text)
    await approvals.wait_for(lambda _: len(approvals.received()) > seen, "an approve.request for list_files")
    request = approvals.received()[seen]
    assert body(request)["action"] == {"action_type": "ActionTool", "tool_name": "list_files", "args": {}}
    return request


def of_job(log: Running, job_id: str, event_type: str) -> list[Received]:
    return [r for r in log.received() if r.event.get("job_id") == job_id and r.event.get("type") == event_type]


async def job_answer(log: Running, job_id: str) -> Received:
    """The job's last answer (a job waiting for approval also says so in a final chat.out)."""
    return await log.wait_for(
        lambda r: (
            r.event.get("job_id") == job_id
            and r.event.get("type") == "chat.out"
            and body(r)["is_final"]
            and body(r)["status"] in ("completed", "failed", "cancelled")
        ),
        f"the last chat.out of job {job_id}",
    )


@covers(LIST_FILES, SUB_APPROVALS, KV_LS_APPROVALS, KV_GET_APPROVAL, APPROVE, DENY, CANCEL, ALWAYS, SUB_SESSION)
async def test_approve_deny_cancel_and_always_from_the_bus_alone(shell: Shell, session_log: Running) -> None:
    approvals = await shell.start(recipe(SUB_APPROVALS).text)
    try:
        # Approve: the approval id comes from what `nats sub approve.request.demo` printed.
        request = await next_approval(shell, approvals, 0)
        approval_id, job_id = body(request)["approval_id"], request.event["job_id"]
        listed = await shell.ok(recipe(KV_LS_APPROVALS).text)
        assert f"demo.{approval_id}" in listed.stdout.split()
        stored = await shell.ok(fill(recipe(KV_GET_APPROVAL).text, {"approval_id": approval_id}))
        assert json.loads(stored.stdout)["state"] == "pending"

        # The adversary: a decision for an approval id that does not exist approves nothing...
        forged = uuid.uuid4().hex
        await shell.ok(
            "nats pub approve.decision.demo "
            f"""'{{"approval_id":"{forged}","approved":true,"decided_by":"mallory"}}'"""
        )
        await session_log.wait_for(
            lambda r: r.subject == "job.log.demo" and f"no approval {forged}" in body(r)["message"],
            "the planner's refusal of the unknown approval id, on job.log.demo",
        )
        assert (
            json.loads((await shell.ok(fill(recipe(KV_GET_APPROVAL).text, {"approval_id": approval_id}))).stdout)[
                "state"
            ]
            == "pending"
        )
        assert of_job(session_log, job_id, "tool.run") == []

        # ...and the real decision still goes through: the tool runs and its result is observed.
        await shell.ok(fill(recipe(APPROVE).text, {"approval_id": approval_id}))
        answer = await job_answer(session_log, job_id)
        assert body(answer)["status"] == "completed"
        [result] = of_job(session_log, job_id, "tool.result")
        assert result.event["body"]["tool_name"] == "list_files"
        decided = json.loads((await shell.ok(fill(recipe(KV_GET_APPROVAL).text, {"approval_id": approval_id}))).stdout)
        assert decided["state"] == "approved" and decided["decided_by"] == "alice"

        # Deny, with a reason: nothing runs.
        request = await next_approval(shell, approvals, 1)
        await shell.ok(fill(recipe(DENY).text, {"approval_id": body(request)["approval_id"]}))
        await job_answer(session_log, request.event["job_id"])
        assert of_job(session_log, request.event["job_id"], "tool.run") == []
        denied = await session_log.wait_for(
            lambda r: r.event.get("job_id") == request.event["job_id"] and "denied" in str(body(r).get("message")),
            "the denial in the job's log",
        )
        assert "not on prod" in body(denied)["message"]

        # Cancel a job waiting for its approval, by the job id every event of it carries.
        request = await next_approval(shell, approvals, 2)
        await shell.ok(fill(recipe(CANCEL).text, {"job_id": request.event["job_id"]}))
        cancelled = await job_answer(session_log, request.event["job_id"])
        assert body(cancelled)["status"] == "cancelled" and "alice" in body(cancelled)["content"]

        # Always: this run, and the twin's next list_files runs without asking.
        request = await next_approval(shell, approvals, 3)
        await shell.ok(fill(recipe(ALWAYS).text, {"approval_id": body(request)["approval_id"]}))
        assert body(await job_answer(session_log, request.event["job_id"]))["status"] == "completed"
        seen = len(final_answers(session_log))
        await shell.ok(recipe(LIST_FILES).text)
        unasked = await answered(session_log, seen, "list files answered without an approval")
        assert of_job(session_log, unasked.event["job_id"], "approve.request") == []
        assert len(of_job(session_log, unasked.event["job_id"], "tool.result")) == 1
        assert len(approvals.received()) == 4
    finally:
        await approvals.stop()


@covers(VIEW_SESSION, LAST_ANSWER)
async def test_session_history_from_the_events_stream(shell: Shell, session_log: Running) -> None:
    seen = len(final_answers(session_log))
    await shell.ok(recipe(HELLO_ALICE).text)
    live = await answered(session_log, seen, "the answer to alice's hello")
    timeline = parse_sub_output((await shell.ok(recipe(VIEW_SESSION).text)).stdout)
    seqs = [r.seq or 0 for r in timeline]
    assert seqs == sorted(seqs) and 0 not in seqs, "stored in stream order, each with its sequence"
    assert all(r.subject.endswith(".demo") for r in timeline)
    # The answer seen live is in the history, after the message it answers and the job's log.
    [stored] = [r for r in timeline if r.event.get("id") == live.event["id"]]
    asked = [r for r in timeline if r.subject == "chat.in.demo" and r.event.get("user_id") == "alice"]
    logged = [r for r in timeline if r.subject == "job.log.demo" and r.event.get("job_id") == live.event["job_id"]]
    assert asked and asked[0].event["message"] == "hello" and logged
    assert (asked[0].seq or 0) < (stored.seq or 0) and (logged[0].seq or 0) < (stored.seq or 0)
    last = (await shell.ok(recipe(LAST_ANSWER).text)).stdout
    assert last.startswith(f"Item: PAGI_EVENTS#{stored.seq} received ") and f'"id":"{live.event["id"]}"' in last


@covers(KV_LS_TWINS, KV_GET_TWIN)
async def test_twins_from_kv(shell: Shell) -> None:
    keys = (await shell.ok(recipe(KV_LS_TWINS).text)).stdout.split()
    assert "twin.orchestrator" in keys
    twin = json.loads((await shell.ok(recipe(KV_GET_TWIN).text)).stdout)
    assert twin["codename"] == "Orchestrator" and twin["directive_logic"]


async def test_malformed_hand_typed_publish_is_reported_and_the_next_is_answered(
    shell: Shell, session_log: Running
) -> None:
    seen = len(final_answers(session_log))
    await shell.ok("nats pub chat.in.demo 'not json'")
    error = await session_log.wait_for(
        lambda r: r.subject == "job.log.demo" and body(r)["level"] == "error" and "chat.in.demo" in body(r)["message"],
        "an error on job.log.demo about the malformed chat.in",
    )
    assert "rejected" in body(error)["message"] and "neither JSON nor msgpack" in body(error)["message"]
    await shell.ok(recipe(HELLO).text)
    answer = await answered(session_log, seen, "the next good message's answer")
    assert "You said: hello" in body(answer)["content"]


async def test_a_bad_command_line_is_a_clear_error(shell: Shell) -> None:
    done = await shell.run("nats pub")
    assert done.returncode == 1 and "pub needs a SUBJECT" in done.stderr
    done = await shell.run("nats kv get pagi_twins twin.nobody --raw")
    assert done.returncode == 1 and "key not found: twin.nobody" in done.stderr


async def test_without_the_operators_password_nothing_is_read(shell: Shell) -> None:
    """A second user, who has the address but not the operator's password, gets a clear refusal."""
    done = await shell.run(
        'NATS_URL="$(echo "$NATS_URL" | sed -E \'s#//operator:[^@]*@#//operator:wrong@#\')" '
        "nats sub 'chat.out.demo' --count 1"
    )
    assert done.returncode == 1 and "Authorization Violation" in done.stderr, done.stderr
    assert done.stdout == ""
