"""The OpenAI-compatible door (edge/doors/openai_api.py) with the official `openai` SDK against the real
stack: models per user, a whole and a streamed completion, an approval in the middle (streamed:
approved from another connection while the stream is open; whole: pending, approved, asked again),
a denied approval, refusals in OpenAI's error shape (bad model, bad key, malformed bodies, another
user's session), each followed by a normal request that still works."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from edge.doors.openai_conversation import PENDING_RE
from records.twins import DEFAULT_TWIN_ID

from ..support import eventually
from ..workers_support import state_dir
from .openai_stack import CHAT_TIMEOUT_S, NEEDS_APPROVAL, OpenAIStack, openai_stack

__all__ = ["openai_stack", "state_dir"]

SESSION = "X-PAGI-Session"


def pagi(model: Any) -> dict[str, Any]:
    """PAGI's extension field, as the SDK keeps unknown fields."""
    extra = model.model_extra or {}
    info = extra.get("pagi")
    assert isinstance(info, dict), extra
    return info


async def hello_works(client: AsyncOpenAI) -> None:
    answer = await client.chat.completions.create(
        model=DEFAULT_TWIN_ID, messages=[{"role": "user", "content": "hello after"}]
    )
    assert "You said: hello after" in (answer.choices[0].message.content or "")


async def test_models_are_the_twins_the_caller_may_use(openai_stack: OpenAIStack) -> None:
    alice = openai_stack.client("alice")
    ids = [m.id async for m in alice.models.list()]
    assert DEFAULT_TWIN_ID in ids and "alice-notes" in ids
    assert "bob-secret" not in ids, "another user's private twin is not listed"
    assert (await alice.models.retrieve("alice-notes")).owned_by == "alice"
    with pytest.raises(openai.NotFoundError) as caught:
        await alice.models.retrieve("bob-secret")
    assert caught.value.code == "model_not_found"
    root_ids = [m.id async for m in openai_stack.client("root").models.list()]
    assert {"alice-notes", "bob-secret"} <= set(root_ids), "an admin may use every twin"


async def test_a_whole_completion_is_a_pagi_job_in_a_named_session(openai_stack: OpenAIStack) -> None:
    alice = openai_stack.client("alice")
    raw = await alice.chat.completions.with_raw_response.create(
        model=DEFAULT_TWIN_ID,
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}],
        user="end-user-1",
        metadata={"conversation_id": "conv-1"},
        temperature=0.2,
        max_tokens=2000,
    )
    answer = raw.parse()
    session = raw.headers[SESSION]
    content = answer.choices[0].message.content or ""
    assert "You said:" in content and "hello there" in content
    assert "be brief" in content, "a new session gets the earlier messages as context"
    assert answer.choices[0].finish_reason == "stop" and answer.object == "chat.completion"
    info = pagi(answer)
    assert info["session_id"] == session and info["status"] == "completed"
    assert answer.id == f"chatcmpl-{info['job_id']}"
    assert answer.usage is not None and answer.usage.completion_tokens > 0
    # The same conversation again: the same session, PAGI's own history (the client's is not resent).
    again = await alice.chat.completions.with_raw_response.create(
        model=DEFAULT_TWIN_ID,
        messages=[
            {"role": "user", "content": "hello there"},
            {"role": "assistant", "content": content},
            {"role": "user", "content": "second"},
        ],
        user="end-user-1",
        metadata={"conversation_id": "conv-1"},
    )
    assert again.headers[SESSION] == session
    assert "You said: second" in (again.parse().choices[0].message.content or "")
    # It is the console's session: its history shows both messages.
    history = await openai_stack.http.get(f"/v1/sessions/{session}/history", headers=openai_stack.auth("alice"))
    assert history.status == 200 and "second" in await history.text()
    # max_tokens bounds what is served.
    cut = await alice.chat.completions.create(
        model=DEFAULT_TWIN_ID, messages=[{"role": "user", "content": "hello"}], max_tokens=3
    )
    assert cut.choices[0].finish_reason == "length" and len(cut.choices[0].message.content or "") <= 12


