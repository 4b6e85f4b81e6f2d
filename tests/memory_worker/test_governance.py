"""Memory a person can govern: browse with paging and filters, edit (re-embedded, history kept), pin,
forget. The memory on both store paths (Qdrant Edge, qdrant-client local mode), then the request/reply
API on a real nats-server with the change events it publishes."""

from __future__ import annotations

import argparse
import getpass
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bus_schemas.memory import MEMORY_AUDIT_SESSION, MemoryChanged
from bus_schemas.subjects import MEMORY_CHANGED
from memory_worker.errors import InvalidRequest
from memory_worker.memory import Memory, NewMemory
from memory_worker.records import BrowseFilter, Hit, MemoryRecord, as_memory_hit
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus
from pagi_cli.memory import add_commands, memory_command
from pagi_cli.nats_server import NatsServer
from tests.support import ObserveFactory

from .conftest import call, serving_api


def _fill(memory: Memory) -> list[str]:
    """Twelve memories in `ops` (created one after the other) and one elsewhere; their ids, oldest first."""
    ids = []
    for n in range(12):
        meta: dict[str, Any] = {"approved_by": "alice" if n % 3 == 0 else "bob", "chunk": n}
        source = "runbook.pdf" if n % 2 == 0 else "session s-1"
        [added] = memory.add([NewMemory(f"fact number {n} about host web-{n:02d}", "ops", "mind", source, meta)])
        ids.append(added.id)
        time.sleep(0.002)  # distinct created_at: the order under test is by time
    memory.add([NewMemory("another namespace's fact", "biz", "mind", "runbook.pdf")])
    return ids


def test_browse_pages_newest_first_without_gaps_or_repeats(memory: Memory) -> None:
    ids = _fill(memory)
    seen: list[str] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        page = memory.browse(BrowseFilter(namespace="ops"), offset, 5)
        seen += [r.id for r in page.memories]
        offset = page.next_offset
        pages += 1
    assert pages == 3 and seen == list(reversed(ids))
    again = memory.browse(BrowseFilter(namespace="ops"), 5, 5)
    assert [r.id for r in again.memories] == seen[5:10] and again.next_offset == 10


def test_browse_filters(memory: Memory) -> None:
    ids = _fill(memory)
    records = {r.id: r for r in memory.browse(BrowseFilter(namespace="ops"), 0, 100).memories}

    def found(**filters: Any) -> set[str]:
        return {r.id for r in memory.browse(BrowseFilter(namespace="ops", **filters), 0, 100).memories}

    assert found(source_contains="RUNBOOK") == {i for n, i in enumerate(ids) if n % 2 == 0}
    assert found(approved_by="alice") == {i for n, i in enumerate(ids) if n % 3 == 0}
    assert found(kb="domain") == set() and found(kb="MIND") == set(ids)
    middle = records[ids[6]].created_at
    assert found(since=middle) == set(ids[6:])
    assert found(until=middle) == set(ids[:7])
    assert found(since=middle, until=middle) == {ids[6]}
    assert found(source_contains="runbook", approved_by="alice", since=middle) == {ids[6]}
    with pytest.raises(InvalidRequest, match="since is after until"):
        memory.browse(BrowseFilter(namespace="ops", since=2.0, until=1.0))
    with pytest.raises(InvalidRequest, match="limit"):
        memory.browse(BrowseFilter(namespace="ops"), 0, 0)


