"""Memory under review, against the real bus, planner and memory worker: a twin's proposed memory is a
person's decision (who may edit it first), "always" is per namespace, and answers cite what they used."""

from __future__ import annotations

import hashlib
from typing import Any

from bus_schemas import ActionRemember, ActionStoreDocument, ChatIn, Envelope
from bus_schemas.approval import ApprovalChanges
from bus_schemas.documents import DocumentRef, document_id_of
from bus_schemas.memory import MEMORY_API_SUBJECT, MemoryApiReply, MemoryApiRequest
from bus_schemas.streams import DOCUMENTS
from bus_schemas.subjects import APPROVE_REQUEST, JOB_LOG, MEMORY_INGEST, MEMORY_STORE, PLAN_ACTION, one_session
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus
from planner.__main__ import PlannerService
from records.approvals import ApprovalStore
from records.twins import TwinStore

from ..support import EventCollector, ObserveFactory, eventually
from .conftest import MakeTwin, Say
from .test_hitl import decide, wait_answer


async def search(bus: Bus, query: str, namespace: str = "default") -> list[str]:
    ask = MemoryApiRequest(op="search", query=query, namespace=namespace, k=5)
    reply = await bus.request(MEMORY_API_SUBJECT, ask, MemoryApiReply, timeout_s=5)
    return [hit.text for hit in reply.results]


async def approval(events: EventCollector, count: int = 1) -> Any:
    requests = await events.wait_count(APPROVE_REQUEST, count)
    return requests[count - 1].body


async def test_a_proposed_memory_is_stored_only_as_the_person_edited_and_approved_it(
    bus: Bus, full_planner: PlannerService, memory_worker: MemoryWorker, observe: ObserveFactory, session_id: str,
    say: Say,
) -> None:  # fmt: skip
    events = await observe(one_session(session_id))
    await say("/remember the staging VPN gateway is 10.0.3.17")
    asked = await approval(events)
    assert asked.kind == "remember" and asked.action.text == "the staging VPN gateway is 10.0.3.17"
    assert "remember in default/mind" in asked.summary
    assert events.of_type(MEMORY_STORE) == []  # nothing is written before the decision

    edited = "the staging VPN gateway is 10.0.3.71 (moved in May)"
    await decide(bus, session_id, asked.approval_id, changes=ApprovalChanges(text=edited, kb="domain"))
    answer = await wait_answer(events)
    assert answer.body.status == "completed" and "Remembered in default/domain" in answer.body.content
    [store] = events.of_type(MEMORY_STORE)
    assert (store.body.text, store.body.kb, store.body.approval_id) == (edited, "domain", asked.approval_id)
    assert await eventually(lambda: search(bus, "staging VPN gateway"), what="the edited memory") == [edited]
    ask = MemoryApiRequest(op="search", query="staging VPN gateway", namespace="default", k=1)
    [hit] = (await bus.request(MEMORY_API_SUBJECT, ask, MemoryApiReply, timeout_s=5)).results
    assert (hit.session_id, hit.source) == (session_id, f"session {session_id}")  # where it was said
    shown = MemoryApiRequest(op="get", id=hit.id)
    memory = (await bus.request(MEMORY_API_SUBJECT, shown, MemoryApiReply, timeout_s=5)).memory
    assert memory is not None and memory.metadata["approved_by"] == "alice"
    assert memory.metadata["approval_id"] == asked.approval_id and memory.metadata["kind"] == "remembered"
    record = await (await ApprovalStore.open(bus)).get(session_id, asked.approval_id)
    # The record keeps what was approved.
    assert record is not None and isinstance(record.action, ActionRemember) and record.action.text == edited
    assert any("changed: kb, text" in e.body.message for e in events.of_type(JOB_LOG))


async def test_always_allow_memories_is_per_namespace_and_off_by_default(
    bus: Bus, full_planner: PlannerService, memory_worker: MemoryWorker, observe: ObserveFactory, session_id: str,
    say: Say, make_twin: MakeTwin, twins: TwinStore,
) -> None:  # fmt: skip
    twin_id = await make_twin()
    twin = await twins.get(twin_id)
    assert twin is not None and twin.always_remember == []
    events = await observe(one_session(session_id))
    await say("/remember backups run at 02:00 UTC", twin_id)
    first = await approval(events)
    await decide(bus, session_id, first.approval_id, always=True)
    await wait_answer(events)
    assert await eventually(lambda: twins.get(twin_id), what="the twin") is not None
    stored = await twins.get(twin_id)
    assert stored is not None and stored.always_remember == ["default"]

    await say("/remember restores are tested on Fridays", twin_id)
    second = await wait_answer(events, 2)
    assert second.body.status == "completed" and "Remembered in default/mind" in second.body.content
    assert len(events.of_type(APPROVE_REQUEST)) == 1  # the second one was not asked


