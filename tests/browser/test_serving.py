"""How the edge serves the built UI (edge/web_ui.py): the page, its assets, client routes, no build yet."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge import web_ui


def _built(root: Path) -> Path:
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text('<div id="app"></div><script type="module" src="/assets/app-1.js"></script>')
    (root / "assets" / "app-1.js").write_text("console.log('pagi')")
    (root.parent / "secret.txt").write_text("not for the web")
    return root


async def _client(web_dir: Path) -> TestClient[web.Request, web.Application]:
    app = web.Application()
    web_ui.register(app, web_dir)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_the_page_its_assets_and_client_routes(tmp_path: Path) -> None:
    client = await _client(_built(tmp_path / "dist"))
    try:
        for path in (
            "/",
            "/search",
            "/twins/ada",
            "/twins/ada/settings",
            "/jobs/j1?session=s1",
            "/usage",
            "/sessions/s1",
            "/schedules",
        ):
            response = await client.get(path)
            assert response.status == 200, path
            assert '<div id="app">' in await response.text()
            assert response.headers["Cache-Control"] == "no-cache"
        asset = await client.get("/assets/app-1.js")
        assert asset.status == 200 and "immutable" in asset.headers["Cache-Control"]
        assert (await client.get("/assets/../../secret.txt")).status in (403, 404)
        assert (await client.get("/assets/missing.js")).status == 404
        assert (await client.get("/v1/not-a-client-route")).status == 404
    finally:
        await client.close()


async def test_before_a_build_the_page_says_how_to_make_one(tmp_path: Path) -> None:
    client = await _client(tmp_path / "dist")
    try:
        for path in ("/", "/assets/app.js"):
            response = await client.get(path)
            assert response.status == 503
            assert "npm ci && npm run build" in await response.text()
    finally:
        await client.close()
