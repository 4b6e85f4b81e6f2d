"""Request bodies that are not UTF-8 (found by schemathesis): a 400 saying so, never a 500."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

Client = TestClient[web.Request, web.Application]


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/twins"), ("PUT", "/v1/twins/orchestrator"), ("POST", "/v1/approvals/a1"), ("POST", "/v1/chat")],
)
async def test_a_body_that_is_not_utf8_is_a_clear_400(edge: Client, method: str, path: str) -> None:
    response = await edge.request(method, path, data=b"7\x80\x02", headers={"Content-Type": "application/json"})
    assert response.status == 400, await response.text()
    assert "not valid JSON" in (await response.json())["error"]


@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("POST", "/cancel")])
async def test_a_job_id_that_cannot_be_a_key_is_not_found_not_a_500(edge: Client, method: str, suffix: str) -> None:
    response = await edge.request(method, f"/v1/jobs/%09%C3%9D%C2%97{suffix}", json={})
    assert response.status == 404, await response.text()
