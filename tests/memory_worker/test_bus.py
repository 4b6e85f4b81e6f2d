"""The memory worker on a real nats-server: its real handlers, the real store and model."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import nats.errors
import pytest

from bus_schemas import Envelope
from bus_schemas.memory import MEMORY_API_SUBJECT, MemoryQuery, MemoryResult, MemoryStore
from bus_schemas.streams import MEMORY_WORKER
from bus_schemas.subjects import DEAD_LETTER_PREFIX, JOB_LOG, MEMORY_QUERY, MEMORY_RESULT, MEMORY_STORE, one_session
from memory_worker.__main__ import routes_for
from memory_worker.embedding import Embedder
from memory_worker.memory import Memory
from memory_worker.store_qdrant import QdrantStore
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus, PullConsumer
from pagi.service import start_routes
from pagi_cli.ingest import IngestFailed, ingest_over_bus
from pagi_cli.kb import add_arguments, ingest_command
from pagi_cli.nats_server import NatsServer

from ..support import EventCollector, ObserveFactory


@pytest.fixture
async def consumers(bus: Bus, worker: MemoryWorker) -> AsyncIterator[list[PullConsumer]]:
    started = await start_routes(bus, routes_for(worker))
    yield started
    for consumer in started:
        await consumer.stop()


def store_event(session: str, text: str, **fields: Any) -> Envelope[MemoryStore]:
    body = MemoryStore(request_id=fields.pop("request_id", "r-store"), text=text, **fields)
    return Envelope[MemoryStore](type=MEMORY_STORE, session_id=session, body=body)


def query_event(session: str, query: str, **fields: Any) -> Envelope[MemoryQuery]:
    body = MemoryQuery(request_id=fields.pop("request_id", "r-query"), query=query, **fields)
    return Envelope[MemoryQuery](type=MEMORY_QUERY, session_id=session, body=body)


async def result_for(events: EventCollector, request_id: str, timeout: float = 10.0) -> MemoryResult:
    [found] = await events.wait_for_count(
        lambda e: e.type == MEMORY_RESULT and e.body.request_id == request_id, 1, timeout
    )
    assert isinstance(found.body, MemoryResult)
    return found.body


async def test_save_then_search_over_the_bus(
    bus: Bus, consumers: list[PullConsumer], observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    saved = store_event(
        session_id,
        "The VPN gateway is 203.0.113.45, WireGuard on UDP 51820.",
        namespace="ops",
        kb="body",
        source="chat:msg-1",
    )
    await bus.publish(saved)
    stored = await result_for(events, "r-store")
    assert stored.stored_id and stored.created == [True] and stored.error is None

    await bus.publish(query_event(session_id, "203.0.113.45", namespace="ops", top_k=3))
    found = await result_for(events, "r-query")
    assert [h.id for h in found.hits] == [stored.stored_id]
    hit = found.hits[0]
    assert (hit.kb, hit.namespace, hit.source) == ("body", "ops", "chat:msg-1") and hit.score > 0

    result_events = events.of_type(MEMORY_RESULT)
    assert {e.causation_id for e in result_events} >= {saved.id}
    logs = [e.body for e in events.of_type(JOB_LOG)]
    assert any(log.level == "memory" and "saved memory" in log.message for log in logs)


async def test_raw_json_from_the_nats_cli(
    bus: Bus, consumers: list[PullConsumer], observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    payload = {"request_id": "cli-1", "text": "Jonas Feldberg is the security officer.", "kb": "domain"}
    await bus.nc.publish(f"memory.store.{session_id}", json.dumps(payload).encode())
    assert (await result_for(events, "cli-1")).stored_id
    await bus.nc.publish(
        f"memory.query.{session_id}", json.dumps({"request_id": "cli-2", "query": "Feldberg"}).encode()
    )
    assert "Feldberg" in (await result_for(events, "cli-2")).hits[0].text


async def test_stores_are_idempotent(
    bus: Bus, consumers: list[PullConsumer], observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(f"{MEMORY_RESULT}.{session_id}")
    first = store_event(session_id, "Always drain a node before patching it.", request_id="a")
    await bus.publish(first)
    await bus.publish(first)  # a redelivered copy: same id, dropped by JetStream
    again = store_event(session_id, "Always drain a node before patching it.", request_id="b")  # a new request
    await bus.publish(again)
    a, b = await result_for(events, "a"), await result_for(events, "b")
    assert a.stored_id == b.stored_id
    assert (a.created, b.created) == ([True], [False])
    assert len(events.of_type(MEMORY_RESULT)) == 2


async def test_bad_requests_get_clear_errors_and_block_nothing(
    bus: Bus, consumers: list[PullConsumer], observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    dead = await observe(f"{DEAD_LETTER_PREFIX}.>")
    await bus.publish(store_event(session_id, "known fact", namespace="ops"))
    await result_for(events, "r-store")

    await bus.publish(query_event(session_id, "anything", namespace="nowhere", request_id="q-ns"))
    unknown = await result_for(events, "q-ns")
    assert unknown.error_kind == "unknown_namespace" and "'nowhere'" in (unknown.error or "")

    await bus.publish(query_event(session_id, "anything", namespace="ops", kb="spleen", request_id="q-kb"))
    assert (await result_for(events, "q-kb")).error_kind == "invalid"

    # Invalid on the wire (empty query): terminated with a dead letter and an error line, not retried.
    await bus.nc.publish(f"memory.query.{session_id}", json.dumps({"request_id": "q-empty", "query": ""}).encode())
    await dead.wait_count("dead_letter", 1)
    await events.wait_for(lambda evs: any(e.type == JOB_LOG and e.body.level == "error" for e in evs))

    await bus.publish(query_event(session_id, "known fact", namespace="ops", request_id="q-ok"))
    assert (await result_for(events, "q-ok")).hits


async def test_kb_ingest_over_the_bus(
    bus: Bus, consumers: list[PullConsumer], worker: MemoryWorker, tmp_path: Path
) -> None:
    root = tmp_path / "kbs"
    (root / "body").mkdir(parents=True)
    (root / "body" / "hosts.md").write_text(
        "# Hosts\n\n" + "\n\n".join(f"## host-{i}\n\nhost-{i} is at 10.1.0.{i}." for i in range(300))
    )
    (root / "junk.bin.txt").write_bytes(b"\x00\x01")
    seen: list[tuple[int, int]] = []
    summary = await ingest_over_bus(bus, root, "lab", progress=lambda d, t: seen.append((d, t)))
    assert (summary.chunks, summary.created, summary.duplicates, len(summary.skipped)) == (300, 300, 0, 1)
    assert seen[-1] == (300, 300) and len(seen) >= 3  # batched, with progress per batch
    hits = await worker.run(worker.memory.search, "10.1.0.42", "lab", None, 1)
    assert hits[0].record.metadata["heading"] == "Hosts > host-42" and hits[0].record.kb == "body"

    again = await ingest_over_bus(bus, root, "lab")
    assert (again.created, again.duplicates) == (0, 300)


async def test_kb_ingest_without_a_worker_says_so(bus: Bus, tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\nsomething")
    with pytest.raises(IngestFailed, match="is memory_worker up"):
        await ingest_over_bus(bus, tmp_path, "lab", timeout_s=0.5)


async def test_the_service_process(
    nats_server: NatsServer, bus: Bus, observe: ObserveFactory, tmp_path: Path, session_id: str
) -> None:
    """`python -m memory_worker` as `pagi up` starts it: env config, answers, stops on SIGTERM."""
    env = {**os.environ, "NATS_URL": nats_server.url, "PAGI_DATA_DIR": str(tmp_path / "data")}
    env.pop("QDRANT_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "memory_worker",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        events = await observe(f"{MEMORY_RESULT}.{session_id}")
        await bus.publish(store_event(session_id, "The UPS in rack B4 lasts 18 minutes.", kb="body"))
        assert (await result_for(events, "r-store", timeout=30)).stored_id
        await bus.publish(query_event(session_id, "how long does the battery backup last"))
        assert "rack B4" in (await result_for(events, "r-query")).hits[0].text
        for _ in range(200):  # the API subscribes just after the consumers start: bounded retry
            try:
                reply = await bus.nc.request(MEMORY_API_SUBJECT, b'{"op": "namespaces"}', timeout=10)
                break
            except nats.errors.NoRespondersError:
                await bus.nc.flush()
        answer = json.loads(reply.data)
        assert (answer["ok"], answer["namespaces"]) == (True, {"default": {"body": 1}})
        assert list((tmp_path / "data" / "memory").iterdir())
    finally:
        proc.terminate()
        output, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, output.decode()[-2000:]
    assert b"memory store:" in output


def cli_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


async def test_pagi_kb_ingest_command(
    nats_server: NatsServer, consumers: list[PullConsumer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NATS_URL", raising=False)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "pagi.env").write_text(f"NATS_URL={nats_server.url}\nPAGI_URL=http://127.0.0.1:1\n")
    kb = tmp_path / "domain"
    kb.mkdir()
    (kb / "policy.md").write_text("# Refunds\n\nAnnual plans are refunded within 30 days.\n")
    (kb / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    out, err = io.StringIO(), io.StringIO()
    code = await ingest_command(cli_args(str(kb), "--namespace", "biz", "--data-dir", str(data_dir)), out, err)
    assert code == 0, err.getvalue()
    assert out.getvalue() == "1 files, 1 chunks: 1 new, 0 already stored, 1 files skipped (namespace biz)\n"
    assert "] 1/1 chunks" in err.getvalue() and "warning: skipped" in err.getvalue() and "photo.jpg" in err.getvalue()

    bad = io.StringIO()
    assert await ingest_command(cli_args(str(tmp_path / "missing"), "--nats-url", nats_server.url), out, bad) == 1
    assert "no such file or folder" in bad.getvalue()


async def test_pagi_kb_ingest_without_a_stack(tmp_path: Path) -> None:
    err = io.StringIO()
    args = cli_args(str(tmp_path), "--nats-url", "nats://127.0.0.1:1", "--connect-timeout", "0.5")
    assert await ingest_command(args, io.StringIO(), err) == 1
    assert "cannot reach the bus at nats://127.0.0.1:1" in err.getvalue() and "pagi up" in err.getvalue()


async def test_qdrant_down_is_retried_then_answered_with_an_error(
    bus: Bus, observe: ObserveFactory, embedder: Embedder, session_id: str
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = QdrantStore("c", embedder.dim, url=f"http://127.0.0.1:{port}", timeout_s=1)
    down = MemoryWorker(Memory(store, embedder), ThreadPoolExecutor(max_workers=1))
    down.max_attempts = 2
    spec = replace(MEMORY_WORKER, durable="memory-worker-down", max_attempts=2)
    consumers = await start_routes(bus, [replace(routes_for(down)[0], spec=spec)])
    try:
        events = await observe(one_session(session_id))
        await bus.publish(query_event(session_id, "anything", request_id="q-down"))
        failed = await result_for(events, "q-down")
        assert failed.error_kind == "unavailable" and f"127.0.0.1:{port}" in (failed.error or "")
        lines = await events.wait_count(JOB_LOG, 2)
        assert [e.body.level for e in lines] == ["warn", "error"]  # one retry announced, then the failure answered
    finally:
        for consumer in consumers:
            await consumer.stop()
        await down.close()