def test_edit_re_embeds_keeps_provenance_and_history(memory: Memory) -> None:
    meta = {"kind": "remembered", "session_id": "s-9", "approved_by": "alice", "version": 1}
    [added] = memory.add([NewMemory("the backup server is nas-01", "ops", "mind", "session s-9", meta)])
    edited = memory.update(added.id, "the backup server is nas-07 since March", "alice")
    assert edited is not None
    new = edited.new
    assert new.id != added.id and new.text == "the backup server is nas-07 since March"
    stored = memory.get(new.id)
    assert memory.get(added.id) is None and stored is not None
    assert (stored.text, stored.metadata["version"], len(stored.metadata["history"])) == (new.text, 2, 1)
    assert new.source == "session s-9" and new.created_at == edited.old.created_at
    assert {k: new.metadata[k] for k in ("kind", "session_id", "approved_by")} == {
        "kind": "remembered",
        "session_id": "s-9",
        "approved_by": "alice",
    }
    assert new.metadata["version"] == 2
    [earlier] = new.metadata["history"]
    assert earlier["text"] == "the backup server is nas-01" and earlier["edited_by"] == "alice"
    assert earlier["edited_at"] == pytest.approx(time.time(), abs=60)
    # Found by its new words, never by the old ones.
    assert [h.record.id for h in memory.search("nas-07", "ops", k=5)] == [new.id]
    assert all(h.record.id != added.id for h in memory.search("nas-01 backup server", "ops", k=5))

    again = memory.update(new.id, "the backup server is nas-09", "bob")
    assert again is not None and again.new.metadata["version"] == 3
    assert [h["text"] for h in again.new.metadata["history"]] == [
        "the backup server is nas-01",
        "the backup server is nas-07 since March",
    ]
    # The same text: nothing to re-embed, the same memory.
    same = memory.update(again.new.id, "  the backup server is nas-09 ", "bob")
    assert same is not None and same.new is same.old
    with pytest.raises(InvalidRequest, match="empty"):
        memory.update(again.new.id, "   ", "bob")
    assert memory.update("00000000-0000-0000-0000-000000000000", "x", "bob") is None


def test_pin_and_pinned_newest_first(memory: Memory) -> None:
    ids = _fill(memory)
    assert memory.pinned("ops") == []
    for i in (ids[2], ids[9], ids[5]):
        pinned = memory.pin(i, True)
        assert pinned is not None and pinned.metadata["pinned"] is True
        assert pinned.metadata["approved_by"] in ("alice", "bob")  # the rest of the metadata kept
    assert [r.id for r in memory.pinned("ops")] == [ids[9], ids[5], ids[2]]
    assert {r.id for r in memory.browse(BrowseFilter(namespace="ops", pinned_only=True)).memories} == {
        ids[2],
        ids[5],
        ids[9],
    }
    memory.pin(ids[5], False)
    assert [r.id for r in memory.pinned("ops")] == [ids[9], ids[2]]
    assert memory.pinned("biz") == []
    # Pinned survives an edit (the metadata goes with the memory).
    edited = memory.update(ids[9], "fact number 9, corrected", "alice")
    assert edited is not None and [r.id for r in memory.pinned("ops")] == [edited.new.id, ids[2]]


def test_forget_is_never_found_again(memory: Memory) -> None:
    [added, kept] = memory.add(
        [NewMemory("the vault code is 4471", "ops", "mind", "session s-2"), NewMemory("the vault is in room 2", "ops")]
    )
    memory.pin(added.id, True)
    forgotten = memory.forget(added.id)
    assert forgotten is not None and forgotten.text == "the vault code is 4471"
    assert memory.get(added.id) is None
    assert [h.record.id for h in memory.search("vault code 4471", "ops", k=10)] == [kept.id]
    assert memory.pinned("ops") == [] and [r.id for r in memory.browse(BrowseFilter(namespace="ops")).memories] == [
        kept.id
    ]
    assert memory.forget(added.id) is None


def test_hits_carry_their_provenance() -> None:
    meta = {"page": 4, "document_id": "doc-1", "session_id": "s-3"}
    record = MemoryRecord("m", "t", "ops", "domain", "h", 1.0, "runbook.pdf", meta)
    hit = as_memory_hit(Hit(record, 0.5))
    assert (hit.page, hit.document_id, hit.session_id, hit.source) == (4, "doc-1", "s-3", "runbook.pdf")
    odd = as_memory_hit(Hit(MemoryRecord("m", "t", "ops", "domain", "h", 1.0, None, {"page": True}), 0.5))
    assert (odd.page, odd.document_id, odd.session_id) == (None, None, None)


