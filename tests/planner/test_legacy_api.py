"""The seed's legacy entry points: /plan and /run, the dashboard aggregation, echo."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

from memory_worker.worker import MemoryWorker

Client = TestClient[web.Request, web.Application]


async def test_plan_runs_a_job_and_returns_its_plan_and_result(edge: Client) -> None:
    response = await edge.post(
        "/plan", json={"prompt": "hello, how are you?", "resources": ["doc://a"]}, headers={"X-Trace-ID": "abc123"}
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["status"] == "completed"
    assert [s["action_type"] for s in body["plan"]] == ["ActionResponse"]
    assert "hello, how are you?" in body["result"] and "doc://a" in body["result"]
    assert response.headers.get("X-Trace-ID")


async def test_run_is_an_alias_and_a_gated_step_answers_with_its_approval(edge: Client) -> None:
    response = await edge.post("/run", json={"prompt": "/memory open incidents", "session_id": "legacy-1"})
    body = await response.json()
    assert body["status"] == "awaiting_approval"
    assert body["approval_id"] and body["issued_command"]["command"] == "show_memory_page"
    pending = await (await edge.get("/v1/approvals", params={"session": "legacy-1"})).json()
    assert [a["approval_id"] for a in pending["approvals"]] == [body["approval_id"]]
    bad = await edge.post("/plan", json={"resources": []})
    assert bad.status == 400 and (await bad.json())["details"][0]["field"] == "prompt"


async def test_echo_keeps_the_request_id(edge: Client) -> None:
    response = await edge.post("/api/v1/echo", json={"ping": "pong?", "request_id": "r-1"})
    assert await response.json() == {"service": "edge", "received": "pong?", "request_id": "r-1"}
    generated = await edge.post("/api/v1/echo", json={"ping": "x"}, headers={"X-Request-Id": "hdr-7"})
    assert (await generated.json())["request_id"] == "hdr-7" == generated.headers["X-Request-Id"]


async def test_dashboard_marks_a_missing_source_failed_and_answers_the_rest(edge: Client) -> None:
    await edge.post("/plan", json={"prompt": "hi"})
    response = await edge.get("/api/v1/agi/dashboard-data", headers={"X-Request-Id": "dash-1"})
    assert response.status == 200 and response.headers["X-Request-Id"] == "dash-1"
    body = await response.json()
    assert body["jobs"]["status"] == "ok" and body["jobs"]["data"]["by_status"]["completed"] >= 1
    assert body["approvals"]["status"] == "ok"
    # No memory worker runs in this test: that part fails on its own, clearly.
    assert body["memory"]["status"] == "failed" and "memory" in body["memory"]["error"]


async def test_dashboard_reports_memory_namespaces_when_the_worker_runs(
    edge: Client, memory_worker: MemoryWorker
) -> None:
    body = await (await edge.get("/api/v1/agi/dashboard-data")).json()
    assert body["memory"]["status"] == "ok", body["memory"]
    assert isinstance(body["memory"]["data"]["namespaces"], dict)
