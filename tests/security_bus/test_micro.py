"""PAGI's services as NATS micro services, seen by a client nobody here wrote.

Plain nats-py requests to `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS` (what `nats micro ls`, `info`
and `stats` send, ADR-32) and to the `api.memory` endpoint, against a real nats-server run with the
repository's nats.conf: every service connects as its own user, with its real permissions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.micro.service import ServiceVerb, control_subject

from bus_schemas import heartbeat as hb
from bus_schemas.memory import MEMORY_API_SUBJECT, MEMORY_SESSION_API_SUBJECT
from memory_worker.__main__ import make_service
from pagi import heartbeat, micro
from pagi.nats_users import inbox_prefix, micro_control
from pagi.service import serve
from pagi.settings import BusSettings
from planner.__main__ import PlannerService

from ..support import eventually
from .conftest import SecureBus

NAMES = {"memory_worker", "planner"}
# Long enough that a heartbeat arriving within a test's bound can only be the answer to a ping.
QUIET_HEARTBEAT_S = 120.0


@dataclass
class Stack:
    operator: Client  # a raw client, as the nats CLI connects
    edge: Client  # a raw client as the edge's user


async def gather(nc: Client, subject: str, payload: bytes = b"", want: int = 1, timeout: float = 5.0) -> list[Msg]:
    """Publish one request and collect its answers (many services answer one `$SRV.PING`) until `want`
    came, or `timeout` passed, as `nats micro ls` does."""
    got: list[Msg] = []
    enough = asyncio.Event()

    async def on_answer(msg: Msg) -> None:
        if (msg.headers or {}).get("Status") == "503":  # the server's "no responders yet"
            return
        got.append(msg)
        if len(got) >= want:
            enough.set()

    sub = await nc.subscribe(nc.new_inbox(), cb=on_answer)
    try:
        await nc.publish(subject, payload, reply=sub.subject)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(enough.wait(), timeout)
    finally:
        await sub.unsubscribe()
    return got


def body(msg: Msg) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(msg.data)
    return decoded


async def raw_client(secure_server: SecureBus, user: str) -> Client:
    return await nats.connect(secure_server.url(user), inbox_prefix=inbox_prefix(user), allow_reconnect=False)


@pytest.fixture
async def stack(secure_server: SecureBus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Stack]:
    """The real memory worker and planner, each as `python -m` runs it, as its own NATS user."""
    monkeypatch.setenv("PAGI_DATA_DIR", str(tmp_path / "data"))
    stopping = asyncio.Event()
    planner = PlannerService()
    memory_routes, memory_background = make_service()
    tasks = [
        asyncio.create_task(
            serve(
                name,
                routes,
                background,
                BusSettings(NATS_URL=secure_server.url(user)),
                stopping,
                heartbeat_s=QUIET_HEARTBEAT_S,
            )
        )
        for name, user, routes, background in [
            ("memory_worker", "memory", memory_routes, memory_background),
            ("planner", "planner", planner.routes, None),
        ]
    ]
    operator = await raw_client(secure_server, "operator")
    edge = await raw_client(secure_server, "edge")

    async def all_up() -> bool:
        answers = await gather(operator, micro.PING_ALL, want=len(NAMES), timeout=0.5)
        return {body(m)["name"] for m in answers} >= NAMES

    try:
        up: bool = await eventually(all_up, timeout=30, what="both services answer $SRV.PING")
        # The api.memory endpoint joins the memory worker's service once its store is open.

        async def listed() -> list[dict[str, Any]]:
            return await endpoints(operator)

        found: list[dict[str, Any]] = await eventually(listed, timeout=30, what="the memory endpoint is listed")
        assert up and found
        yield Stack(operator, edge)
    finally:
        stopping.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 20)
        await planner.close()
        for nc in (operator, edge):
            await nc.close()
        for key in (hb.MEMORY_STORE, hb.MEMORY_STORE_OK):  # process-wide facts: leave none behind
            heartbeat._details.pop(key, None)


async def endpoints(nc: Client) -> list[dict[str, Any]]:
    info = body(await nc.request("$SRV.INFO.memory_worker", b"", timeout=5))
    found: list[dict[str, Any]] = info["endpoints"]
    return found


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching (`*` one token, `>` the rest)."""
    want, got = pattern.split("."), subject.split(".")
    if want[-1] == ">":
        return len(got) >= len(want) and all(w in ("*", g) for w, g in zip(want[:-1], got, strict=False))
    return len(want) == len(got) and all(w in ("*", g) for w, g in zip(want, got, strict=True))


def test_the_permission_table_covers_every_control_subject_nats_micro_subscribes() -> None:
    allowed = micro_control("planner")
    for verb in ServiceVerb:
        for subject in (
            control_subject(verb),
            control_subject(verb, "planner"),
            control_subject(verb, "planner", "Abc123"),
        ):
            assert any(matches(p, subject) for p in allowed), subject
        assert not any(matches(p, control_subject(verb, "tool_worker")) for p in allowed)