async def test_a_streamed_completion_ends_with_a_finish_reason_and_usage(openai_stack: OpenAIStack) -> None:
    alice = openai_stack.client("alice")
    stream = await alice.chat.completions.create(
        model=DEFAULT_TWIN_ID,
        messages=[{"role": "user", "content": "hello streamed"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "You said: hello streamed" in text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0 and not chunks[-1].choices


async def test_a_streamed_approval_keeps_the_stream_open_until_approved(openai_stack: OpenAIStack) -> None:
    alice = openai_stack.client("alice")
    session = "oai-test-stream-approval"
    stream = await alice.chat.completions.create(
        model=DEFAULT_TWIN_ID,
        messages=[{"role": "user", "content": NEEDS_APPROVAL}],
        stream=True,
        extra_headers={SESSION: session},
    )
    chunks = aiter(stream)
    seen = ""
    while "waiting for approval" not in seen:
        chunk = await asyncio.wait_for(anext(chunks), 30)
        seen += "".join(c.delta.content or "" for c in chunk.choices)
    match = openai_stack_pending(seen)
    assert f"approve.decision.{session}" in seen and f"POST /v1/approvals/{match}" in seen
    # A human may take longer than the chat timeout: the approval's expiry bounds the wait, not that.
    # (Time passing is the condition here: nothing announces it.)
    waited_from = time.monotonic()
    await eventually(lambda: time.monotonic() - waited_from > CHAT_TIMEOUT_S + 1, timeout=CHAT_TIMEOUT_S + 5)
    # Approved from another connection while the stream is open; the stream goes on with the result.
    assert await openai_stack.decide(match, "alice", approved=True) == 202
    rest = [chunk async for chunk in chunks]
    tail = "".join(c.delta.content or "" for chunk in rest for c in chunk.choices)
    assert tail.strip(), "the result streams after the decision"
    assert [c.finish_reason for chunk in rest for c in chunk.choices if c.finish_reason] == ["stop"]
    assert rest[-1].model_extra and rest[-1].model_extra["pagi"]["status"] == "completed"


async def test_a_whole_completion_answers_the_approval_then_the_outcome(openai_stack: OpenAIStack) -> None:
    alice = openai_stack.client("alice")
    session = "oai-test-whole-approval"
    first = await alice.chat.completions.create(
        model=DEFAULT_TWIN_ID, messages=[{"role": "user", "content": NEEDS_APPROVAL}], extra_headers={SESSION: session}
    )
    info = pagi(first)
    pending = info["pending_approval"]
    assert info["status"] == "awaiting_approval" and first.choices[0].finish_reason == "stop"
    assert pending["approval_id"] in (first.choices[0].message.content or "")
    # Asked again while it waits: no new job, the same approval.
    waiting = await alice.chat.completions.create(
        model=DEFAULT_TWIN_ID, messages=[{"role": "user", "content": "and now?"}], extra_headers={SESSION: session}
    )
    assert pagi(waiting)["job_id"] == info["job_id"] and pagi(waiting)["resumed"] is True
    assert "not sent" in (waiting.choices[0].message.content or "")
    # A message is never an approval; bob may not decide it; alice approves.
    assert await openai_stack.decide(pending["approval_id"], "bob", approved=True) == 404
    assert await openai_stack.decide(pending["approval_id"], "alice", approved=True) == 202

    async def finished() -> bool:
        job = await openai_stack.http.get(f"/v1/jobs/{info['job_id']}", headers=openai_stack.auth("alice"))
        return job.status == 200 and (await job.json()).get("status") == "completed"

    await eventually(finished, timeout=30, interval=0.2, what="the approved job finished")
    outcome = await alice.chat.completions.create(
        model=DEFAULT_TWIN_ID,
        messages=[
            {"role": "user", "content": NEEDS_APPROVAL},
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": "done?"},
        ],
        extra_headers={SESSION: session},
    )
    assert pagi(outcome)["job_id"] == info["job_id"] and pagi(outcome)["status"] == "completed"
    assert (outcome.choices[0].message.content or "").strip()
    # After the outcome, the session takes new messages again.
    fresh = await alice.chat.completions.create(
        model=DEFAULT_TWIN_ID, messages=[{"role": "user", "content": "hello anew"}], extra_headers={SESSION: session}
    )
    assert pagi(fresh)["job_id"] != info["job_id"] and "You said: hello anew" in (
        fresh.choices[0].message.content or ""
    )


async def test_a_denied_approval_streams_the_refusal(openai_stack: OpenAIStack) -> None:
    alice = openai_stack.client("alice")
    stream = await alice.chat.completions.create(
        model=DEFAULT_TWIN_ID, messages=[{"role": "user", "content": NEEDS_APPROVAL}], stream=True
    )
    chunks = aiter(stream)
    seen = ""
    while "waiting for approval" not in seen:
        chunk = await asyncio.wait_for(anext(chunks), 30)
        seen += "".join(c.delta.content or "" for c in chunk.choices)
    assert await openai_stack.decide(openai_stack_pending(seen), "alice", approved=False) == 202
    rest = [chunk async for chunk in chunks]
    tail = "".join(c.delta.content or "" for chunk in rest for c in chunk.choices)
    assert "denied" in tail.lower() or "not approved" in tail.lower(), tail
    assert rest[-1].model_extra and rest[-1].model_extra["pagi"]["status"] in ("completed", "failed")


async def test_refusals_come_in_openais_shape_and_nothing_else_is_affected(openai_stack: OpenAIStack) -> None:
    alice = openai_stack.client("alice")
    with pytest.raises(openai.NotFoundError) as missing:
        await alice.chat.completions.create(model="bob-secret", messages=[{"role": "user", "content": "hi"}])
    assert missing.value.code == "model_not_found" and missing.value.param == "model"
    await hello_works(alice)

    with pytest.raises(openai.AuthenticationError) as bad_key:
        await openai_stack.client("alice", api_key="wrong-key-0123456789abcdef").models.list()
    assert bad_key.value.type == "authentication_error"
    await hello_works(alice)

    malformed: list[dict[str, Any]] = [
        {"messages": [{"role": "user", "content": "no model"}]},
        {"model": DEFAULT_TWIN_ID, "messages": []},
        {"model": DEFAULT_TWIN_ID, "messages": [{"role": "wizard", "content": "x"}]},
        {"model": DEFAULT_TWIN_ID, "messages": [{"role": "assistant", "content": "last is not the user's"}]},
        {"model": DEFAULT_TWIN_ID, "messages": [{"role": "user", "content": "x" * 40_000}]},
        {"model": DEFAULT_TWIN_ID, "messages": [{"role": "user", "content": "hi"}], "temperature": 1.9},
        {"model": DEFAULT_TWIN_ID, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**9},
        {"model": DEFAULT_TWIN_ID, "messages": [{"role": "user", "content": "hi"}], "n": 2},
    ]
    for body in malformed:
        with pytest.raises(openai.BadRequestError) as bad:
            await alice.post("/chat/completions", body=body, cast_to=dict)
        assert bad.value.type == "invalid_request_error" and isinstance(bad.value.message, str), body
    raw = await openai_stack.http.post(
        "/v1/chat/completions",
        data=b"{not json",
        headers={**openai_stack.auth("alice"), "Content-Type": "application/json"},
    )
    assert raw.status == 400 and set((await raw.json())["error"]) == {"message", "type", "code", "param"}
    await hello_works(alice)

    first = await alice.chat.completions.with_raw_response.create(
        model=DEFAULT_TWIN_ID, messages=[{"role": "user", "content": "mine"}]
    )
    alices_session = first.headers[SESSION]
    with pytest.raises(openai.PermissionDeniedError):
        await openai_stack.client("bob").chat.completions.create(
            model=DEFAULT_TWIN_ID,
            messages=[{"role": "user", "content": "hers?"}],
            extra_headers={SESSION: alices_session},
        )
    await hello_works(alice)
    await hello_works(openai_stack.client("bob"))


def openai_stack_pending(text: str) -> str:
    """The approval id in a pending-approval text."""
    match = PENDING_RE.search(text)
    assert match is not None, text
    return match.group(1)
