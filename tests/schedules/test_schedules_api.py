"""`/v1/schedules` on the real edge over a real nats-server, in keys mode: root is an admin, alice and
bob members. Bob (the adversary) cannot see, pause, resume or remove alice's schedule, schedule into
her session or to her private twin; a malformed spec or time zone is a 422 saying what to write."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bus_schemas.schedules import ScheduleList
from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus
from records.schedules import ScheduleStore
from records.twins import TwinStore

ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef00"
ROOT = "root-key-0123456789abcdef0"
KEYS = f"{ALICE}:alice,{BOB}:bob:member,{ROOT}:root:admin"
Client = TestClient[web.Request, web.Application]


def key(k: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {k}"}


@pytest.fixture
async def edge(bus: Bus) -> AsyncIterator[Client]:
    await (await TwinStore.open(bus)).ensure_default()
    settings = EdgeSettings(PAGI_RATE_LIMIT_BURST=1000, PAGI_API_KEYS=KEYS)
    async with TestClient(TestServer(make_app(settings, bus=bus))) as client:
        yield client


Post = Callable[..., Awaitable[tuple[int, dict[str, Any]]]]


@pytest.fixture
def post(edge: Client) -> Post:
    async def send(k: str, **fields: Any) -> tuple[int, dict[str, Any]]:
        body = {"twin_id": "orchestrator", "session_id": f"s-{uuid.uuid4().hex[:8]}", "message": "hi",
                "spec": "@every 1h", **fields}  # fmt: skip
        response = await edge.post("/v1/schedules", json=body, headers=key(k))
        return response.status, await response.json()

    return send


async def test_a_member_adds_lists_pauses_resumes_and_removes_a_schedule(edge: Client, post: Post, bus: Bus) -> None:
    status, made = await post(ALICE, spec="0 0 8 * * 1-5", time_zone="Europe/Berlin", message="overnight summary")
    assert status == 201, made
    assert made["id"].startswith("sch-") and made["owner"] == "alice" and made["next_run"]
    listed = ScheduleList.model_validate(await (await edge.get("/v1/schedules", headers=key(ALICE))).json())
    assert [s.id for s in listed.schedules] == [made["id"]]
    paused = await edge.post(f"/v1/schedules/{made['id']}/pause", headers=key(ALICE))
    assert paused.status == 200 and (await paused.json())["paused"] is True
    resumed = await edge.post(f"/v1/schedules/{made['id']}/resume", headers=key(ALICE))
    assert resumed.status == 200 and (await resumed.json())["paused"] is False
    definition = await bus.js.get_last_msg("PAGI_SCHEDULES", f"schedule.def.{made['id']}")
    assert definition.headers is not None
    assert definition.headers["Nats-Schedule"] == "0 0 8 * * 1-5"
    assert definition.headers["Nats-Schedule-Time-Zone"] == "Europe/Berlin"
    removed = await edge.delete(f"/v1/schedules/{made['id']}", headers=key(ALICE))
    assert removed.status == 204
    assert await (await ScheduleStore.open(bus)).get(made["id"]) is None
    listed = ScheduleList.model_validate(await (await edge.get("/v1/schedules", headers=key(ALICE))).json())
    assert listed.schedules == []


async def test_another_member_cannot_see_or_touch_a_schedule_nor_use_anothers_session_or_twin(
    edge: Client, post: Post
) -> None:
    session = f"alice-{uuid.uuid4().hex[:8]}"
    status, made = await post(ALICE, session_id=session)
    assert status == 201, made
    listed = await (await edge.get("/v1/schedules", headers=key(BOB))).json()
    assert listed == {"schedules": []}
    for method, path in (
        ("POST", f"/v1/schedules/{made['id']}/pause"),
        ("POST", f"/v1/schedules/{made['id']}/resume"),
        ("DELETE", f"/v1/schedules/{made['id']}"),
    ):
        response = await edge.request(method, path, headers=key(BOB))
        assert response.status == 404, (method, path, await response.text())
    # Into alice's session: refused as if it did not exist.
    status, refused = await post(BOB, session_id=session)
    assert status == 404, refused
    # To alice's private twin: likewise.
    twin = await edge.post("/v1/twins", json={"id": "alice-private", "codename": "AP"}, headers=key(ALICE))
    assert twin.status == 201, await twin.text()
    status, refused = await post(BOB, twin_id="alice-private")
    assert status == 404, refused
    status, refused = await post(BOB, twin_id="no-such-twin")
    assert status == 404, refused
    # The admin sees and may pause every schedule.
    every = await (await edge.get("/v1/schedules", headers=key(ROOT))).json()
    assert [s["id"] for s in every["schedules"]] == [made["id"]]
    paused = await edge.post(f"/v1/schedules/{made['id']}/pause", headers=key(ROOT))
    assert paused.status == 200
    # Still alice's, still there.
    mine = await (await edge.get("/v1/schedules", headers=key(ALICE))).json()
    assert mine["schedules"][0]["paused"] is True


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"spec": "@every 100ms"}, "at least '@every 1s'"),
        ({"spec": "@every soon"}, "invalid @every duration"),
        ({"spec": "@every 99999999999999999999h"}, "too far apart"),
        ({"spec": "@daily-ish"}, "unknown spec"),
        ({"spec": "0 8 * * 1-5"}, "6 fields"),
        ({"spec": "0 0 25 * * *"}, "cron hour"),
        ({"spec": "0 0 8 * * MON"}, "cron day of week"),
        ({"spec": "@at tomorrow"}, "invalid @at time"),
        ({"spec": "@at 2027-01-01T08:00:00"}, "has no offset"),
        ({"spec": "@at 2020-01-01T08:00:00Z"}, "in the past"),
        ({"spec": "0 0 8 * * *", "time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"spec": "0 0 8 * * *", "time_zone": "../../etc/passwd"}, "unknown time zone"),
        ({"spec": "0 0 8 * * *", "time_zone": "Europe"}, "unknown time zone"),
        ({"spec": "@every 1m", "time_zone": "Europe/Berlin"}, "cron expressions only"),
        ({"spec": "0 0 0 30 2 *"}, "the server refused"),
        ({"session_id": "a.b"}, "session_id"),
        ({"message": ""}, "message"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_a_malformed_schedule_is_a_422_saying_what_is_wrong(
    post: Post, edge: Client, fields: dict[str, Any], says: str
) -> None:
    status, answer = await post(ALICE, **fields)
    assert status == 422, answer
    assert says in str(answer), answer
    listed = await (await edge.get("/v1/schedules", headers=key(ALICE))).json()
    assert listed == {"schedules": []}


async def test_a_bad_schedule_id_is_a_404_and_an_anonymous_caller_is_refused(edge: Client) -> None:
    for path in ("/v1/schedules/sch-0000000000000000/pause", "/v1/schedules/..%2f..%2fx/resume"):
        response = await edge.post(path, headers=key(ALICE))
        assert response.status == 404, await response.text()
    anonymous = await edge.get("/v1/schedules")
    assert anonymous.status == 401
