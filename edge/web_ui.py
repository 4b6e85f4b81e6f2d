"""The browser UI: the single-page app built into `web/dist` (`npm run build` in `web/`, which `make run`
and `make test` do), with `index.html` answering the app's own client-side routes.

Hashed bundles live under `/assets/` and never change, so they may be cached for a long time; the
page itself is `no-cache`, so a new build is picked up on the next load. Before a build exists the
page says how to make one instead of failing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from aiohttp import web

# Paths the SPA routes on the client (web/src/router.ts); a reload on any of them gets the page.
CLIENT_ROUTES: Final = (
    "/search", "/twins/{rest:.*}", "/jobs/{rest:.*}", "/settings/{rest:.*}", "/usage", "/sessions/{rest:.*}",
    "/schedules",
)  # fmt: skip
NOT_BUILT: Final = (
    "The PAGI web UI is not built yet. Run `make run` (it builds it), or `npm ci && npm run build` in web/.\n"
)


def register(app: web.Application, web_dir: Path) -> None:
    index = web_dir / "index.html"
    assets = web_dir / "assets"

    async def get_index(request: web.Request) -> web.StreamResponse:
        if not index.is_file():
            return web.Response(status=503, text=NOT_BUILT, content_type="text/plain")
        return web.FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.router.add_get("/", get_index)
    for route in CLIENT_ROUTES:
        app.router.add_get(route, get_index)
    if assets.is_dir():
        app.router.add_static("/assets/", assets, show_index=False)
    else:

        async def not_built(request: web.Request) -> web.Response:
            return web.Response(status=503, text=NOT_BUILT, content_type="text/plain")

        app.router.add_get("/assets/{rest:.*}", not_built)

    async def long_cache(request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith("/assets/") and response.status == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"

    app.on_response_prepare.append(long_cache)