async def test_changes_a_kind_does_not_take_leave_the_approval_pending(
    bus: Bus, full_planner: PlannerService, memory_worker: MemoryWorker, observe: ObserveFactory, session_id: str,
    say: Say,
) -> None:  # fmt: skip
    events = await observe(one_session(session_id))
    await say("/memory VPN gateway")
    asked = await approval(events)
    await decide(bus, session_id, asked.approval_id, changes=ApprovalChanges(text="something else"))
    [refused] = await events.wait_for_count(lambda e: e.type == JOB_LOG and e.body.level == "error", 1)
    assert "not decided" in refused.body.message and "cannot be changed" in refused.body.message
    pending = await (await ApprovalStore.open(bus)).pending(session_id)
    assert [p.approval_id for p in pending] == [asked.approval_id]

    await decide(bus, session_id, asked.approval_id, approved=False, changes=ApprovalChanges(namespace="ops"))
    await events.wait_for_count(lambda e: e.type == JOB_LOG and e.body.level == "error", 2)
    await decide(bus, session_id, asked.approval_id)  # plain approval still works
    assert (await wait_answer(events)).body.status == "completed"


async def test_an_answer_cites_the_memories_its_search_used(
    bus: Bus, full_planner: PlannerService, memory_worker: MemoryWorker, observe: ObserveFactory, session_id: str,
    say: Say,
) -> None:  # fmt: skip
    events = await observe(one_session(session_id))
    await say("/remember the on-call rota lives in the ops wiki under Rotas")
    await decide(bus, session_id, (await approval(events)).approval_id)
    await wait_answer(events)
    await say("search for on-call rota")
    await decide(bus, session_id, (await approval(events, 2)).approval_id)
    answer = await wait_answer(events, 2)
    cited = answer.body.source_memories
    assert [c.text for c in cited] == ["the on-call rota lives in the ops wiki under Rotas"]
    assert (cited[0].namespace, cited[0].kb) == ("default", "mind") and cited[0].score > 0
    # Only a memory the job found is cited: the first job's answer cites nothing.
    first = await wait_answer(events, 1)
    assert first.body.source_memories == []


async def attach(bus: Bus, data: bytes, filename: str) -> DocumentRef:
    digest = hashlib.sha256(data).hexdigest()
    await (await bus.object_store(DOCUMENTS)).put(digest, data)
    return DocumentRef(document_id=document_id_of(digest), digest=digest, filename=filename, size=len(data))


async def send(bus: Bus, session_id: str, message: str, *files: DocumentRef) -> None:
    body = ChatIn(message=message, user_id="tester", attachments=list(files))
    await bus.publish(Envelope[ChatIn](type="chat.in", session_id=session_id, body=body))


async def test_an_attached_file_is_offered_to_the_twin_and_stored_nowhere(
    bus: Bus, full_planner: PlannerService, memory_worker: MemoryWorker, observe: ObserveFactory, session_id: str,
) -> None:  # fmt: skip
    events = await observe(one_session(session_id))
    notes = await attach(bus, b"# Rota\n\nThe pager rotates every Monday at 09:00.\n", "rota.md")
    await send(bus, session_id, "what does this file say?", notes)
    answer = await wait_answer(events)
    assert "Read rota.md" in answer.body.content and "rotates every Monday at 09:00" in answer.body.content
    assert [e.body.action.action_type for e in events.of_type(PLAN_ACTION)] == ["ActionReadDocument", "ActionResponse"]
    assert events.of_type(APPROVE_REQUEST) == [] and events.of_type(MEMORY_INGEST) == []
    assert await search(bus, "pager rotates Monday") == []


async def test_an_ingest_asks_shows_what_it_found_and_stores_where_the_person_moved_it(
    bus: Bus, full_planner: PlannerService, memory_worker: MemoryWorker, observe: ObserveFactory, session_id: str,
) -> None:  # fmt: skip
    events = await observe(one_session(session_id))
    text = "# Backups\n\nNightly backups of db-prod-03 go to the vault at 02:00 UTC.\n"
    doc = await attach(bus, text.encode(), "backups.md")
    await send(bus, session_id, "/ingest default/domain", doc)
    asked = await approval(events)
    assert asked.kind == "document" and isinstance(asked.action, ActionStoreDocument)
    assert asked.action.parsed.chunks == 1 and "db-prod-03" in asked.action.parsed.preview[0]
    assert "store backups.md" in asked.summary and "in default/domain" in asked.summary
    assert events.of_type(MEMORY_INGEST) == []  # read, not stored, before the decision

    await decide(bus, session_id, asked.approval_id, changes=ApprovalChanges(namespace="runbooks", kb="body"))
    answer = await wait_answer(events)
    assert answer.body.content == "Stored 1 chunk of backups.md in runbooks/body (1 new, 0 already known)."
    [ingest] = events.of_type(MEMORY_INGEST)
    assert (ingest.body.namespace, ingest.body.kb) == ("runbooks", "body")
    found = await eventually(lambda: search(bus, "db-prod-03 backups", "runbooks"), what="the stored chunk")
    assert "db-prod-03" in found[0]
    assert await search(bus, "db-prod-03 backups") == []  # not in the namespace it was first meant for
