"""A web page on another origin in real Chromium against the edge in development mode (no keys), as
when the person running PAGI browses elsewhere (edge/front/origins.py):
- a page on another loopback port (a console the person runs beside PAGI, as the seed's is
  deployed) may open the chat WebSocket, but cannot write;
- a page on a name that is not loopback, even one that resolves to 127.0.0.1, can do neither;
- a DNS-rebound name reaches neither the API nor the WebSocket (the Host check).
Nothing the refused pages tried changes anything on the edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, Response, async_playwright

from .conftest import CHROMIUM, CHROMIUM_ARGS, Edge

ATTACK = """
async ({ edge, suffix }) => {
  const twin = (id) => JSON.stringify({ id, codename: "Evil", always_allow: ["command_exec"] });
  const out = {};
  try {
    // A "simple" request: sent without a CORS preflight; the page cannot read the answer, but the
    // edge would act on it.
    await fetch(edge + "/v1/twins", { method: "POST", mode: "no-cors", headers: { "Content-Type": "text/plain" },
                                       body: twin("evil-plain" + suffix) });
    out.plain = "sent";
  } catch (e) { out.plain = "blocked"; }
  try {
    const r = await fetch(edge + "/v1/twins", { method: "POST", headers: { "Content-Type": "application/json" },
                                                 body: twin("evil-json" + suffix) });
    out.json = r.status;
  } catch (e) { out.json = "blocked"; }
  out.ws = await new Promise((resolve) => {
    const ws = new WebSocket(edge.replace(/^http/, "ws") + "/ws/chat/alice");
    ws.onopen = () => { ws.close(); resolve("open"); };
    ws.onerror = () => resolve("refused");
    setTimeout(() => resolve("no answer"), 5000);
  });
  return out;
}
"""


@pytest.fixture
async def other_origin() -> AsyncIterator[str]:
    """Another site: a plain page served from another port of the same machine (loopback)."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>elsewhere</title><p>nothing to see", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/"))
    await server.close()


async def twin_ids(edge: Edge) -> set[str]:
    body = await (await edge.get("/v1/twins")).json()
    twins = body["twins"] if isinstance(body, dict) else body
    return {t["id"] for t in twins}


def edge_answers(page: Page) -> list[Response]:
    answers: list[Response] = []
    page.on("response", lambda r: answers.append(r) if "/v1/twins" in r.url else None)
    return answers


async def test_a_loopback_page_on_another_port_may_open_the_socket_but_not_write(
    browser: Browser, edge: Edge, other_origin: str
) -> None:
    page = await browser.new_page()
    answers = edge_answers(page)
    await page.goto(other_origin)
    result: dict[str, Any] = await page.evaluate(ATTACK, {"edge": str(edge.make_url("")).rstrip("/"), "suffix": ""})
    # The browser sent the text/plain POST; the edge refused it (403), it did not just go unread.
    assert result["plain"] == "sent"
    assert [r.status for r in answers if r.request.method == "POST"] == [403]
    assert result["json"] == "blocked"  # no CORS answer for a write, so the browser never sent it
    assert result["ws"] == "open"  # development mode: a loopback page may read across origins
    assert not {"evil-plain", "evil-json"} & await twin_ids(edge)

    # The same script from the edge's own page works: the refusal is about where it came from.
    await page.goto(str(edge.make_url("/")))
    own: dict[str, Any] = await page.evaluate(ATTACK, {"edge": str(edge.make_url("")).rstrip("/"), "suffix": "-own"})
    assert own["json"] == 201 or own["json"] == 200, own
    assert own["ws"] == "open"
    assert "evil-json-own" in await twin_ids(edge)
    await page.close()


async def test_a_page_on_a_name_that_is_not_loopback_can_neither_write_nor_open_the_socket(
    built_ui: object, edge: Edge, other_origin: str
) -> None:
    # The other server's page under a name of the internet's, which Chromium resolves to 127.0.0.1:
    # the page is served from this machine, but its Origin is not a loopback one.
    port = urlsplit(other_origin).port
    async with async_playwright() as pw:
        mapped = await pw.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP elsewhere.example 127.0.0.1"]
        )
        try:
            page = await mapped.new_page()
            answers = edge_answers(page)
            landing = await page.goto(f"http://elsewhere.example:{port}/")
            assert landing is not None and landing.status == 200
            edge_url = str(edge.make_url("")).rstrip("/")
            result: dict[str, Any] = await page.evaluate(ATTACK, {"edge": edge_url, "suffix": "-named"})
            assert result["plain"] == "sent"
            assert [r.status for r in answers if r.request.method == "POST"] == [403]
            assert result["json"] == "blocked"
            assert result["ws"] == "refused"
        finally:
            await mapped.close()
    assert not {"evil-plain-named", "evil-json-named"} & await twin_ids(edge)


async def test_a_dns_rebound_name_reaches_neither_the_api_nor_the_websocket(built_ui: object, edge: Edge) -> None:
    # Chromium resolves evil.example to the edge's address, as a rebinding attacker's DNS would: the
    # attacker's page and the edge are then the same origin, so only the Host header tells them apart.
    async with async_playwright() as pw:
        rebinding = await pw.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP evil.example 127.0.0.1"]
        )
        try:
            page = await rebinding.new_page()
            answers = edge_answers(page)
            rebound = f"http://evil.example:{edge.port}"
            landing = await page.goto(rebound + "/")
            assert landing is not None and landing.status == 421
            result: dict[str, Any] = await page.evaluate(ATTACK, {"edge": rebound, "suffix": "-rebound"})
            assert result["plain"] == "sent"
            assert result["json"] == 421
            assert result["ws"] == "refused"
            assert {r.status for r in answers if r.request.method == "POST"} == {421}
        finally:
            await rebinding.close()
    assert not {"evil-plain-rebound", "evil-json-rebound"} & await twin_ids(edge)
