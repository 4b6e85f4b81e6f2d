"""The A2A door against the real stack, with the official `a2a-sdk` client: the cards, a greeting sent
and streamed (A2A 1.0's SendMessage / SendStreamingMessage, and 0.3's message/send, message/stream,
tasks/get, tasks/cancel through the SDK's own 0.3 transport), an approval in the middle (input-required,
approved over PAGI's HTTP API, the task completes), a denied one (decided with an A2A follow-up message),
tasks/get, tasks/cancel (the job record says cancelled), bob refused alice's task and context, a bad key,
malformed JSON-RPC in the standard's own error shape, and nothing else affected."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from a2a.client import Client
from a2a.client.errors import A2AClientError
from a2a.helpers.proto_helpers import (
    get_artifact_text,
    get_data_parts,
    get_message_text,
    new_data_part,
    new_text_message,
)
from a2a.types import a2a_pb2 as a2a
from a2a.utils.errors import InvalidParamsError, TaskNotCancelableError, TaskNotFoundError

from ..support import eventually
from ..workers_support import state_dir
from .a2a_stack import ALICE_TWIN, NEEDS_APPROVAL, A2AStack, a2a_stack

__all__ = ["a2a_stack", "state_dir"]

pytestmark = pytest.mark.timeout(120)

DONE = (a2a.TASK_STATE_COMPLETED, a2a.TASK_STATE_FAILED, a2a.TASK_STATE_CANCELED)


def send_request(text: str, *, context_id: str | None = None, twin: str | None = None) -> a2a.SendMessageRequest:
    message = new_text_message(text, context_id=context_id, role=a2a.ROLE_USER)
    request = a2a.SendMessageRequest(message=message)
    if twin is not None:
        request.message.metadata.update({"twin_id": twin})
    return request


def reply_request(task: a2a.Task, approval_id: str, approved: bool) -> a2a.SendMessageRequest:
    """A follow-up message to the task deciding its approval (a JSON data part, never text)."""
    message = a2a.Message(
        message_id=f"reply-{approval_id}",
        role=a2a.ROLE_USER,
        task_id=task.id,
        context_id=task.context_id,
        parts=[new_data_part({"approval_id": approval_id, "approved": approved, "reason": "not today"})],
    )
    return a2a.SendMessageRequest(message=message)


async def collect(stream: AsyncIterator[a2a.StreamResponse]) -> list[a2a.StreamResponse]:
    return [event async for event in stream]


async def sent(client: Client, request: a2a.SendMessageRequest) -> a2a.Task:
    """A non-streaming client's one answer: the task."""
    events = await collect(client.send_message(request))
    assert len(events) == 1 and events[0].HasField("task"), events
    return events[0].task


def last_state(events: list[a2a.StreamResponse]) -> a2a.TaskState:
    states = [e.status_update.status.state for e in events if e.HasField("status_update")]
    return states[-1]


def approval_of(status: a2a.TaskStatus) -> dict[str, Any]:
    data = [d for d in get_data_parts(status.message.parts) if isinstance(d, dict) and "approval_id" in d]
    assert data, f"no approval in {status}"
    approval: dict[str, Any] = data[0]
    return approval


async def get_task(client: Client, task_id: str) -> a2a.Task:
    return await client.get_task(a2a.GetTaskRequest(id=task_id))


async def test_cards_show_shared_twins_to_anyone_and_private_ones_to_their_owner(a2a_stack: A2AStack) -> None:
    card = await a2a_stack.card(None)
    assert card.capabilities.streaming and card.capabilities.extended_agent_card
    assert not card.capabilities.push_notifications
    assert {i.protocol_version for i in card.supported_interfaces} == {"1.0", "0.3"}
    assert all(
        i.url == f"{a2a_stack.base_url}/a2a" and i.protocol_binding == "JSONRPC" for i in card.supported_interfaces
    )
    scheme = next(iter(card.security_schemes.values()))
    assert scheme.http_auth_security_scheme.scheme == "Bearer"
    skills = {s.id for s in card.skills}
    assert "orchestrator" in skills and ALICE_TWIN not in skills  # the default twin; never a private one

    twin_card = await a2a_stack.card(None, "/a2a/orchestrator/.well-known/agent-card.json")
    assert [i.url for i in twin_card.supported_interfaces] == [f"{a2a_stack.base_url}/a2a/orchestrator"] * 2
    hidden = await a2a_stack.httpx(None).get(f"{a2a_stack.base_url}/a2a/{ALICE_TWIN}/.well-known/agent-card.json")
    assert hidden.status_code == 404

    # The authenticated extended card: alice sees her own twin, bob does not.
    alice = await a2a_stack.client("alice")
    bob = await a2a_stack.client("bob")
    alice_card = await alice.get_extended_agent_card(a2a.GetExtendedAgentCardRequest())
    bob_card = await bob.get_extended_agent_card(a2a.GetExtendedAgentCardRequest())
    assert ALICE_TWIN in {s.id for s in alice_card.skills}
    assert ALICE_TWIN not in {s.id for s in bob_card.skills} and "orchestrator" in {s.id for s in bob_card.skills}


