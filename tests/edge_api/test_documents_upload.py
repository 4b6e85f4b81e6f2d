"""Documents in through the edge (edge/api/documents_api.py, edge/uploads.py), against the real stack:
an upload is stored once by its digest, recorded for its uploader and starts the `/ingest` job with
the document attached; oversize, a format PAGI does not read, a malformed form, a cross-origin page
and another user's session or namespace are refused with nothing stored; a chat message (HTTP,
WebSocket, the OpenAI door through the official SDK) attaches only its sender's own uploads; and an
approval's changes reach the decision event, checked.

What the memory worker and the planner then do with the document is theirs (and the whole flow's
end-to-end test); here the edge's part is asserted on the bus, in the object store and in KV."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import aiohttp
import openai
from openai import AsyncOpenAI

from bus_schemas import ChatIn, Envelope
from bus_schemas import streams as st
from bus_schemas.actions import Action, ActionRemember, ActionStoreDocument, ActionTool
from bus_schemas.approval import ApprovalRecord
from bus_schemas.documents import DocumentRef, ParsedDocument, document_id_of
from bus_schemas.streams import SESSIONS
from bus_schemas.subjects import APPROVE_DECISION, CHAT_IN
from records.approvals import ApprovalStore
from records.sessions import SessionOwners
from records.twins import DEFAULT_TWIN_ID

from ..support import VERBOSE, EventCollector, ObserveFactory
from .documents_stack import BODY_LIMIT, KEYS, UPLOAD_LIMIT, DocumentsStack, documents_stack

__all__ = ["documents_stack"]

TEXT = b"# Runbook\n\nRestart the web tier with `systemctl restart web` when 502s pass 1%.\n"


def chat_ins_of(events: EventCollector, predicate: Callable[[ChatIn], bool]) -> list[Envelope[Any]]:
    return [e for e in events.of_type(CHAT_IN) if isinstance(e.body, ChatIn) and predicate(e.body)]


def of_job(job_id: str) -> Callable[[Envelope[Any]], bool]:
    return lambda event: event.job_id == job_id


async def nothing_published(events: EventCollector, document_id: str) -> None:
    """No job was started for the document (checked after the refusal was answered)."""
    await asyncio.sleep(0)  # the observer's callbacks run on this loop: let pending ones run
    assert not chat_ins_of(events, lambda b: any(a.document_id == document_id for a in b.attachments))


async def test_an_upload_is_stored_recorded_and_starts_its_ingest_job(
    documents_stack: DocumentsStack, observe: ObserveFactory
) -> None:
    chat_in = await observe("chat.in.>")
    response = await documents_stack.upload("alice", TEXT, "runbook.md", namespace="user-alice", kb="domain")
    assert response.status == 201, await response.text()
    answer = await response.json()
    digest = hashlib.sha256(TEXT).hexdigest()
    ref = DocumentRef.model_validate(answer["document"])
    assert ref == DocumentRef(
        document_id=document_id_of(digest),
        digest=digest,
        filename="runbook.md",
        size=len(TEXT),
        content_type="text/markdown",
    )
    assert answer["duplicate"] is False
    assert answer["status"] == "awaiting_approval", answer
    approval = await (await ApprovalStore.open(documents_stack.bus)).get(answer["session_id"], answer["approval_id"])
    assert approval is not None and (approval.kind, approval.job_id) == ("document", answer["job_id"])
    assert await documents_stack.stored(TEXT) == TEXT
    assert await documents_stack.upload_record("alice", ref.document_id) == ref
    session_id, job_id = answer["session_id"], answer["job_id"]
    owners = SessionOwners(await documents_stack.bus.kv(SESSIONS))
    assert await owners.owner(session_id) == "alice", "a new session, the uploader's"
    events = await chat_in.wait_for_count(lambda e: e.job_id == job_id, 1)
    event = events[0]
    assert event.session_id == session_id
    body: ChatIn = event.body
    assert body.message == "/ingest user-alice/domain"
    assert body.attachments == [ref]
    assert (body.user_id, body.caller_role, body.recorded_as) == ("alice", "member", "alice")
    # A member who names no namespace gets their own; an admin's is the twin's (the planner's to pick).
    for user, message in (("alice", "/ingest user-alice"), ("root", "/ingest")):
        unnamed = await documents_stack.upload(user, TEXT + user.encode(), "unnamed.md")
        job: str = (await unnamed.json())["job_id"]
        sent = await chat_in.wait_for_count(of_job(job), 1)
        assert sent[0].body.message == message


async def test_the_same_file_twice_is_a_duplicate_stored_once(documents_stack: DocumentsStack) -> None:
    first = await documents_stack.upload("alice", TEXT + b"twice", "twice.md")
    assert first.status == 201, await first.text()
    assert (await first.json())["duplicate"] is False
    messages = await documents_stack.object_messages()
    again = await documents_stack.upload("alice", TEXT + b"twice", "again.md")
    assert again.status == 201
    answer = await again.json()
    assert answer["duplicate"] is True
    assert answer["document"]["document_id"] == (await first.json())["document"]["document_id"]
    assert answer["document"]["filename"] == "again.md", "the ref carries the name it was sent with"
    assert await documents_stack.object_messages() == messages, "not stored again"
    # Another user's upload of the same bytes is stored once too, and is not told anyone had it.
    bobs = await documents_stack.upload("bob", TEXT + b"twice", "bobs.md")
    assert bobs.status == 201
    assert (await bobs.json())["duplicate"] is False
    assert await documents_stack.object_messages() == messages


async def test_an_oversize_upload_is_413_and_nothing_is_stored(
    documents_stack: DocumentsStack, observe: ObserveFactory
) -> None:
    chat_in = await observe("chat.in.>")
    big = b"x" * (UPLOAD_LIMIT + 1)
    messages = await documents_stack.object_messages()
    declared = await documents_stack.upload("alice", big, "big.txt")
    assert declared.status == 413, await declared.text()
    assert "PAGI_MAX_UPLOAD_BYTES" in (await declared.json())["error"]

    async def chunked() -> Any:  # no Content-Length: the limit is counted as the bytes arrive
        boundary = "pagiboundary"
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'.encode()
        for start in range(0, len(big), 16 * 1024):
            yield big[start : start + 16 * 1024]
        yield f"\r\n--{boundary}--\r\n".encode()

    streamed = await documents_stack.http.post(
        "/v1/documents",
        data=chunked(),
        headers={**documents_stack.auth("alice"), "Content-Type": "multipart/form-data; boundary=pagiboundary"},
    )
    assert streamed.status == 413, await streamed.text()
    assert await documents_stack.object_messages() == messages
    assert await documents_stack.stored(big) is None
    digest = hashlib.sha256(big).hexdigest()
    assert await documents_stack.upload_record("alice", document_id_of(digest)) is None
    await nothing_published(chat_in, document_id_of(digest))
    # The limit is the upload route's own: a file over every other route's body limit is fine under it.
    exactly = await documents_stack.upload("alice", b"y" * UPLOAD_LIMIT, "limit.txt")
    assert exactly.status == 201, await exactly.text()
    assert UPLOAD_LIMIT > BODY_LIMIT
    too_big_json = await documents_stack.chat("alice", message="x" * BODY_LIMIT, session_id="t-json-limit")
    assert too_big_json.status == 413, "other routes keep their own limit"


async def test_a_format_pagi_does_not_read_is_400_naming_the_accepted_ones(documents_stack: DocumentsStack) -> None:
    messages = await documents_stack.object_messages()
    for name in ("tool.exe", "archive.zip", "noextension"):
        response = await documents_stack.upload("alice", b"MZ\x90\x00", name)
        assert response.status == 400, name
        problem = (await response.json())["error"]
        assert ".pdf" in problem and ".docx" in problem and ".md" in problem, problem
    assert await documents_stack.object_messages() == messages


async def test_a_malformed_form_is_a_clear_400(documents_stack: DocumentsStack) -> None:
    auth = documents_stack.auth("alice")
    post = documents_stack.http.post
    cases: list[tuple[str, Awaitable[aiohttp.ClientResponse]]] = [
        (
            "no boundary",
            post("/v1/documents", data=b"--x\r\n", headers={**auth, "Content-Type": "multipart/form-data"}),
        ),
        (
            "not multipart",
            post("/v1/documents", data=b"hello", headers={**auth, "Content-Type": "text/plain"}),
        ),
        (
            "garbage after the boundary",
            post(
                "/v1/documents",
                data=b"--b\r\nthis is not a part header at all\x00\r\n",
                headers={**auth, "Content-Type": "multipart/form-data; boundary=b"},
            ),
        ),
    ]
    for what, sent in cases:
        response = await sent
        assert response.status == 400, (what, response.status, await response.text())
        assert (await response.json())["error"], what
    no_file = aiohttp.FormData()
    no_file.add_field("namespace", "user-alice")
    response = await post("/v1/documents", data=no_file, headers=auth)
    assert response.status == 400
    assert "`file`" in (await response.json())["error"]
    unknown = aiohttp.FormData()
    unknown.add_field("owner", "bob")
    unknown.add_field("file", b"x", filename="a.txt")
    response = await post("/v1/documents", data=unknown, headers=auth)
    assert response.status == 400
    assert "owner" in (await response.json())["error"]
    # And the edge still takes a good one.
    good = await documents_stack.upload("alice", b"fine", "fine.txt")
    assert good.status == 201


async def test_a_cross_origin_page_cannot_upload(documents_stack: DocumentsStack) -> None:
    messages = await documents_stack.object_messages()
    response = await documents_stack.upload(
        "alice", b"from a web page", "page.txt", headers={"Origin": "https://evil.example"}
    )
    assert response.status == 403
    assert "Origin" in (await response.json())["error"]
    assert await documents_stack.object_messages() == messages
    assert await documents_stack.stored(b"from a web page") is None


async def test_another_users_session_or_a_shared_namespace_is_refused(documents_stack: DocumentsStack) -> None:
    bobs = await documents_stack.upload("bob", b"bob's own", "bob.txt")
    assert bobs.status == 201
    session_id = (await bobs.json())["session_id"]
    messages = await documents_stack.object_messages()
    into_bobs = await documents_stack.upload("alice", b"alice in bob's", "a.txt", session_id=session_id)
    assert into_bobs.status == 403
    shared = await documents_stack.upload("alice", b"alice shared", "a.txt", namespace="default")
    assert shared.status == 403
    assert "only an admin" in (await shared.json())["error"]
    others = await documents_stack.upload("alice", b"alice into bob's", "a.txt", namespace="user-bob")
    assert others.status == 404
    bad_kb = await documents_stack.upload("alice", b"alice kb", "a.txt", namespace="user-alice", kb="nonsense")
    assert bad_kb.status == 400
    assert await documents_stack.object_messages() == messages, "nothing refused was stored"
    # An admin may put a document into a shared namespace; a session of alice's takes her upload.
    root = await documents_stack.upload("root", b"for everyone", "all.txt", namespace="default")
    assert root.status == 201, await root.text()
    mine = await documents_stack.upload("alice", b"first", "1.txt")
    again = await documents_stack.upload("alice", b"second", "2.txt", session_id=(await mine.json())["session_id"])
    assert again.status == 201
    assert (await again.json())["session_id"] == (await mine.json())["session_id"]


async def test_a_chat_message_attaches_only_the_senders_own_uploads(
    documents_stack: DocumentsStack, observe: ObserveFactory, session_id: str
) -> None:
    chat_in = await observe("chat.in.>")
    uploaded = await documents_stack.upload("alice", b"alice's notes", "notes.txt")
    ref = DocumentRef.model_validate((await uploaded.json())["document"])
    # Bob names alice's document: the same answer as a document that does not exist.
    stolen = await documents_stack.chat(
        "bob", message="summarise", session_id=f"{session_id}-b", attachments=[ref.document_id]
    )
    assert stolen.status == 400
    assert ref.document_id in (await stolen.json())["error"]
    missing = await documents_stack.chat(
        "bob", message="x", session_id=f"{session_id}-b", attachments=["doc-" + "0" * 32]
    )
    assert missing.status == 400
    assert not chat_ins_of(chat_in, lambda b: b.user_id == "bob")
    # Alice's own attachment rides on her message.
    mine = await documents_stack.chat(
        "alice", message="summarise", session_id=session_id, attachments=[ref.document_id]
    )
    assert mine.status == 200, await mine.text()
    sent = await chat_in.wait_for_count(lambda e: e.session_id == session_id, 1)
    assert sent[0].body.attachments == [ref]

    # The WebSocket: bob's socket naming alice's document gets an error frame, and nothing is sent.
    ws_session = f"{session_id}-w"
    async with documents_stack.http.ws_connect(
        "/ws/chat/bob", protocols=VERBOSE, headers=documents_stack.auth("bob")
    ) as ws:
        await ws.send_json(
            {"session_id": ws_session, "user_id": "bob", "message": "read", "attachments": [ref.document_id]}
        )
        frame = await ws.receive_json(timeout=10)
        while frame.get("status") != "error":
            frame = await ws.receive_json(timeout=10)
        assert ref.document_id in frame["details"]
    assert not chat_ins_of(chat_in, lambda b: b.user_id == "bob")
    async with documents_stack.http.ws_connect(
        "/ws/chat/alice", protocols=VERBOSE, headers=documents_stack.auth("alice")
    ) as ws:
        await ws.send_json(
            {"session_id": f"{ws_session}-a", "user_id": "alice", "message": "read", "attachments": [ref.document_id]}
        )
        sent = await chat_in.wait_for_count(lambda e: e.session_id == f"{ws_session}-a", 1)
    assert sent[0].body.attachments == [ref]


async def test_the_openai_door_uploads_and_attaches_a_file_part(
    documents_stack: DocumentsStack, observe: ObserveFactory
) -> None:
    chat_in = await observe("chat.in.>")
    client = AsyncOpenAI(
        api_key=KEYS["alice"], base_url=str(documents_stack.http.make_url("/v1")), max_retries=0, timeout=60
    )
    data = b"name,role\nada,engineer\n"
    file_data = "data:text/csv;base64," + base64.b64encode(data).decode()
    raw = await client.chat.completions.with_raw_response.create(
        model=DEFAULT_TWIN_ID,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "who is in this file?"},
                    {"type": "file", "file": {"file_data": file_data, "filename": "team.csv"}},
                ],
            }
        ],
    )
    session_id = raw.headers["X-PAGI-Session"]
    sent = await chat_in.wait_for_count(lambda e: e.session_id == session_id, 1)
    body: ChatIn = sent[0].body
    digest = hashlib.sha256(data).hexdigest()
    assert body.message == "who is in this file?"
    assert [a.model_dump() for a in body.attachments] == [
        DocumentRef(
            document_id=document_id_of(digest),
            digest=digest,
            filename="team.csv",
            size=len(data),
            content_type="text/csv",
        ).model_dump()
    ]
    assert await documents_stack.stored(data) == data
    assert await documents_stack.upload_record("alice", document_id_of(digest)) is not None
    # A file_id names an earlier upload of the caller's; another user's is refused as missing.
    again = await client.chat.completions.with_raw_response.create(
        model=DEFAULT_TWIN_ID,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "and now?"},
                    {"type": "file", "file": {"file_id": document_id_of(digest)}},
                ],
            }
        ],
    )
    again_session = again.headers["X-PAGI-Session"]
    resent = await chat_in.wait_for_count(lambda e: e.session_id == again_session, 1)
    assert [a.document_id for a in resent[0].body.attachments] == [document_id_of(digest)]
    bob = AsyncOpenAI(api_key=KEYS["bob"], base_url=str(documents_stack.http.make_url("/v1")), max_retries=0)
    try:
        await bob.chat.completions.create(
            model=DEFAULT_TWIN_ID,
            messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": document_id_of(digest)}}]}],
        )
    except openai.BadRequestError as refused:
        assert document_id_of(digest) in str(refused)
    else:
        raise AssertionError("bob attached alice's document")
    # A file part that is not a file PAGI reads is the SDK's BadRequestError, naming the part.
    try:
        await client.chat.completions.create(
            model=DEFAULT_TWIN_ID,
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "file", "file": {"file_data": file_data, "filename": "team.exe"}}],
                }
            ],
        )
    except openai.BadRequestError as refused:
        assert ".pdf" in str(refused)
        assert refused.param == "messages.0.content.0.file"
    else:
        raise AssertionError("a .exe file part was accepted")


async def _document_approval(
    stack: DocumentsStack,
    session_id: str,
    owner: str,
    kind: Literal["document", "tool", "remember"] = "document",
    namespace: str | None = None,
) -> str:
    """A pending approval as the planner leaves it in KV (the planner's document step is the lead's)."""
    owners = SessionOwners(await stack.bus.kv(SESSIONS))
    assert await owners.claim(session_id, owner) == owner
    ref = DocumentRef(document_id=document_id_of("a" * 64), digest="a" * 64, filename="r.pdf", size=10)
    parsed = ParsedDocument(
        document_id=ref.document_id, filename="r.pdf", size=10, format="pdf", chunks=1, characters=9
    )
    actions: dict[str, Action] = {
        "document": ActionStoreDocument(document=ref, parsed=parsed, namespace=namespace or f"user-{owner}"),
        "tool": ActionTool(tool_name="list_files"),
        "remember": ActionRemember(text="the VPN moved", namespace=namespace),
    }
    action = actions[kind]
    now = datetime.now(UTC)
    approval_id = f"ap-{session_id}"[:64]
    record = ApprovalRecord(
        approval_id=approval_id, session_id=session_id, job_id=f"job-{session_id}"[:64], twin_id=DEFAULT_TWIN_ID,
        step=1, kind=kind, action=action, summary="store r.pdf", reason="a document", policy="document",
        created_at=now, expires_at=now + timedelta(minutes=5),
    )  # fmt: skip
    await (await ApprovalStore.open(stack.bus)).create(record)
    return approval_id


async def test_an_approvals_changes_reach_the_decision_checked(
    documents_stack: DocumentsStack, observe: ObserveFactory, session_id: str
) -> None:
    decisions = await observe(f"{APPROVE_DECISION}.>")
    approval_id = await _document_approval(documents_stack, session_id, "alice")
    post = documents_stack.http.post
    auth = documents_stack.auth("alice")

    async def decide(body: dict[str, Any]) -> aiohttp.ClientResponse:
        return await post(f"/v1/approvals/{approval_id}", json=body, headers=auth)

    denied_with_changes = await decide({"approved": False, "changes": {"kb": "mind"}})
    assert denied_with_changes.status == 400
    shared = await decide({"approved": True, "changes": {"namespace": "default"}})
    assert shared.status == 403, await shared.text()
    text_on_a_document = await decide({"approved": True, "changes": {"text": "other words"}})
    assert text_on_a_document.status == 400
    bad = await decide({"approved": True, "changes": {"kb": "nonsense"}})
    assert bad.status == 400
    # Approving as asked stores into the namespace asked: one alice may not write is refused too.
    shared_asked = await _document_approval(documents_stack, f"{session_id}-s", "alice", namespace="default")
    refused = await post(f"/v1/approvals/{shared_asked}", json={"approved": True}, headers=auth)
    assert refused.status == 403 and "changes.namespace" in (await refused.json())["error"]
    moved = await post(
        f"/v1/approvals/{shared_asked}", json={"approved": True, "changes": {"namespace": "user-alice"}}, headers=auth
    )
    assert moved.status == 202, await moved.text()
    denied = await post(f"/v1/approvals/{approval_id}", json={"approved": False}, headers=documents_stack.auth("bob"))
    assert denied.status == 404, "bob cannot see alice's approval"
    await decisions.wait_count(APPROVE_DECISION, 1)
    assert [e.body.approval_id for e in decisions.of_type(APPROVE_DECISION)] == [shared_asked]
    accepted = await decide({"approved": True, "changes": {"namespace": "user-alice", "kb": "mind"}})
    assert accepted.status == 202, await accepted.text()
    published = await decisions.wait_count(APPROVE_DECISION, 2)
    body = published[1].body
    assert (body.approval_id, body.approved, body.decided_by) == (approval_id, True, "alice")
    assert body.changes is not None and (body.changes.namespace, body.changes.kb, body.changes.text) == (
        "user-alice",
        "mind",
        None,
    )
    # A proposed memory left to its twin's namespace (the default twin's: shared) is stored as the
    # decider too: a member may not approve it there, only into a namespace of their own.
    remember = await _document_approval(documents_stack, f"{session_id}-r", "alice", kind="remember")
    there = await post(f"/v1/approvals/{remember}", json={"approved": True}, headers=auth)
    assert there.status == 403, await there.text()
    mine = await post(
        f"/v1/approvals/{remember}", json={"approved": True, "changes": {"namespace": "user-alice"}}, headers=auth
    )
    assert mine.status == 202, await mine.text()
    # A tool approval takes no changes.
    tool_approval = await _document_approval(documents_stack, f"{session_id}-t", "alice", kind="tool")
    tool = await post(
        f"/v1/approvals/{tool_approval}", json={"approved": True, "changes": {"kb": "mind"}}, headers=auth
    )
    assert tool.status == 400


async def test_pagi_docs_add_stores_and_starts_the_job_over_the_bus(
    documents_stack: DocumentsStack, observe: ObserveFactory, nats_server: Any, tmp_path: Path, session_id: str
) -> None:
    chat_in = await observe("chat.in.>")
    first, second = tmp_path / "one.md", tmp_path / "two.txt"
    first.write_bytes(b"# One\n\nThe first of two notes.\n")
    second.write_bytes(b"The second note.\n")
    argv = [sys.executable, "-m", "pagi_cli", "docs", "add", str(first), str(second)]
    argv += [
        "--namespace",
        "ops",
        "--kb",
        "body",
        "--session",
        session_id,
        "--wait",
        "5",
        "--nats-url",
        nats_server.url,
    ]
    done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    for path in (first, second):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert document_id_of(digest) in done.stdout
        assert await documents_stack.stored(path.read_bytes()) == path.read_bytes()
    sent = await chat_in.wait_for_count(lambda e: e.session_id == session_id, 2)
    assert [e.body.message for e in sent] == ["/ingest ops/body"] * 2
    assert [e.body.attachments[0].filename for e in sent] == ["one.md", "two.txt"]
    assert all((e.job_id or "?") in done.stdout for e in sent)
    assert done.stdout.count("waits for approval") == 2, done.stdout
    # The operator decides them from the command line too: one into another kb, one denied.
    first_id, second_id = re.findall(r"waits for approval ([A-Za-z0-9_-]+)", done.stdout)
    approve = [sys.executable, "-m", "pagi_cli", "docs", "approve", "--nats-url", nats_server.url]
    approved = await asyncio.to_thread(
        subprocess.run, [*approve, first_id, "--kb", "mind"], capture_output=True, text=True, timeout=120
    )
    assert approved.returncode == 0, (approved.stdout, approved.stderr)
    assert f"approved {first_id}" in approved.stdout and "completed" in approved.stdout, approved.stdout
    denied = await asyncio.to_thread(
        subprocess.run, [*approve, second_id, "--deny"], capture_output=True, text=True, timeout=120
    )
    assert f"denied {second_id}" in denied.stdout, (denied.stdout, denied.stderr)
    again = await asyncio.to_thread(subprocess.run, [*approve, first_id], capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "already approved" in again.stderr, again.stderr
    records = ApprovalStore(await documents_stack.bus.kv(st.APPROVALS))
    decided = await records.get(session_id, first_id)
    assert decided is not None and (decided.state, decided.decided_by) == ("approved", "operator")
    refused = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "pagi_cli", "docs", "add", str(tmp_path / "x.exe")],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and ".pdf" in refused.stderr


async def test_a_file_that_cannot_be_read_is_answered_failed_with_why(documents_stack: DocumentsStack) -> None:
    response = await documents_stack.upload("alice", b"%PDF-1.7\n this is no PDF at all", "broken.pdf")
    assert response.status == 201, await response.text()
    answer = await response.json()
    assert (answer["status"], answer["approval_id"]) == ("failed", None), answer
    assert "broken.pdf" in answer["error"], answer
