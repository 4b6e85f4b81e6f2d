"""`/v1/schedules`: messages sent to a twin on a schedule (bus_schemas/schedules.py; fired by the
server, run by planner/schedules.py).

A member schedules only into a session they may use (a new session becomes theirs) and to a twin
they may see, and sees and changes only their own schedules; an admin sees and changes every one.
Someone else's schedule is answered as if it did not exist. A spec or time zone that is not one is
a 422 saying what to write; a body that is not JSON (or nested too deep) stays the front door's 400.
"""

from __future__ import annotations

import logging
import re
from typing import cast

from aiohttp import web

from bus_schemas.schedules import SCHEDULE_ID_PATTERN, Schedule, ScheduleList, ScheduleToggle, ScheduleWrite
from records import schedules
from records.access import Caller, Hidden, check_session, may_see_twin
from records.schedules import ScheduleConflict, ScheduleError, ScheduleStore

from ..appkeys import BUS, OWNERS, STATE
from ..front.auth import caller
from ..validation import error
from .budgets_api import read_valid, unprocessable

log = logging.getLogger("edge.access")
_ID_RE = re.compile(SCHEDULE_ID_PATTERN)


async def _store(request: web.Request) -> ScheduleStore:
    return await ScheduleStore.open(request.app[BUS])


async def _own(request: web.Request, who: Caller) -> tuple[ScheduleStore, Schedule]:
    """The schedule the path names, if the caller may see it (its owner, or an admin)."""
    schedule_id = request.match_info["schedule_id"]
    store = await _store(request)
    found = await store.get(schedule_id) if _ID_RE.match(schedule_id) else None
    if found is None or not (who.is_admin or found.owner == who.user_id):
        raise Hidden(f"no schedule {schedule_id[:64]!r}")
    return store, found


async def list_schedules(request: web.Request) -> web.Response:
    who = caller(request)
    schedules = await (await _store(request)).list(None if who.is_admin else who.user_id)
    return web.json_response(ScheduleList(schedules=schedules).model_dump(mode="json"))


async def create_schedule(request: web.Request) -> web.Response:
    write = cast(ScheduleWrite, await read_valid(request, ScheduleWrite))
    who = caller(request)
    twin = await request.app[STATE].twins.get(write.twin_id)
    if twin is None or not may_see_twin(who, twin.owner):
        raise Hidden(f"no twin {write.twin_id}")
    owner = await request.app[OWNERS].claim(write.session_id, who.user_id)
    if owner is None:
        raise Hidden(f"no session {write.session_id} of yours")
    check_session(who, write.session_id, owner)
    try:
        schedule = await schedules.add(request.app[BUS], await _store(request), write, who.user_id, who.role)
    except ScheduleError as exc:
        raise unprocessable(str(exc)) from None
    log.info("%s scheduled %s to twin %s in session %s: %s", who.user_id, schedule.id, twin.id, owner, schedule.spec)
    return web.json_response(schedule.model_dump(mode="json"), status=201)


async def delete_schedule(request: web.Request) -> web.Response:
    who = caller(request)
    store, found = await _own(request, who)
    await schedules.remove(request.app[BUS], store, found.id)
    log.info("%s removed schedule %s of %s", who.user_id, found.id, found.owner)
    return web.Response(status=204)


async def pause_schedule(request: web.Request) -> web.Response:
    await read_valid(request, ScheduleToggle)
    who = caller(request)
    store, found = await _own(request, who)
    paused = await schedules.pause(request.app[BUS], store, found.id)
    if paused is None:
        raise Hidden(f"no schedule {found.id}")
    return web.json_response(paused.model_dump(mode="json"))


async def resume_schedule(request: web.Request) -> web.Response:
    await read_valid(request, ScheduleToggle)
    who = caller(request)
    store, found = await _own(request, who)
    try:
        resumed = await schedules.resume(request.app[BUS], store, found.id)
    except ScheduleConflict as exc:
        raise web.HTTPConflict(text=error(409, str(exc)).text, content_type="application/json") from None
    if resumed is None:
        raise Hidden(f"no schedule {found.id}")
    return web.json_response(resumed.model_dump(mode="json"))


def register(app: web.Application) -> None:
    app.router.add_get("/v1/schedules", list_schedules)
    app.router.add_post("/v1/schedules", create_schedule)
    app.router.add_delete("/v1/schedules/{schedule_id}", delete_schedule)
    app.router.add_post("/v1/schedules/{schedule_id}/pause", pause_schedule)
    app.router.add_post("/v1/schedules/{schedule_id}/resume", resume_schedule)
