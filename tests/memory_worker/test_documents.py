"""Documents over a real bus: memory.parse and memory.ingest answered by the worker's real handlers,
the file in the real `pagi_documents` object store, approvals and jobs in their real KV buckets; and an
approved memory.store. Nothing lands in memory without an approval that allows exactly this request."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bus_schemas import Envelope
from bus_schemas.actions import Action, ActionRemember, ActionStoreDocument
from bus_schemas.approval import ApprovalKind, ApprovalRecord
from bus_schemas.documents import DocumentIngest, DocumentParse, DocumentRef, ParsedDocument, document_id_of
from bus_schemas.jobs import JobRecord
from bus_schemas.memory import MemoryResult, MemoryStore
from bus_schemas.streams import DOCUMENTS
from bus_schemas.subjects import JOB_LOG, MEMORY_INGEST, MEMORY_PARSE, MEMORY_RESULT, MEMORY_STORE, one_session
from memory_worker.__main__ import routes_for
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus, PullConsumer
from pagi.service import start_routes
from records.approvals import ApprovalStore, approve, request_for
from records.jobs import JobStore, finish

from ..support import EventCollector, ObserveFactory
from .test_conversion import docx_bytes, pdf_bytes, zip_bomb

NOW = datetime(2026, 12, 4, tzinfo=UTC)


@pytest.fixture
async def consumers(bus: Bus, worker: MemoryWorker) -> AsyncIterator[list[PullConsumer]]:
    started = await start_routes(bus, routes_for(worker))
    yield started
    for consumer in started:
        await consumer.stop()


async def upload(bus: Bus, data: bytes, filename: str) -> DocumentRef:
    digest = hashlib.sha256(data).hexdigest()
    await (await bus.object_store(DOCUMENTS)).put(digest, data)
    return DocumentRef(document_id=document_id_of(digest), digest=digest, filename=filename, size=len(data))


async def approval(
    bus: Bus, session: str, approval_id: str, kind: ApprovalKind, action: Action, decided: bool = True
) -> str:
    """An approval recorded as the planner records it, approved by alice (or left pending)."""
    record = ApprovalRecord(
        approval_id=approval_id, session_id=session, job_id="job-1", twin_id="default", step=2, kind=kind,
        action=action, summary="store it", reason="a person decides", policy="documents", created_at=NOW,
        expires_at=NOW + timedelta(hours=1),
    )  # fmt: skip
    store = await ApprovalStore.open(bus)
    await store.create(record)
    if decided:
        await store.update(record, approve("alice", NOW, None, f"decision-{approval_id}"))
    return request_for(approval_id)


def store_action(ref: DocumentRef, namespace: str = "ops") -> ActionStoreDocument:
    parsed = ParsedDocument(
        document_id=ref.document_id, filename=ref.filename, size=ref.size, format="x", chunks=1, characters=1
    )
    return ActionStoreDocument(document=ref, parsed=parsed, namespace=namespace)


def parse_event(session: str, ref: DocumentRef, request_id: str = "parse-1") -> Envelope[DocumentParse]:
    body = DocumentParse(request_id=request_id, document=ref, namespace="ops")
    return Envelope[DocumentParse](type=MEMORY_PARSE, session_id=session, job_id="job-1", body=body)


def ingest_event(
    session: str, ref: DocumentRef, request_id: str, approval_id: str, **fields: Any
) -> Envelope[DocumentIngest]:
    body = DocumentIngest(request_id=request_id, approval_id=approval_id, document=ref, **fields)
    return Envelope[DocumentIngest](
        type=MEMORY_INGEST, session_id=session, job_id="job-1", twin_id="default", body=body
    )


async def result_for(events: EventCollector, request_id: str, timeout: float = 30.0) -> MemoryResult:
    [found] = await events.wait_for_count(
        lambda e: e.type == MEMORY_RESULT and e.body.request_id == request_id, 1, timeout
    )
    assert isinstance(found.body, MemoryResult)
    return found.body


def log_lines(events: EventCollector, contains: str) -> list[Any]:
    return [e.body for e in events.of_type(JOB_LOG) if contains in e.body.message]


async def stored(worker: MemoryWorker) -> dict[str, dict[str, int]]:
    return await worker.run(worker.memory.namespaces)


async def test_a_200_page_pdf_is_read_with_progress_then_stored_once_approved(
    bus: Bus, worker: MemoryWorker, consumers: list[PullConsumer], observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    ref = await upload(bus, pdf_bytes(200), "handbook.pdf")
    await bus.publish(parse_event(session_id, ref))
    parsed = (await result_for(events, "parse-1")).document
    assert parsed is not None and (parsed.format, parsed.pages, parsed.filename) == ("pdf", 200, "handbook.pdf")
    assert parsed.chunks >= 200 and len(parsed.preview) == 3 and "Page 1." in parsed.preview[0]
    progress = log_lines(events, "read page")
    assert progress and progress[-1].message == "read page 200/200 of handbook.pdf" and progress[-1].progress == 1.0
    assert [p.progress for p in progress] == sorted(p.progress for p in progress)
    assert await stored(worker) == {}, "reading stores nothing"

    request_id = await approval(bus, session_id, "ap-pdf", "document", store_action(ref))
    await bus.publish(ingest_event(session_id, ref, request_id, "ap-pdf", namespace="ops", kb="domain"))
    done = await result_for(events, request_id)
    assert done.error is None and (done.stored_count, done.new_count) == (parsed.chunks, parsed.chunks)
    embedded = log_lines(events, "embedded")
    assert embedded[-1].message == f"embedded {parsed.chunks}/{parsed.chunks} chunks of handbook.pdf"
    assert len(embedded) == -(-parsed.chunks // 256)
    assert (await stored(worker))["ops"] == {"domain": parsed.chunks}

    [hit] = await worker.run(worker.memory.search, "VPN gateway for site 137", "ops", None, 1)
    meta = hit.record.metadata
    assert hit.record.source == "handbook.pdf" and meta["page"] == 137 and meta["kind"] == "document"
    assert (meta["document_id"], meta["filename"], meta["session_id"]) == (ref.document_id, "handbook.pdf", session_id)
    assert (meta["approval_id"], meta["approved_by"], meta["job_id"], meta["twin_id"]) == (
        "ap-pdf", "alice", "job-1", "default",
    )  # fmt: skip
    assert isinstance(meta["chunk"], int)


async def test_the_same_file_twice_is_stored_once(
    bus: Bus, worker: MemoryWorker, consumers: list[PullConsumer], observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    ref = await upload(bus, docx_bytes(), "runbook.docx")
    first = await approval(bus, session_id, "ap-1", "document", store_action(ref))
    second = await approval(bus, session_id, "ap-2", "document", store_action(ref))
    await bus.publish(ingest_event(session_id, ref, first, "ap-1", namespace="ops"))
    assert (await result_for(events, first)).new_count == 2
    await bus.publish(ingest_event(session_id, ref, second, "ap-2", namespace="ops"))
    again = await result_for(events, second)
    assert (again.stored_count, again.new_count, again.error) == (2, 0, None)
    assert (await stored(worker))["ops"] == {"domain": 2}


async def test_bad_files_are_refused_clearly_and_nothing_is_stored(
    bus: Bus, worker: MemoryWorker, consumers: list[PullConsumer], observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    whole = docx_bytes()
    cases = {
        "cut.docx": (whole[: len(whole) // 2], "cut.docx is corrupted: not a readable zip"),
        "bomb.docx": (zip_bomb(40), "refused as a zip bomb"),
        "report.docx": (pdf_bytes(1), "report.docx is named as a Word document but its content is a PDF"),
        "scan.pdf": (pdf_bytes(2, blank=(1, 2)), "scan.pdf has no text layer"),
    }
    for number, (name, (data, reason)) in enumerate(cases.items()):
        ref = await upload(bus, data, name)
        await bus.publish(parse_event(session_id, ref, f"parse-{number}"))
        read = await result_for(events, f"parse-{number}")
        assert read.error_kind == "unreadable" and reason in (read.error or ""), read.error
        # Even approved, an unreadable file stores nothing.
        request_id = await approval(bus, session_id, f"ap-{number}", "document", store_action(ref))
        await bus.publish(ingest_event(session_id, ref, request_id, f"ap-{number}", namespace="ops"))
        ingest = await result_for(events, request_id)
        assert ingest.error_kind == "unreadable" and reason in (ingest.error or ""), ingest.error
    assert await stored(worker) == {}


async def test_oversize_missing_and_tampered_objects_are_refused(
    bus: Bus, worker: MemoryWorker, consumers: list[PullConsumer], observe: ObserveFactory, session_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    events = await observe(one_session(session_id))
    monkeypatch.setenv("PAGI_MAX_UPLOAD_BYTES", "4096")
    big = await upload(bus, b"# Big\n\n" + b"word " * 2000, "big.md")
    await bus.publish(parse_event(session_id, big, "p-big"))
    assert (await result_for(events, "p-big")).error == "big.md is 10,007 bytes; the limit is 4,096"

    digest = hashlib.sha256(b"never uploaded").hexdigest()
    missing = DocumentRef(document_id=document_id_of(digest), digest=digest, filename="gone.txt", size=14)
    await bus.publish(parse_event(session_id, missing, "p-missing"))
    assert "gone.txt is not in the document store" in ((await result_for(events, "p-missing")).error or "")

    real = await upload(bus, b"the original text", "a.txt")
    await (await bus.object_store(DOCUMENTS)).put(real.digest, b"something else")
    await bus.publish(parse_event(session_id, real, "p-tampered"))
    assert "do not match its digest" in ((await result_for(events, "p-tampered")).error or "")
    assert await stored(worker) == {}


async def test_an_ingest_without_a_valid_approval_is_refused(
    bus: Bus, worker: MemoryWorker, consumers: list[PullConsumer], observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    ref = await upload(bus, docx_bytes(), "runbook.docx")
    other = await upload(bus, b"# Other\n\nAnother file.\n", "other.md")
    pending = await approval(bus, session_id, "ap-pending", "document", store_action(ref), decided=False)
    for_other = await approval(bus, session_id, "ap-other", "document", store_action(other))
    remember = await approval(bus, session_id, "ap-remember", "remember", ActionRemember(text="x", namespace="ops"))
    good = await approval(bus, session_id, "ap-good", "document", store_action(ref))
    cases = [
        ("r-none", "ap-unknown", "approval ap-unknown is not recorded for this session"),
        (pending, "ap-pending", "approval ap-pending is pending, not approved"),
        (for_other, "ap-other", "approval ap-other was given for a different action"),
        (remember, "ap-remember", "approval ap-remember was given for a different action"),
        ("r-another-request", "ap-good", "one approval runs one request"),
    ]
    for request_id, approval_id, reason in cases:
        await bus.publish(ingest_event(session_id, ref, request_id, approval_id, namespace="ops"))
        refused = await result_for(events, request_id)
        assert refused.error_kind == "invalid" and reason in (refused.error or ""), refused.error
    await bus.publish(ingest_event("other-session", ref, good, "ap-good", namespace="ops"))
    elsewhere = await result_for(await observe(one_session("other-session")), good)
    assert "is not recorded for this session" in (elsewhere.error or "")
    assert await stored(worker) == {}


def many_paragraphs(count: int) -> bytes:
    rng = random.Random(7)
    words = ["disk", "latency", "node", "restart", "queue", "backup", "shard", "lease", "quorum", "replica"]
    return "\n\n".join(" ".join(rng.choice(words) for _ in range(160)) + f" #{i}" for i in range(count)).encode()


async def test_a_cancelled_job_stops_storing_between_batches(
    bus: Bus, worker: MemoryWorker, consumers: list[PullConsumer], observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    jobs = await JobStore.open(bus)
    job = await jobs.create(
        JobRecord(job_id="job-1", session_id=session_id, twin_id="default", message="/ingest", status="running",
                  created_at=NOW, updated_at=NOW)
    )  # fmt: skip
    ref = await upload(bus, many_paragraphs(12_000), "long.txt")
    request_id = await approval(bus, session_id, "ap-long", "document", store_action(ref))
    await bus.publish(ingest_event(session_id, ref, request_id, "ap-long", namespace="ops"))
    await events.wait_for(lambda _: bool(log_lines(events, "embedded 256/")), timeout=60)
    await jobs.update(job, finish("cancelled", None, NOW))
    result = await result_for(events, request_id, timeout=60)
    assert result.error_kind == "cancelled", result
    total = int(log_lines(events, "embedded 256/")[0].message.split("/")[1].split()[0])
    assert result.stored_count is not None and 256 <= result.stored_count < total
    assert result.stored_count % 256 == 0
    assert f"cancelled after {result.stored_count}/{total} chunks" in (result.error or "")
    assert (await stored(worker))["ops"]["domain"] == result.new_count == result.stored_count


async def test_an_approved_memory_records_who_approved_it_and_an_unapproved_one_is_refused(
    bus: Bus, worker: MemoryWorker, consumers: list[PullConsumer], observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    action = ActionRemember(text="The on-call rota changes on Mondays.", namespace="ops", why="said twice")
    request_id = await approval(bus, session_id, "ap-mem", "remember", action)
    edited = "The on-call rota changes on Mondays at 09:00."  # the person edited it before approving
    body = MemoryStore(
        request_id=request_id, text=edited, namespace="ops", kb="mind", source=f"session {session_id}",
        approval_id="ap-mem", metadata={"kind": "remembered", "why": "said twice"},
    )  # fmt: skip
    await bus.publish(Envelope[MemoryStore](type=MEMORY_STORE, session_id=session_id, body=body))
    saved = await result_for(events, request_id)
    assert saved.stored_id and saved.error is None
    record = await worker.run(worker.memory.get, saved.stored_id)
    assert record is not None and record.text == edited
    assert record.metadata == {
        "kind": "remembered",
        "why": "said twice",
        "approval_id": "ap-mem",
        "approved_by": "alice",
        # Where it was said comes from the approval, not from the request.
        "session_id": session_id,
        "job_id": "job-1",
        "twin_id": "default",
    }
    assert record.source == f"session {session_id}"

    pending = await approval(bus, session_id, "ap-wait", "remember", action, decided=False)
    doc = await upload(bus, b"text", "t.txt")
    for_document = await approval(bus, session_id, "ap-doc", "document", store_action(doc))
    for rid, aid, reason in [
        (pending, "ap-wait", "is pending, not approved"),
        (for_document, "ap-doc", "was given for a different action"),
        ("r-other", "ap-mem", "one approval runs one request"),
    ]:
        refused = MemoryStore(request_id=rid, text="Sneaky memory.", namespace="ops", approval_id=aid)
        await bus.publish(Envelope[MemoryStore](type=MEMORY_STORE, session_id=session_id, body=refused))
        answer = await result_for(events, rid)
        assert answer.error_kind == "invalid" and reason in (answer.error or ""), answer.error
    assert (await stored(worker))["ops"] == {"mind": 1}
