"""The twins and their prompt versions over HTTP: `/v1/twins...` (the records are `records.twins` and
`records.prompts`; the planner reads the same records per job)."""

from __future__ import annotations

from aiohttp import web

from bus_schemas.subjects import TOKEN_RE
from bus_schemas.twin import Twin, TwinCreate, TwinWrite
from bus_schemas.web import RollbackRequest
from pagi.secrets import SecretsUnavailable
from records.access import Hidden, check_twin_change, may_see_twin
from records.blueprints import BLUEPRINTS
from records.endpoints import EndpointRefused, check_twin_base_url
from records.mcp_servers import McpServerStore
from records.prompts import prompt_diff, roll_back
from records.twins import TwinError

from ..appkeys import BUS, STATE
from ..front.auth import caller
from ..validation import bad_request, conflict, not_found, read_model


def _twin_id(request: web.Request) -> str:
    twin_id = request.match_info["twin_id"]
    if not TOKEN_RE.match(twin_id):
        raise bad_request(f"invalid twin id {twin_id!r}: use 1-64 characters of A-Z a-z 0-9 _ -")
    return twin_id


async def visible_twin(request: web.Request, twin_id: str) -> Twin:
    """The twin, if the caller may see it (`records.access.may_see_twin`); else a `Hidden`, as for
    a twin that does not exist: another user's private twin is not even said to exist."""
    twin = await request.app[STATE].twins.get(twin_id)
    if twin is None or not may_see_twin(caller(request), twin.owner):
        raise Hidden(f"no twin {twin_id}")
    return twin


async def changeable_twin(request: web.Request, twin_id: str) -> Twin:
    """The twin, if the caller may change it and its policy (`records.access.check_twin_change`)."""
    twin = await request.app[STATE].twins.get(twin_id)
    if twin is None:
        raise Hidden(f"no twin {twin_id}")
    check_twin_change(caller(request), twin_id, twin.owner)
    return twin


async def _view(request: web.Request, twin: Twin, registered: set[str] | None = None) -> dict[str, object]:
    """The twin as served, with the MCP servers its policy names that are not registered."""
    if registered is None:
        registered = await (await McpServerStore.open(request.app[BUS])).names()
    view = await request.app[STATE].twins.view(twin, registered)
    return view.model_dump(mode="json")


async def list_twins(request: web.Request) -> web.Response:
    store = request.app[STATE].twins
    who = caller(request)
    registered = await (await McpServerStore.open(request.app[BUS])).names()
    views = [await _view(request, t, registered) for t in await store.list() if may_see_twin(who, t.owner)]
    return web.json_response({"twins": views})


async def create_twin(request: web.Request) -> web.Response:
    raw = await read_model(request, TwinCreate)
    store = request.app[STATE].twins
    who = caller(request)
    # An admin's twin is shared (changed by admins only); a member's is private to them.
    owner = None if who.is_admin else who.user_id
    try:
        await check_twin_base_url(raw.base_url)
        twin = await store.create(raw.id, TwinWrite.model_validate(raw.model_dump(exclude={"id"})), owner)
    except TwinError as exc:
        raise conflict(str(exc)) if "already exists" in str(exc) else bad_request(str(exc)) from exc
    except (SecretsUnavailable, EndpointRefused) as exc:
        raise bad_request(str(exc)) from exc
    return web.json_response(await _view(request, twin), status=201)


async def get_twin(request: web.Request) -> web.Response:
    twin = await visible_twin(request, _twin_id(request))
    return web.json_response(await _view(request, twin))


async def put_twin(request: web.Request) -> web.Response:
    twin_id = _twin_id(request)
    await changeable_twin(request, twin_id)
    settings = await read_model(request, TwinWrite)
    store = request.app[STATE].twins
    # The owner is not among the settings: `replace` keeps it, so it never changes over the API.
    try:
        await check_twin_base_url(settings.base_url)
        twin = await store.replace(twin_id, settings)
    except (TwinError, SecretsUnavailable, EndpointRefused) as exc:
        raise bad_request(str(exc)) from exc
    if twin is None:
        raise not_found(f"no twin {twin_id}")
    return web.json_response(await _view(request, twin))


async def delete_twin(request: web.Request) -> web.Response:
    twin_id = _twin_id(request)
    await changeable_twin(request, twin_id)
    if not await request.app[STATE].twins.delete(twin_id):
        raise not_found(f"no twin {request.match_info['twin_id']}")
    return web.Response(status=204)


async def get_blueprints(request: web.Request) -> web.Response:
    return web.json_response({"blueprints": BLUEPRINTS})


# --- prompt versions ------------------------------------------------------------------------------


async def list_prompt_versions(request: web.Request) -> web.Response:
    twin_id = _twin_id(request)
    twin = await visible_twin(request, twin_id)
    records = request.app[STATE]
    versions = await records.prompts.versions(twin_id)
    return web.json_response(
        {
            "twin_id": twin_id,
            "current": await records.prompts.current(twin_id, twin),
            "versions": [v.model_dump(mode="json", exclude={"prompt"}) for v in versions],
        }
    )


async def get_prompt_version(request: web.Request) -> web.Response:
    twin_id = _twin_id(request)
    try:
        number = int(request.match_info["version"])
        against = int(request.query["against"]) if "against" in request.query else None
    except ValueError as exc:
        raise bad_request("versions are whole numbers") from exc
    twin = await visible_twin(request, twin_id)
    state = request.app[STATE]
    version = await state.prompts.get(twin_id, number)
    if version is None:
        raise not_found(f"twin {twin_id} has no prompt version {number}")
    if against is not None:
        base = await state.prompts.get(twin_id, against)
        if base is None:
            raise not_found(f"twin {twin_id} has no prompt version {against}")
        base_prompt = base.prompt
    else:
        base_prompt = twin.directive_logic
    return web.json_response({**version.model_dump(mode="json"), "diff": prompt_diff(base_prompt, version.prompt)})


async def rollback_prompt(request: web.Request) -> web.Response:
    twin_id = _twin_id(request)
    await changeable_twin(request, twin_id)
    body = await read_model(request, RollbackRequest)
    records = request.app[STATE]
    if await roll_back(records.twins, records.prompts, twin_id, body.version) is None:
        raise not_found(f"twin {twin_id} has no prompt version {body.version}")
    return web.json_response({"twin_id": twin_id, "current": body.version})


def register(app: web.Application) -> None:
    add = app.router
    add.add_get("/v1/twins", list_twins)
    add.add_post("/v1/twins", create_twin)
    add.add_get("/v1/twins/blueprints", get_blueprints)
    add.add_get("/v1/twins/{twin_id}", get_twin)
    add.add_put("/v1/twins/{twin_id}", put_twin)
    add.add_delete("/v1/twins/{twin_id}", delete_twin)
    add.add_get("/v1/twins/{twin_id}/prompt/versions", list_prompt_versions)
    add.add_get("/v1/twins/{twin_id}/prompt/versions/{version}", get_prompt_version)
    add.add_post("/v1/twins/{twin_id}/prompt/rollback", rollback_prompt)
