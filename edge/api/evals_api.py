"""`/v1/evals`: eval sets captured from recorded sessions, and their runs (records/evals.py; the
planner's eval runner answers `eval.run` with `eval.result`, and stores the result, which
`GET /v1/evals/{set}/runs/{run}` reads).

Who may do what: a set is seen by whoever may see its twin (records.access.may_see_twin) and every
session its cases were taken from (a case holds that session's messages); it is created, run and
deleted by whoever may change the twin (check_twin_change), and a case only from a session the
caller may read (an admin's read of someone else's is recorded in that session, as any). A run's
events go to a new session of the caller's, `eval-<run id>`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Final, cast

from aiohttp import web

from bus_schemas import Envelope
from bus_schemas.evals import EvalRun, EvalRunRequest, EvalRunStarted, EvalSet, EvalSetList, EvalSetView, EvalSetWrite
from bus_schemas.subjects import EVAL_RUN, TOKEN_RE
from records.access import Caller, Hidden, check_twin_change, may_see_twin, may_use_session
from records.evals import CaptureError, EvalStore, capture_set

from ..appkeys import BUS, OWNERS, STATE
from ..chat_in import recorded_as
from ..doors.errors import NOT_ACCEPTED
from ..front.auth import caller
from ..validation import conflict, not_found, unavailable
from .budgets_api import read_valid, unprocessable
from .read_access import keys_mode, reader_of_session

log = logging.getLogger("edge.access")
RECENT_RESULTS: Final = 20


def _token(request: web.Request, name: str) -> str:
    value = request.match_info[name]
    if not TOKEN_RE.fullmatch(value):
        raise not_found(f"no {name.replace('_', ' ')} {value[:64]!r}")
    return value


async def may_see_set(request: web.Request, who: Caller, s: EvalSet) -> bool:
    if who.is_admin:
        return True
    twin = await request.app[STATE].twins.get(s.twin_id)
    if twin is None or not may_see_twin(who, twin.owner):
        return False
    owners = request.app[OWNERS]
    for session_id in {c.session_id for c in s.cases}:
        if not may_use_session(who, await owners.owner(session_id)):
            return False
    return True


async def visible_set(request: web.Request, who: Caller, set_id: str) -> EvalSet:
    found = await (await EvalStore.open(request.app[BUS])).get(set_id)
    if found is None or not await may_see_set(request, who, found):
        raise Hidden(f"no eval set {set_id}")
    return found


async def changeable_set(request: web.Request, who: Caller, set_id: str) -> EvalSet:
    found = await visible_set(request, who, set_id)
    await _check_twin(request, who, found.twin_id)
    return found


async def _check_twin(request: web.Request, who: Caller, twin_id: str) -> None:
    twin = await request.app[STATE].twins.get(twin_id)
    if twin is None:
        raise Hidden(f"no twin {twin_id}")
    check_twin_change(who, twin_id, twin.owner)


async def list_sets(request: web.Request) -> web.Response:
    who = caller(request)
    twin = request.query.get("twin")
    if twin is not None and not TOKEN_RE.fullmatch(twin):
        raise unprocessable(f"invalid twin id {twin[:64]!r}")
    found = await (await EvalStore.open(request.app[BUS])).sets(twin)
    if who.is_admin and keys_mode(request):
        log.info("admin %s read the eval sets (turns of every session they were taken from)", who.user_id)
    visible = [s for s in found if await may_see_set(request, who, s)]
    return web.json_response(EvalSetList(sets=visible).model_dump(mode="json"))


async def create_set(request: web.Request) -> web.Response:
    write = cast(EvalSetWrite, await read_valid(request, EvalSetWrite))
    who = caller(request)
    await _check_twin(request, who, write.twin_id)
    for session_id in dict.fromkeys(c.session_id for c in write.cases):
        await reader_of_session(request, session_id, f"turns for eval set {write.set_id}")
    store = await EvalStore.open(request.app[BUS])
    if await store.get(write.set_id) is not None:
        raise conflict(f"eval set {write.set_id} exists already: delete it first or pick another id")
    state = request.app[STATE]
    try:
        captured = await capture_set(state.jobs, write, recorded_as(request, who), state.approvals)
    except CaptureError as exc:
        raise unprocessable(str(exc)) from None
    if not await store.create(captured):
        raise conflict(f"eval set {write.set_id} exists already: delete it first or pick another id")
    return web.json_response(captured.model_dump(mode="json"), status=201)


async def get_set(request: web.Request) -> web.Response:
    who = caller(request)
    found = await visible_set(request, who, _token(request, "set_id"))
    if who.is_admin and keys_mode(request):
        log.info("admin %s read eval set %s (turns of sessions %s)", who.user_id, found.set_id,
                 ", ".join(sorted({c.session_id for c in found.cases}))[:500])  # fmt: skip
    results = await (await EvalStore.open(request.app[BUS])).results(found.set_id)
    return web.json_response(EvalSetView(set=found, results=results[:RECENT_RESULTS]).model_dump(mode="json"))


async def delete_set(request: web.Request) -> web.Response:
    who = caller(request)
    found = await changeable_set(request, who, _token(request, "set_id"))
    if not await (await EvalStore.open(request.app[BUS])).delete(found.set_id):
        raise not_found(f"no eval set {found.set_id}")
    return web.Response(status=204)


async def start_run(request: web.Request) -> web.Response:
    options = cast(EvalRunRequest, await read_valid(request, EvalRunRequest))
    who = caller(request)
    found = await changeable_set(request, who, _token(request, "set_id"))
    run_id = uuid.uuid4().hex[:16]
    try:
        run = EvalRun(
            **options.model_dump(), run_id=run_id, set_id=found.set_id, requested_by=recorded_as(request, who)
        )
    except ValueError as exc:
        raise unprocessable(f"invalid run: {exc}"[:2000]) from None
    if run.prompt_version is not None:
        if await request.app[STATE].prompts.get(found.twin_id, run.prompt_version) is None:
            raise unprocessable(f"twin {found.twin_id} has no prompt version {run.prompt_version}")
    session_id = f"eval-{run_id}"
    await request.app[OWNERS].claim(session_id, who.user_id)
    event = Envelope[EvalRun](type=EVAL_RUN, session_id=session_id, twin_id=found.twin_id, body=run)
    try:
        await request.app[BUS].publish(event)
    except NOT_ACCEPTED as exc:
        raise unavailable(f"run not accepted: {exc}") from None
    started = EvalRunStarted(run_id=run_id, set_id=found.set_id, session_id=session_id)
    return web.json_response(started.model_dump(mode="json"), status=202)


async def get_run(request: web.Request) -> web.Response:
    who = caller(request)
    found = await visible_set(request, who, _token(request, "set_id"))
    run_id = _token(request, "run_id")
    result = await (await EvalStore.open(request.app[BUS])).result(found.set_id, run_id)
    if result is None:
        raise not_found(f"no result of run {run_id} of eval set {found.set_id} (yet)")
    return web.json_response(result.model_dump(mode="json"))


def register(app: web.Application) -> None:
    add = app.router
    add.add_get("/v1/evals", list_sets)
    add.add_post("/v1/evals", create_set)
    add.add_get("/v1/evals/{set_id}", get_set)
    add.add_delete("/v1/evals/{set_id}", delete_set)
    add.add_post("/v1/evals/{set_id}/runs", start_run)
    add.add_get("/v1/evals/{set_id}/runs/{run_id}", get_run)