async def test_ping_and_info_find_every_service_with_its_facts(stack: Stack) -> None:
    answers = await gather(stack.operator, "$SRV.PING", want=len(NAMES))
    pings = {body(m)["name"]: body(m) for m in answers}
    assert set(pings) >= NAMES
    for name in NAMES:
        ping = pings[name]
        assert ping["type"] == "io.nats.micro.v1.ping_response"
        assert ping["id"] and ping["version"]
        assert ping["metadata"]["instance"] and ping["metadata"]["host"] and int(ping["metadata"]["pid"]) > 0

    info = body(await stack.operator.request("$SRV.INFO.memory_worker", b"", timeout=5))
    assert info["type"] == "io.nats.micro.v1.info_response" and info["description"]
    assert [(e["name"], e["subject"], e["queue_group"]) for e in info["endpoints"]] == [
        ("memory", MEMORY_API_SUBJECT, "memory_worker"),
        ("session_search", MEMORY_SESSION_API_SUBJECT, "memory_worker"),  # the tool worker's vector_query
    ]
    # A fact reported after start (the memory store, by the store check) is in the metadata from the
    # next beat on: a ping makes one now.
    await stack.operator.publish(hb.PING, b"")

    async def store_listed() -> dict[str, str]:
        metadata: dict[str, str] = body(await stack.operator.request("$SRV.INFO.memory_worker", b"", timeout=5))[
            "metadata"
        ]
        return metadata if hb.MEMORY_STORE in metadata else {}

    metadata: dict[str, str] = await eventually(store_listed, timeout=10, what="the memory store in the INFO metadata")
    assert metadata[hb.MEMORY_STORE]
    assert metadata[hb.MEMORY_STORE_OK] == "true"

    planner = body(await stack.operator.request("$SRV.INFO.planner", b"", timeout=5))
    assert planner["name"] == "planner" and planner["endpoints"] == []


async def test_the_edges_ping_makes_every_instance_beat_at_once(stack: Stack) -> None:
    beats: list[str] = []

    async def on_beat(msg: Msg) -> None:
        beats.append(body(msg)["service"])

    await stack.edge.subscribe("pagi.heartbeat.>", cb=on_beat)
    await stack.edge.flush()
    started = time.monotonic()
    await stack.edge.publish(hb.PING, b"")
    await eventually(lambda: set(beats) >= NAMES, timeout=5, what="a heartbeat from each service")
    assert time.monotonic() - started < QUIET_HEARTBEAT_S  # the ping's, not the interval's
    # The heartbeats' own subscription leaves micro's PING answers alone.
    answers = await gather(stack.operator, micro.PING_ALL, want=len(NAMES))
    assert {body(m)["name"] for m in answers} >= NAMES


async def test_a_malformed_memory_request_gets_a_micro_error_and_blocks_nothing(stack: Stack) -> None:
    broken = await stack.edge.request(MEMORY_API_SUBJECT, b"\xff not json {", timeout=5)
    assert broken.headers is not None
    assert broken.headers[micro.ERROR_CODE_HEADER] == "400"
    assert broken.headers[micro.ERROR_HEADER].startswith("invalid request:")
    assert body(broken)["ok"] is False and body(broken)["error_kind"] == "invalid"

    unknown = await stack.edge.request(MEMORY_API_SUBJECT, b'{"op": "frobnicate"}', timeout=5)
    assert unknown.headers is not None and unknown.headers[micro.ERROR_CODE_HEADER] == "400"
    assert "op" in unknown.headers[micro.ERROR_HEADER]

    unknown_id = json.dumps({"op": "get", "id": str(uuid.uuid4())}).encode()
    missing = await stack.edge.request(MEMORY_API_SUBJECT, unknown_id, timeout=5)
    assert missing.headers is not None and missing.headers[micro.ERROR_CODE_HEADER] == "404"
    assert body(missing)["error_kind"] == "not_found"

    # An id the store cannot even parse fails inside the worker: answered at once with the reason
    # (the edge's 503, as for a worker that cannot answer), not left to the caller's timeout.
    failed = await stack.edge.request(MEMORY_API_SUBJECT, b'{"op": "get", "id": "not-a-uuid"}', timeout=5)
    assert failed.headers is not None and failed.headers[micro.ERROR_CODE_HEADER] == "500"
    assert "not-a-uuid" in failed.headers[micro.ERROR_HEADER]
    assert body(failed)["error_kind"] == "unavailable"

    # A plain publish (no reply subject) has nobody to answer: dropped, and the endpoint goes on.
    await stack.edge.publish(MEMORY_API_SUBJECT, b"{}")
    fine = await stack.edge.request(MEMORY_API_SUBJECT, b'{"op": "namespaces"}', timeout=5)
    assert not (fine.headers or {}).get(micro.ERROR_CODE_HEADER)
    assert body(fine)["ok"] is True and body(fine)["namespaces"] == {}

    # A garbage control request is answered like any other.
    assert body(await stack.operator.request("$SRV.PING.planner", b"\x00garbage", timeout=5))["name"] == "planner"

    stats = body(await stack.operator.request("$SRV.STATS.memory_worker", b"", timeout=5))
    [memory] = [e for e in stats["endpoints"] if e["name"] == "memory"]
    assert memory["subject"] == MEMORY_API_SUBJECT and memory["num_requests"] >= 5