# --- The request/reply API, on a real nats-server -------------------------------------------------


@pytest.fixture
async def api(bus: Bus, worker: MemoryWorker) -> AsyncIterator[MemoryWorker]:
    async with serving_api(bus, worker):
        yield worker


async def test_governance_over_the_bus_records_each_change(
    bus: Bus, api: MemoryWorker, observe: ObserveFactory
) -> None:
    changes = await observe(f"{MEMORY_CHANGED}.{MEMORY_AUDIT_SESSION}")
    ids = await api.run(_fill, api.memory)

    first = await call(bus, op="browse", namespace="ops", limit=5)
    assert first["ok"] and [m["id"] for m in first["memories"]] == list(reversed(ids))[:5]
    assert first["next_offset"] == 5
    last = await call(bus, op="browse", namespace="ops", offset=10, limit=5)
    assert [m["id"] for m in last["memories"]] == list(reversed(ids))[10:] and last.get("next_offset") is None
    filtered = await call(bus, op="browse", namespace="ops", source="runbook", approved_by="alice", limit=100)
    assert {m["id"] for m in filtered["memories"]} == {ids[0], ids[6]}

    edited = await call(bus, op="update", id=ids[0], text="fact zero, corrected", actor="alice", pinned=True)
    assert edited["ok"], edited
    memory = edited["memory"]
    assert memory["id"] != ids[0] and memory["metadata"]["version"] == 2 and memory["metadata"]["pinned"] is True
    assert memory["metadata"]["history"][0]["text"] == "fact number 0 about host web-00"
    found = await call(bus, op="search", query="fact zero corrected", namespace="ops", k=3)
    assert found["results"][0]["id"] == memory["id"]

    assert (await call(bus, op="pin", id=ids[3], pinned=True, actor="bob"))["memory"]["metadata"]["pinned"] is True
    pinned = await call(bus, op="pinned", namespace="ops")
    assert [m["id"] for m in pinned["memories"]] == [ids[3], memory["id"]]

    forgot = await call(bus, op="forget", id=ids[3], actor="bob")
    assert forgot == {**forgot, "ok": True, "deleted": True}
    # Acknowledged means gone: the very next reads never see it.
    assert [m["id"] for m in (await call(bus, op="pinned", namespace="ops"))["memories"]] == [memory["id"]]
    hits = await call(bus, op="search", query="fact number 3 about host web-03", namespace="ops", k=20)
    assert ids[3] not in [h["id"] for h in hits["results"]]
    again = await call(bus, op="forget", id=ids[3], actor="bob")
    assert (again["ok"], again["error_kind"]) == (False, "not_found")

    events = await changes.wait_count(MEMORY_CHANGED, 4)
    told = [MemoryChanged.model_validate(e.body.model_dump()) for e in events]
    assert [(c.op, c.memory_id, c.by) for c in told] == [
        ("edited", ids[0], "alice"),
        ("pinned", memory["id"], "alice"),
        ("pinned", ids[3], "bob"),
        ("forgotten", ids[3], "bob"),
    ]
    assert told[0].new_id == memory["id"] and {(c.namespace, c.kb) for c in told} == {("ops", "mind")}


