"""`/v1/mcp/servers`: the MCP server registry over HTTP (`records.mcp_servers`).

Every user may list the servers (a view has no secret: header names only); registering and removing
one is an admin's (`records.access.check_mcp_admin`): a stdio server is a command run on a host.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web

from bus_schemas.mcp import SERVER_NAME_PATTERN, McpServerList, McpServerWrite
from bus_schemas.streams import MCP_TOOLS
from pagi.secrets import SecretsUnavailable
from records.access import check_mcp_admin
from records.mcp_servers import McpServerError, McpServerExists, McpServerStore, server_status, view

from ..appkeys import BUS
from ..front.auth import caller
from ..validation import bad_request, conflict, not_found, read_model

log = logging.getLogger("edge.access")
_NAME = re.compile(SERVER_NAME_PATTERN)


async def _store(request: web.Request) -> McpServerStore:
    return await McpServerStore.open(request.app[BUS])


async def list_servers(request: web.Request) -> web.Response:
    servers = await (await _store(request)).list()
    statuses = await request.app[BUS].kv(MCP_TOOLS)
    views = [view(s).model_copy(update={"status": await server_status(statuses, s.name)}) for s in servers]
    return web.json_response(McpServerList(servers=views).model_dump(mode="json"))


async def add_server(request: web.Request) -> web.Response:
    who = caller(request)
    check_mcp_admin(who, "register")
    body = await read_model(request, McpServerWrite)
    try:
        server = await (await _store(request)).create(body, who.user_id)
    except McpServerExists as exc:
        raise conflict(str(exc)) from None
    except McpServerError as exc:
        raise bad_request(str(exc), [{"field": exc.field, "problem": exc.problem}]) from None
    except SecretsUnavailable as exc:
        raise bad_request(f"headers: {exc}", [{"field": "headers", "problem": str(exc)}]) from None
    # Names only: header values never reach a log line.
    log.info("admin %s registered MCP server %s (%s)", who.user_id, server.name, server.transport)
    return web.json_response(view(server).model_dump(mode="json"), status=201)


async def remove_server(request: web.Request) -> web.Response:
    who = caller(request)
    check_mcp_admin(who, "remove")
    name = request.match_info["name"]
    if not _NAME.match(name):
        raise bad_request(f"name: {name!r} is not an MCP server name (a lowercase letter, then a-z 0-9 _ -)")
    if not await (await _store(request)).delete(name):
        raise not_found(f"no MCP server {name}")
    log.info("admin %s removed MCP server %s", who.user_id, name)
    return web.Response(status=204)


def register(app: web.Application) -> None:
    app.router.add_get("/v1/mcp/servers", list_servers)
    app.router.add_post("/v1/mcp/servers", add_server)
    app.router.add_delete("/v1/mcp/servers/{name}", remove_server)