async def test_a_greeting_sent_and_read_back(a2a_stack: A2AStack) -> None:
    client = await a2a_stack.client("alice", streaming=False)
    task = await sent(client, send_request("hello"))
    assert task.status.state == a2a.TASK_STATE_COMPLETED, task
    answer = get_artifact_text(task.artifacts[0])
    assert "Hello, this is orchestrator" in answer and "You said: hello" in answer
    assert get_message_text(task.status.message) == answer
    # task id = job id, contextId = session id: the job record says so, and the task reads back the same.
    job = await a2a_stack.job(task.id, "alice")
    assert job["session_id"] == task.context_id and job["status"] == "completed" and job["message"] == "hello"
    again = await get_task(client, task.id)
    assert again.status.state == a2a.TASK_STATE_COMPLETED and get_artifact_text(again.artifacts[0]) == answer
    assert get_message_text(again.history[0]) == "hello"


async def test_a_greeting_streamed_to_alices_private_twin(a2a_stack: A2AStack) -> None:
    # A private twin has no public card; the install's endpoint takes it by metadata.twin_id.
    client = await a2a_stack.client("alice")
    events = await collect(client.send_message(send_request("hello", twin=ALICE_TWIN)))
    assert events[0].HasField("task") and events[0].task.status.state == a2a.TASK_STATE_SUBMITTED
    assert last_state(events) == a2a.TASK_STATE_COMPLETED
    chunks = [e.artifact_update for e in events if e.HasField("artifact_update")]
    assert chunks and chunks[-1].last_chunk
    assert f"Hello, this is {ALICE_TWIN}" in get_artifact_text(chunks[-1].artifact)
    assert {e.status_update.task_id for e in events if e.HasField("status_update")} == {events[0].task.id}


async def test_a_twins_own_endpoint(a2a_stack: A2AStack) -> None:
    client = await a2a_stack.client("bob", card_path="/a2a/orchestrator/.well-known/agent-card.json")
    events = await collect(client.send_message(send_request("hello")))
    assert last_state(events) == a2a.TASK_STATE_COMPLETED
    with pytest.raises(InvalidParamsError, match="this endpoint is twin orchestrator's"):
        await collect(client.send_message(send_request("hello", twin=ALICE_TWIN)))


async def test_an_approval_in_the_middle_approved_over_http(a2a_stack: A2AStack) -> None:
    client = await a2a_stack.client("alice")
    events = await collect(client.send_message(send_request(NEEDS_APPROVAL)))
    task_id = events[0].task.id
    # The stream ends where the task needs input, saying what waits and how to answer it.
    assert last_state(events) == a2a.TASK_STATE_INPUT_REQUIRED
    status = [e.status_update.status for e in events if e.HasField("status_update")][-1]
    approval = approval_of(status)
    assert (
        approval["job_id"] == task_id
        and approval["answer_with"]["http"] == f"POST /v1/approvals/{approval['approval_id']}"
    )
    assert f"POST /v1/approvals/{approval['approval_id']}" in get_message_text(status.message)
    waiting = await get_task(client, task_id)
    assert waiting.status.state == a2a.TASK_STATE_INPUT_REQUIRED

    # The job goes on after the decision, whoever takes it: here the console's HTTP API.
    assert await a2a_stack.decide(approval["approval_id"], "alice", approved=True) == 202

    async def completed() -> a2a.Task | None:
        current = await get_task(client, task_id)
        return current if current.status.state in DONE else None

    task = await eventually(completed, timeout=30, interval=0.2, what="the approved task to end")
    assert task is not None
    assert task.status.state == a2a.TASK_STATE_COMPLETED, task
    assert (await a2a_stack.job(task_id, "alice"))["status"] == "completed"


async def test_a_denial_sent_as_an_a2a_reply_and_resubscribed(a2a_stack: A2AStack) -> None:
    client = await a2a_stack.client("alice", version="0.3")  # message/stream, tasks/resubscribe...
    events = await collect(client.send_message(send_request(NEEDS_APPROVAL)))
    task = events[0].task
    assert last_state(events) == a2a.TASK_STATE_INPUT_REQUIRED
    approval_id = approval_of([e.status_update.status for e in events if e.HasField("status_update")][-1])[
        "approval_id"
    ]

    # Text decides nothing: refused in A2A's shape, the approval still pending.
    text_reply = new_text_message("yes, go ahead", task_id=task.id, context_id=task.context_id, role=a2a.ROLE_USER)
    with pytest.raises(InvalidParamsError, match="text does not decide it"):
        await collect(client.send_message(a2a.SendMessageRequest(message=text_reply)))
    assert (await get_task(client, task.id)).status.state == a2a.TASK_STATE_INPUT_REQUIRED

    # A data part decides it; the same call follows the task to its end.
    rest = await collect(client.send_message(reply_request(task, approval_id, approved=False)))
    assert last_state(rest) in DONE
    job = await a2a_stack.job(task.id, "alice")
    assert job["status"] in ("completed", "failed")
    # The record says who denied it, through the one decision path.
    listed = await a2a_stack.http.get("/v1/approvals", headers=a2a_stack.auth("alice"))
    assert approval_id not in {a["approval_id"] for a in (await listed.json())["approvals"]}

    # Resubscribing to a finished task sends it as it ended.
    again = await collect(client.subscribe(a2a.SubscribeToTaskRequest(id=task.id)))
    assert again[0].HasField("task") and again[0].task.status.state == last_state(rest)