@pytest.mark.parametrize(
    ("request_", "kind", "text"),
    [
        ({"op": "update", "text": "x"}, "invalid", "needs a memory id"),
        ({"op": "update", "id": "00000000-0000-0000-0000-000000000000"}, "invalid", "needs text, pinned"),
        ({"op": "update", "id": "00000000-0000-0000-0000-000000000000", "text": "x"}, "not_found", "no memory"),
        ({"op": "pin", "id": "00000000-0000-0000-0000-000000000000"}, "invalid", "pinned: true or false"),
        ({"op": "forget", "id": "00000000-0000-0000-0000-000000000000"}, "not_found", "no memory"),
        ({"op": "browse", "namespace": "ops", "kb": "nowhere"}, "invalid", "unknown knowledge base"),
        ({"op": "browse", "namespace": "ops", "since": 5, "until": 1}, "invalid", "since is after until"),
        ({"op": "browse", "namespace": "bad namespace!"}, "invalid", "invalid namespace"),
        ({"op": "browse", "offset": -1}, "invalid", "offset"),
    ],
)
async def test_bad_governance_requests(
    bus: Bus, api: MemoryWorker, request_: dict[str, Any], kind: str, text: str
) -> None:
    answer = await call(bus, **request_)
    assert answer["ok"] is False and answer["error_kind"] == kind and text in answer["error"], answer


# --- The command line: `pagi memory ...` over the bus ---------------------------------------------


def cli_args(nats_url: str, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pagi")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["memory", *argv, "--nats-url", nats_url])


async def pagi_memory(nats_url: str, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await memory_command(cli_args(nats_url, *argv), out, err)
    return code, out.getvalue(), err.getvalue()


async def test_pagi_memory_commands(nats_server: NatsServer, api: MemoryWorker, observe: ObserveFactory) -> None:
    changes = await observe(f"{MEMORY_CHANGED}.{MEMORY_AUDIT_SESSION}")
    ids = await api.run(_fill, api.memory)
    url = nats_server.url

    code, out, _ = await pagi_memory(url, "list", "--namespace", "ops", "--limit", "5", "--source", "runbook")
    lines = out.splitlines()
    assert code == 0 and [line.split()[0] for line in lines[:-1]] == [ids[10], ids[8], ids[6], ids[4], ids[2]]
    assert "runbook.pdf" in lines[0] and lines[-1] == "more: --offset 5"
    code, out, _ = await pagi_memory(url, "list", "--namespace", "ops", "--approved-by", "alice", "--json")
    assert {m["id"] for m in json.loads(out)["memories"]} == {ids[0], ids[3], ids[6], ids[9]}

    code, out, _ = await pagi_memory(url, "edit", ids[6], "fact six, corrected", "--as", "alice")
    assert code == 0 and out.startswith(f"edited: {ids[6]} is now ") and "(version 2)" in out
    new_id = out.split(" is now ")[1].split()[0]
    code, out, _ = await pagi_memory(url, "show", new_id)
    assert code == 0 and "fact six, corrected" in out and "approved_by: alice" in out
    assert "earlier text 1" in out and "by alice" in out and "fact number 6 about host web-06" in out

    assert (await pagi_memory(url, "pin", new_id))[1] == f"pinned: {new_id}\n"
    code, out, _ = await pagi_memory(url, "list", "--namespace", "ops", "--pinned")
    assert [line.split()[0] for line in out.splitlines()] == [new_id] and "[pinned]" in out
    assert (await pagi_memory(url, "unpin", new_id))[0] == 0
    assert (await pagi_memory(url, "list", "--namespace", "ops", "--pinned"))[1] == "no memories match\n"

    assert (await pagi_memory(url, "forget", new_id, "--as", "alice"))[1] == f"forgotten: {new_id}\n"
    code, _, err = await pagi_memory(url, "show", new_id)
    assert code == 1 and "no memory with id" in err
    code, _, err = await pagi_memory(url, "forget", new_id)
    assert code == 1 and "no memory with id" in err
    code, _, err = await pagi_memory(url, "list", "--namespace", "ops", "--limit", "0")
    assert code == 2 and "limit" in err
    code, _, err = await pagi_memory(url, "edit", ids[1], "   ")
    assert code == 2 and "the new text is empty" in err

    events = await changes.wait_count(MEMORY_CHANGED, 4)
    assert [(e.body.op, e.body.by) for e in events] == [
        ("edited", "alice"), ("pinned", f"cli:{getpass.getuser()}"), ("unpinned", f"cli:{getpass.getuser()}"),
        ("forgotten", "alice"),
    ]  # fmt: skip
