"""The A2A door: agent cards and the A2A JSON-RPC endpoint, in the edge process.

Routes:
- `GET /.well-known/agent-card.json`: the install's card (its twins as skills; endpoint `/a2a`, the
  default twin, or the twin a message's `metadata.twin_id` names).
- `GET /a2a/{twin_id}/.well-known/agent-card.json`: one twin's card (endpoint `/a2a/{twin_id}`).
- `POST /a2a`, `POST /a2a/{twin_id}`: JSON-RPC, both A2A 1.0 (`SendMessage`, `SendStreamingMessage`,
  `GetTask`, `CancelTask`, `SubscribeToTask`, `GetExtendedAgentCard`) and 0.3 (`message/send`,
  `message/stream`, `tasks/get`, `tasks/cancel`, `tasks/resubscribe`, `agent/getAuthenticatedExtendedCard`).

The protocol is the SDK's: its `JsonRpcDispatcher` parses and validates each call, picks the method,
answers errors in JSON-RPC shape with A2A's codes, converts 0.3 calls, and streams SSE; it is a
Starlette endpoint, served here through the shared ASGI bridge (edge/doors/asgi.py) so the front door
(Host, Origin, key, rate limit, body size, route rules) runs first. What PAGI does for each method is
edge/doors/a2a_handler.py; the cards, edge/doors/a2a_cards.py; the task mapping, a2a_tasks.py.
"""

from __future__ import annotations

from typing import Any, Final

from a2a.server.context import ServerCallContext
from a2a.server.request_handlers.response_helpers import agent_card_to_dict, build_error_response
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.utils.errors import InternalError, InvalidRequestError
from aiohttp import web
from starlette.requests import Request as StarletteRequest

from bus_schemas.safe_json import PayloadError
from bus_schemas.subjects import TOKEN_RE

from ..appkeys import SETTINGS, STATE
from ..validation import error
from .a2a_cards import RPC_PATH, card_viewer, install_card, may_list, twin_card
from .a2a_handler import REQUEST, TWIN, PagiRequestHandler
from .asgi import Receive, Scope, Send, serve_asgi
from .errors import register_format
from .jsonrpc_body import BodyTooLarge, check_depth_only, read_bounded

CARD_PATH: Final = "/.well-known/agent-card.json"
DISPATCHER: Final = web.AppKey("a2a_dispatcher", JsonRpcDispatcher)


class DoorContextBuilder(DefaultServerCallContextBuilder):
    """The SDK's call context, carrying the aiohttp request (who calls) and the endpoint's twin."""

    def build(self, request: StarletteRequest) -> ServerCallContext:
        context = super().build(request)
        context.state[REQUEST] = request.scope[REQUEST]
        context.state[TWIN] = request.scope.get(TWIN)
        return context


def _rpc_error(status: int, message: str) -> web.Response:
    """A refusal made before the SDK saw the call, in JSON-RPC's shape, the HTTP status kept (a 401 is
    transport-level in A2A, and says how to authenticate)."""
    error = InternalError(message=message) if status >= 500 else InvalidRequestError(message=message)
    headers = {"WWW-Authenticate": 'Bearer realm="pagi"'} if status == 401 else None
    return web.json_response(build_error_response(None, error), status=status, headers=headers)


def format_refusal(request: web.Request, status: int, message: str) -> web.StreamResponse:
    """The front door's and the router's refusals on the door's paths (edge/doors/errors.py): JSON-RPC
    for the endpoint; a card is a plain JSON document, so a card's refusal stays PAGI's shape."""
    if request.method != "POST":
        return error(status, message)
    return _rpc_error(status, message)


async def get_install_card(request: web.Request) -> web.Response:
    viewer = card_viewer(request)
    twins = [t for t in await request.app[STATE].twins.list() if may_list(viewer, t)]
    return web.json_response(agent_card_to_dict(install_card(request, twins)))


async def get_twin_card(request: web.Request) -> web.Response:
    twin_id = request.match_info["twin_id"]
    twin = await request.app[STATE].twins.get(twin_id) if TOKEN_RE.fullmatch(twin_id) else None
    if twin is None or not may_list(card_viewer(request), twin):
        return error(404, f"no twin {twin_id}")
    return web.json_response(agent_card_to_dict(twin_card(request, twin)))


async def post_rpc(request: web.Request) -> web.StreamResponse:
    twin_id = request.match_info.get("twin_id")
    if twin_id is not None and not TOKEN_RE.fullmatch(twin_id):
        return _rpc_error(404, f"no twin {twin_id[:64]!r}")
    try:
        body = await read_bounded(request, request.app[SETTINGS].max_request_bytes)
        check_depth_only(body)  # the SDK's own decoder has no depth limit; ours first
    except BodyTooLarge as exc:
        return _rpc_error(413, str(exc))
    except PayloadError as exc:
        return _rpc_error(400, str(exc))
    dispatcher = request.app[DISPATCHER]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await dispatcher.handle_requests(StarletteRequest(scope, receive))
        await response(scope, receive, send)

    extra: dict[str, Any] = {REQUEST: request, TWIN: twin_id}
    return await serve_asgi(request, app, extra=extra, body=body)


def register(app: web.Application) -> None:
    app[DISPATCHER] = JsonRpcDispatcher(
        request_handler=PagiRequestHandler(app),
        context_builder=DoorContextBuilder(),
        enable_v0_3_compat=True,
    )
    register_format(app, "a2a", (f"{RPC_PATH}/", CARD_PATH), format_refusal)
    app.router.add_get(CARD_PATH, get_install_card)
    app.router.add_get(f"{RPC_PATH}/{{twin_id}}{CARD_PATH}", get_twin_card)
    app.router.add_post(RPC_PATH, post_rpc)
    app.router.add_post(f"{RPC_PATH}/{{twin_id}}", post_rpc)
