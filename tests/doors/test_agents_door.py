"""The Synadia agent protocol door (edge/doors/agents_nats.py) with Synadia's own caller SDK
(`synadia-ai-agents`) against the real stack, every part its own NATS user under the generated
nats.conf: discover, status, a streamed answer, an approval asked as a `query` and allowed, denied, or
answered over HTTP instead, a caller publishing as another owner refused by nats-server, and a
malformed prompt answered with the protocol's error header while the agent goes on serving."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client
from synadia_ai.agents import (
    Agent,
    Agents,
    Attachment,
    DiscoverFilter,
    PromptExtras,
    PromptInterceptorContext,
    Query,
    ResponseChunk,
    StatusChunk,
    StreamMessage,
    StreamStalledError,
)

from bus_schemas import agents as protocol
from bus_schemas.streams import EVENTS
from edge.appkeys import BUS, STATE
from pagi import metrics
from pagi.nats_users import AGENT_SDK_INBOX
from records.approvals import ApprovalStore
from records.twins import DEFAULT_TWIN_ID

from ..support import eventually
from ..workers_support import state_dir
from .agents_stack import AgentsStack, Refusals, agents_stack

__all__ = ["agents_stack", "state_dir"]

# Bounded waits on every stream: a protocol stream that goes quiet fails the test, it never hangs it.
STREAM_TIMEOUT_S = 30.0
LIST_FILES = "list files"


async def discover(nc: Client, owner: str) -> tuple[Agents, Agent]:
    agents = Agents(nc=nc, stream_inactivity_timeout=STREAM_TIMEOUT_S, prompt_max_wait_s=60)
    found: list[Agent] = []

    async def listed() -> bool:
        found[:] = await agents.discover(filter=DiscoverFilter(agent=protocol.AGENT, owner=owner))
        return any(a.metadata.get(protocol.META_TWIN) == DEFAULT_TWIN_ID for a in found)

    await eventually(listed, timeout=15, interval=0.2, what=f"{owner}'s agents discovered")
    return agents, next(a for a in found if a.metadata.get(protocol.META_TWIN) == DEFAULT_TWIN_ID)


@pytest.fixture
async def alice(agents_stack: AgentsStack) -> AsyncIterator[tuple[Agents, Agent]]:
    nc = await agents_stack.caller("alice")
    agents, agent = await discover(nc, "alice")
    yield agents, agent
    await agents.close()
    await nc.close()


def text_of(messages: list[StreamMessage]) -> str:
    return "".join(m.text for m in messages if isinstance(m, ResponseChunk))


async def prompt_until_query(
    agent: Agent, text: str
) -> tuple[AsyncIterator[StreamMessage], list[StreamMessage], Query]:
    stream = aiter(agent.prompt(text, timeout=STREAM_TIMEOUT_S))
    seen: list[StreamMessage] = []
    async for message in stream:
        seen.append(message)
        if isinstance(message, Query):
            return stream, seen, message
    raise AssertionError(f"the stream ended without a query: {seen}")


async def next_query(stream: AsyncIterator[StreamMessage]) -> Query:
    async for message in stream:
        if isinstance(message, Query):
            return message
    raise AssertionError("the stream ended without asking again")


async def rest_of(stream: AsyncIterator[StreamMessage]) -> list[StreamMessage]:
    return [message async for message in stream]


async def history(stack: AgentsStack, owner: str, session: str) -> list[dict[str, Any]]:
    response = await stack.http.get(f"/v1/sessions/{session}/history", headers=stack.auth(owner))
    assert response.status == 200, await response.text()
    messages: list[dict[str, Any]] = (await response.json())["messages"]
    return messages


def door_count(outcome: str) -> float:
    value = metrics.DOOR_REQUESTS.labels("agents", outcome)._value.get()
    return float(value)


async def test_discover_status_and_a_streamed_answer_in_the_owners_session(
    agents_stack: AgentsStack, alice: tuple[Agents, Agent]
) -> None:
    _, agent = alice
    session = protocol.session_for("alice", DEFAULT_TWIN_ID)
    assert (agent.agent, agent.owner, agent.session_name) == ("pagi", "alice", session)
    assert agent.prompt_subject == f"agents.prompt.pagi.alice.{session}"
    assert agent.protocol_version == "0.3"
    assert agent.metadata[protocol.META_TWIN_NAME] == "Orchestrator"
    assert agent.prompt_endpoint.attachments_ok is True
    status = await agent.status(timeout_s=5)
    assert status.instance_id == agent.instance_id

    completed_before = door_count("completed")
    messages = await rest_of(aiter(agent.prompt("hello there", timeout=STREAM_TIMEOUT_S)))
    assert messages[0] == StatusChunk(status="ack"), "the protocol's leading ack"
    answer = text_of(messages)
    assert "Hello, this is orchestrator" in answer and "You said: hello there" in answer
    assert not any(isinstance(m, Query) for m in messages)
    assert door_count("completed") == completed_before + 1

    # The same conversation in the console: the owner's session, the message as alice's.
    said = await history(agents_stack, "alice", session)
    assert [m["role"] for m in said] == ["user", "assistant"]
    assert said[0]["user_id"] == "alice" and said[0]["text"] == "hello there"
    assert said[1]["text"] == answer
    # And nobody else's: bob's key cannot read it.
    response = await agents_stack.http.get(f"/v1/sessions/{session}/history", headers=agents_stack.auth("bob"))
    assert response.status in (403, 404)


class TraceParent:
    """A caller's own trace: the W3C header on every prompt, through the SDK's interceptor hook."""

    def __init__(self, traceparent: str) -> None:
        self.traceparent = traceparent

    async def before_prompt(self, ctx: PromptInterceptorContext) -> PromptExtras | None:
        return PromptExtras(headers={"traceparent": self.traceparent})


async def test_the_callers_trace_context_is_the_jobs(agents_stack: AgentsStack) -> None:
    trace_id = uuid.uuid4().hex
    nc = await agents_stack.caller("alice")
    agents = Agents(nc=nc, interceptors=[TraceParent(f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01")])
    try:
        found = await agents.discover(filter=DiscoverFilter(owner="alice"))
        agent = next(a for a in found if a.metadata.get(protocol.META_TWIN) == DEFAULT_TWIN_ID)
        messages = await rest_of(aiter(agent.prompt("hello, traced", timeout=STREAM_TIMEOUT_S)))
        assert "You said: hello, traced" in text_of(messages)
    finally:
        await agents.close()
        await nc.close()
    session = protocol.session_for("alice", DEFAULT_TWIN_ID)
    stored = [m async for m in agents_stack.http.app[BUS].read_events(EVENTS.name, [f"chat.*.{session}"])]
    assert stored and all(trace_id in m.headers.get("traceparent", "") for m in stored), [m.headers for m in stored]


async def test_a_query_allowed_and_one_denied_become_decisions_recorded_as_the_owner(
    agents_stack: AgentsStack, alice: tuple[Agents, Agent]
) -> None:
    _, agent = alice
    session = protocol.session_for("alice", DEFAULT_TWIN_ID)

    stream, _, query = await prompt_until_query(agent, LIST_FILES)
    assert "list_files" in query.prompt and "allow" in query.prompt
    assert query.reply_subject == protocol.approval_reply_subject("alice", session, query.id)
    listed = await agents_stack.http.get(
        "/v1/approvals", params={"session": session}, headers=agents_stack.auth("alice")
    )
    assert query.id in [a["approval_id"] for a in (await listed.json())["approvals"]], "pending in the console too"
    # 'always' would change the shared twin's policy, which a member may not: refused, asked again.
    await query.reply("always")
    again = await next_query(stream)
    assert again.id == query.id and "Not decided" in again.prompt and "always" in again.prompt
    await again.reply("allow")
    allowed = await rest_of(stream)
    assert not any(isinstance(m, Query) for m in allowed)
    assert text_of(allowed).strip(), allowed
    assert StatusChunk(status="failed") not in allowed
    record = await approvals(agents_stack).get(session, query.id)
    assert record is not None and (record.state, record.decided_by) == ("approved", "alice")

    stream, _, query = await prompt_until_query(agent, LIST_FILES)
    # Free text is no answer: asked again, the same approval, nothing decided.
    await query.reply("hmm, what would that do?")
    again = await next_query(stream)
    assert (again.id, again.reply_subject) == (query.id, query.reply_subject)
    assert "not an answer" in again.prompt
    record = await approvals(agents_stack).get(session, query.id)
    assert record is not None and record.state == "pending"
    await again.reply("deny not on my files")
    denied = await rest_of(stream)
    assert not any(isinstance(m, Query) for m in denied)
    record = await approvals(agents_stack).get(session, query.id)
    assert record is not None
    assert (record.state, record.decided_by, record.decision_reason) == ("denied", "alice", "not on my files")
    assert "denied" in text_of(denied).lower(), denied


def approvals(stack: AgentsStack) -> ApprovalStore:
    return stack.http.app[STATE].approvals


async def test_a_query_answered_over_http_instead_lets_the_stream_go_on(
    agents_stack: AgentsStack, alice: tuple[Agents, Agent]
) -> None:
    _, agent = alice
    stream, _, query = await prompt_until_query(agent, LIST_FILES)
    # Bob may not decide alice's approval; alice may, from the console's API.
    refused = await agents_stack.http.post(
        f"/v1/approvals/{query.id}", json={"approved": True}, headers=agents_stack.auth("bob")
    )
    assert refused.status in (403, 404)
    decided = await agents_stack.http.post(
        f"/v1/approvals/{query.id}", json={"approved": True}, headers=agents_stack.auth("alice")
    )
    assert decided.status in (200, 202), await decided.text()
    rest = await rest_of(stream)
    assert text_of(rest).strip() and not any(isinstance(m, Query) for m in rest), rest
    # A late answer on the query's subject decides nothing twice and breaks nothing.
    await query.reply("deny")


async def test_a_caller_may_not_prompt_as_another_owner(agents_stack: AgentsStack) -> None:
    refusals = Refusals([])
    nc = await agents_stack.caller("alice", refusals)
    agents = Agents(nc=nc)
    try:
        everyone = await agents.discover()
        bobs = [a for a in everyone if a.owner == "bob"]
        assert bobs, "alice discovers bob's agent (discovery is shared), but may not prompt it"
        with pytest.raises(StreamStalledError):
            await rest_of(aiter(bobs[0].prompt("hello as bob", timeout=2)))
        await eventually(lambda: bool(refusals.about(bobs[0].prompt_subject)), 5, 0.05, "the server's refusal")
        # A direct publish too, and an answer to someone else's approval subject.
        foreign = protocol.approval_reply_subject("bob", bobs[0].session_name, uuid.uuid4().hex)
        await nc.publish(foreign, b"allow")
        await eventually(lambda: bool(refusals.about(foreign)), 5, 0.05, "the refusal of an answer as bob")
    finally:
        await agents.close()
        await nc.close()
    said = await history(agents_stack, "bob", protocol.session_for("bob", DEFAULT_TWIN_ID))
    assert said == [], "nothing reached bob's session"


async def test_a_malformed_prompt_gets_the_protocols_error_and_the_agent_keeps_serving(
    agents_stack: AgentsStack, alice: tuple[Agents, Agent]
) -> None:
    _, agent = alice
    nc = await agents_stack.caller("alice")
    try:
        for bad, code in (
            (json.dumps({"prompt": 5}).encode(), "400"),
            (b'{"prompt": "x", "attachments": "no"}', "400"),
        ):
            replies = await raw_prompt(nc, agent.prompt_subject, bad)
            assert replies[0][1].get("Nats-Service-Error-Code") == code, replies
            assert replies[-1] == (b"", {}), "the empty terminator, with no headers"
            assert not any(b'"ack"' in data for data, _ in replies), "refused before the ack"
        # Too long for a PAGI message: refused by the job's own checks, before the ack, in the same shape.
        replies = await raw_prompt(nc, agent.prompt_subject, json.dumps({"prompt": "x" * 40_000}).encode())
        assert replies[0][1].get("Nats-Service-Error-Code") == "400", replies
    finally:
        await nc.close()
    messages = await rest_of(aiter(agent.prompt("hello again", timeout=STREAM_TIMEOUT_S)))
    assert "You said: hello again" in text_of(messages)


async def test_a_prompts_attachments_are_read_and_offered_and_a_bad_one_is_refused(
    agents_stack: AgentsStack, alice: tuple[Agents, Agent]
) -> None:
    _, agent = alice
    rota = Attachment.from_bytes("rota.md", b"# Rota\n\nThe pager rotates every Monday at 09:00.\n")
    messages = await rest_of(aiter(agent.prompt("what does it say?", attachments=[rota], timeout=STREAM_TIMEOUT_S)))
    answer = text_of(messages)
    assert "Read rota.md" in answer and "rotates every Monday at 09:00" in answer
    session = protocol.session_for("alice", DEFAULT_TWIN_ID)
    said = await history(agents_stack, "alice", session)
    assert said[-2]["text"] == "what does it say?"  # the file was offered, not stored: no approval asked
    pending = await approvals(agents_stack).pending(session)
    assert pending == []

    nc = await agents_stack.caller("alice")
    try:
        for name, content, why in (
            ("tool.exe", base64.b64encode(b"MZ").decode(), "PAGI reads"),
            ("notes.md", "not base64!", "not base64"),
        ):
            bad = json.dumps({"prompt": "read this", "attachments": [{"filename": name, "content": content}]})
            replies = await raw_prompt(nc, agent.prompt_subject, bad.encode())
            assert replies[0][1].get("Nats-Service-Error-Code") == "400", replies
            assert why in replies[0][1].get("Nats-Service-Error", ""), replies
    finally:
        await nc.close()


async def raw_prompt(nc: Client, subject: str, payload: bytes) -> list[tuple[bytes, dict[str, str]]]:
    """A prompt as raw bytes (what a broken client sends), read to the terminator."""
    inbox = f"{AGENT_SDK_INBOX}.{uuid.uuid4().hex}"
    sub = await nc.subscribe(inbox)
    replies: list[tuple[bytes, dict[str, str]]] = []
    try:
        await nc.publish(subject, payload, reply=inbox)
        while True:
            msg = await sub.next_msg(timeout=STREAM_TIMEOUT_S)
            replies.append((msg.data, dict(msg.headers or {})))
            if msg.data == b"" and not msg.headers:
                return replies
    finally:
        await sub.unsubscribe()


async def test_health_says_which_doors_are_served(agents_stack: AgentsStack, alice: tuple[Agents, Agent]) -> None:
    """The agents door's own probe: up, with the agents it serves (alice's and bob's twins); the HTTP
    doors are up where their routes are. Anonymous callers learn only ok or degraded."""
    response = await agents_stack.http.get("/health", headers=agents_stack.auth("alice"))
    doors = (await response.json())["doors"]
    assert doors["agents"]["status"] == "up"
    assert doors["agents"]["callers"] == 2 and doors["agents"]["agents"] >= 2
    assert doors["openai"] == {"status": "up", "path": "/v1/chat/completions"}
    assert doors["a2a"]["status"] == "up"
    anonymous = await agents_stack.http.get("/health")
    assert "doors" not in await anonymous.json()
