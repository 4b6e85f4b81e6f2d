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
