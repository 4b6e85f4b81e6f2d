"""`records.access` refusals as HTTP answers, in one place: a handler raises `Denied` (`Forbidden` 403,
`Hidden` 404) and this middleware answers it, with the reason and nothing of what was refused."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from records.access import Denied

from ..validation import error


@web.middleware
async def answer_denials(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Denied as denied:
        return error(denied.status, str(denied))


def install(app: web.Application) -> None:
    app.middlewares.append(answer_denials)