async def test_cancel_cancels_the_job(a2a_stack: A2AStack) -> None:
    client = await a2a_stack.client("alice", streaming=False, version="0.3")  # message/send, tasks/cancel
    task = await sent(client, send_request(NEEDS_APPROVAL))
    assert task.status.state == a2a.TASK_STATE_INPUT_REQUIRED
    cancelled = await client.cancel_task(a2a.CancelTaskRequest(id=task.id))
    assert cancelled.status.state == a2a.TASK_STATE_CANCELED, cancelled
    assert (await a2a_stack.job(task.id, "alice"))["status"] == "cancelled"
    with pytest.raises(TaskNotCancelableError):
        await client.cancel_task(a2a.CancelTaskRequest(id=task.id))


async def test_bob_is_refused_alices_task_and_context(a2a_stack: A2AStack) -> None:
    alice = await a2a_stack.client("alice", streaming=False)
    task = await sent(alice, send_request(NEEDS_APPROVAL))
    approval_id = approval_of(task.status)["approval_id"]
    bob = await a2a_stack.client("bob", streaming=False)
    with pytest.raises(TaskNotFoundError):
        await get_task(bob, task.id)
    with pytest.raises(TaskNotFoundError):
        await bob.cancel_task(a2a.CancelTaskRequest(id=task.id))
    with pytest.raises(TaskNotFoundError):
        await collect(bob.send_message(reply_request(task, approval_id, approved=True)))
    with pytest.raises(InvalidParamsError, match=f"no context {task.context_id}"):
        await sent(bob, send_request("hello", context_id=task.context_id))
    with pytest.raises(InvalidParamsError, match=f"no twin {ALICE_TWIN}"):
        await sent(bob, send_request("hello", twin=ALICE_TWIN))
    # Nothing bob did touched it: alice's task still waits, and she may still decide it.
    assert (await get_task(alice, task.id)).status.state == a2a.TASK_STATE_INPUT_REQUIRED
    assert await a2a_stack.decide(approval_id, "alice", approved=False) == 202


async def test_a_bad_key_is_refused_in_json_rpc_shape(a2a_stack: A2AStack) -> None:
    client = await a2a_stack.client("alice", streaming=False, key="not-a-key-of-anyone-0123")
    with pytest.raises(A2AClientError, match="401"):
        await sent(client, send_request("hello"))
    raw = await a2a_stack.httpx(None, "not-a-key-of-anyone-0123").post(
        f"{a2a_stack.base_url}/a2a", json={"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {}}
    )
    assert raw.status_code == 401 and raw.headers["WWW-Authenticate"].startswith("Bearer")
    body = raw.json()
    assert body["jsonrpc"] == "2.0" and body["error"]["code"] == -32600 and "API key" in body["error"]["message"]


async def test_malformed_json_rpc_gets_the_standards_errors_and_nothing_else_is_affected(a2a_stack: A2AStack) -> None:
    http = a2a_stack.httpx("alice")
    url = f"{a2a_stack.base_url}/a2a"
    headers = {"Content-Type": "application/json", "A2A-Version": "1.0"}

    async def error_of(content: bytes) -> dict[str, Any]:
        response = await http.post(url, content=content, headers=headers)
        assert response.status_code == 200, response.text
        error: dict[str, Any] = response.json()["error"]
        return error

    assert (await error_of(b"{not json"))["code"] == -32700
    assert (await error_of(b'{"jsonrpc": "2.0", "id": 1}'))["code"] == -32600
    assert (await error_of(b'{"jsonrpc": "2.0", "id": 2, "method": "tasks/explode"}'))["code"] == -32601
    bad_params = b'{"jsonrpc": "2.0", "id": 3, "method": "SendMessage", "params": {"message": 7}}'
    assert (await error_of(bad_params))["code"] == -32602
    no_text = (
        b'{"jsonrpc": "2.0", "id": 4, "method": "SendMessage",'
        b' "params": {"message": {"messageId": "m", "role": "ROLE_USER", "parts": []}}}'
    )
    assert (await error_of(no_text))["code"] == -32602
    unknown = b'{"jsonrpc": "2.0", "id": 5, "method": "GetTask", "params": {"id": "no-such-task"}}'
    assert (await error_of(unknown))["code"] == -32001  # TaskNotFound
    # The same client, the same endpoint: a greeting still works.
    client = await a2a_stack.client("alice", streaming=False)
    assert (await sent(client, send_request("hello"))).status.state == a2a.TASK_STATE_COMPLETED
