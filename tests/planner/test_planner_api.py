"""The edge's HTTP API over approvals, jobs, twins and prompt versions, against the real stack."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bus_schemas.streams import TWINS
from bus_schemas.subjects import CHAT_OUT, one_session
from pagi.bus import Bus
from pagi.secrets import new_secret_key

from ..support import EventCollector, ObserveFactory

Client = TestClient[web.Request, web.Application]


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGI_SECRET_KEY", new_secret_key())


async def chat(edge: Client, message: str, session_id: str, twin_id: str = "orchestrator") -> dict[str, Any]:
    response = await edge.post("/v1/chat", json={"message": message, "twin_id": twin_id, "session_id": session_id})
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def final_answer(events: EventCollector, count: int = 1) -> Any:
    def finals(_: Any) -> bool:
        return len([e for e in events.of_type(CHAT_OUT) if e.body.status not in ("awaiting_approval",)]) >= count

    await events.wait_for(finals, 15)
    return [e for e in events.of_type(CHAT_OUT) if e.body.status != "awaiting_approval"][count - 1]


async def test_a_gated_chat_answers_with_the_pending_approval_and_http_approves_it(
    edge: Client, observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    first = await chat(edge, "/improve You are terse.", session_id)
    assert first["status"] == "awaiting_approval"
    command = first["issued_command"]
    assert command["command"] == "self_improve" and "+You are terse." in command["diff"]

    listed = await (await edge.get("/v1/approvals", params={"session": session_id})).json()
    [pending] = listed["approvals"]
    assert pending["approval_id"] == command["approval_id"] and pending["kind"] == "self_improve"

    approve = await edge.post(f"/v1/approvals/{pending['approval_id']}", json={"approved": True, "decided_by": "bo"})
    assert approve.status == 202
    answer = await final_answer(events)
    assert "is now version 2" in answer.body.content

    again = await edge.post(f"/v1/approvals/{pending['approval_id']}", json={"approved": False})
    assert again.status == 409 and "already approved" in (await again.json())["error"]
    assert (await edge.post("/v1/approvals/nope", json={"approved": True})).status == 404
    bad = await edge.post(f"/v1/approvals/{pending['approval_id']}", json={"approved": "maybe"})
    assert bad.status == 400 and (await bad.json())["details"][0]["field"] == "approved"

    versions = await (await edge.get("/v1/twins/orchestrator/prompt/versions")).json()
    assert versions["current"] == 2 and [v["version"] for v in versions["versions"]] == [1, 2]
    original = await (await edge.get("/v1/twins/orchestrator/prompt/versions/1", params={"against": "2"})).json()
    assert "-You are terse." in original["diff"]
    rollback = await edge.post("/v1/twins/orchestrator/prompt/rollback", json={"version": 1})
    assert rollback.status == 200
    twin = await (await edge.get("/v1/twins/orchestrator")).json()
    assert twin["directive_logic"] == original["prompt"]


async def test_cancel_a_job_waiting_for_approval(edge: Client, observe: ObserveFactory, session_id: str) -> None:
    events = await observe(one_session(session_id))
    pending = await chat(edge, "/memory something", session_id)
    cancel = await edge.post(f"/v1/jobs/{pending['job_id']}/cancel", json={"reason": "wrong question"})
    assert cancel.status == 202
    answer = await final_answer(events)
    assert answer.body.status == "cancelled" and "wrong question" in answer.body.content
    job = await (await edge.get(f"/v1/jobs/{pending['job_id']}")).json()
    assert job["status"] == "cancelled"
    again = await edge.post(f"/v1/jobs/{pending['job_id']}/cancel", json={})
    assert again.status == 409
    assert (await edge.post("/v1/jobs/unknown/cancel", json={})).status == 404


async def test_twin_crud_keeps_the_api_key_write_only(edge: Client, bus: Bus) -> None:
    key = "sk-test-" + "z" * 32
    created = await edge.post(
        "/v1/twins",
        json={"id": "sentinel", "codename": "Sentinel", "designation": "SOC analyst", "api_key": key,
              "provider": "openrouter", "model": "some/model", "allowed_tools": ["file_read"]},
    )  # fmt: skip
    text = await created.text()
    assert created.status == 201, text
    assert key not in text
    view = await created.json()
    assert view["has_api_key"] is True and "api_key" not in view and view["status"] == "idle"
    stored = await (await bus.kv(TWINS)).get("twin.sentinel")
    assert stored is not None and key.encode() not in stored[0]

    assert (await edge.post("/v1/twins", json={"id": "sentinel", "codename": "x"})).status == 409
    listed = await (await edge.get("/v1/twins")).json()
    assert {"orchestrator", "sentinel"} <= {t["id"] for t in listed["twins"]}

    # A PUT is the whole twin: the same provider (and base URL) keeps the key; another would drop it.
    same_place = {"provider": "openrouter", "model": "some/model"}
    updated = await edge.put("/v1/twins/sentinel", json={"codename": "Sentinel II", "temperature": 1.2, **same_place})
    assert updated.status == 200
    after = await updated.json()
    assert after["codename"] == "Sentinel II" and after["has_api_key"] is True

    too_hot = await edge.put("/v1/twins/sentinel", json={"codename": "x", "temperature": 2})
    assert too_hot.status == 400 and (await too_hot.json())["details"][0]["field"] == "temperature"
    huge = base64.b64encode(b"\0" * (2 * 1024 * 1024 + 1)).decode()
    big_avatar = await edge.put("/v1/twins/sentinel", json={"codename": "x", "avatar": f"data:image/png;base64,{huge}"})
    assert big_avatar.status == 400 and "over the 2097152 byte limit" in (await big_avatar.json())["error"]
    svg = base64.b64encode(b"<svg/>" * 10).decode()
    small = await edge.put("/v1/twins/sentinel", json={"codename": "x", "avatar": f"data:image/svg+xml;base64,{svg}"})
    assert small.status == 200
    not_image = await edge.put("/v1/twins/sentinel", json={"codename": "x", "avatar": "http://example.com/a.png"})
    assert not_image.status == 400

    assert (await edge.delete("/v1/twins/sentinel")).status == 204
    assert (await edge.get("/v1/twins/sentinel")).status == 404
    assert (await edge.get("/v1/twins/bad.id")).status == 400
    blueprints = await (await edge.get("/v1/twins/blueprints")).json()
    assert set(blueprints["blueprints"]) == {"red_team_ops", "threat_hunter", "policy_audit"}


async def test_storing_an_api_key_without_a_secret_key_is_refused(
    edge: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAGI_SECRET_KEY")
    response = await edge.post("/v1/twins", json={"id": "keyless", "codename": "K", "api_key": "sk-1"})
    assert response.status == 400
    assert "PAGI_SECRET_KEY is not set" in (await response.json())["error"]
