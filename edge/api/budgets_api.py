"""`/v1/budgets`: the spending limits per install, user and twin (records/budgets.py), with what each
period has spent so far.

An admin sees and sets every budget. A member sees the install's, their own user's, and those of
the twins they may see (records.access.may_see_twin); only an admin sets or removes one, since a
budget limits the one it names, not the one who sets it.

A scope or body that is well-formed JSON but not a budget is a 422 saying what is wrong; a body that
is not JSON (or nested too deep) stays the front door's 400.
"""

from __future__ import annotations

import logging
import re
from typing import Final, cast

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bus_schemas.budgets import BUDGET_PERIODS, BUDGET_SCOPE_PATTERN, BudgetList, BudgetPeriod, BudgetWrite
from records.access import Caller, may_see_twin
from records.budgets import GLOBAL, BudgetError, BudgetStore

from ..appkeys import BUS, STATE
from ..front.auth import caller
from ..validation import error, forbidden, not_found, read_model

log = logging.getLogger("edge.access")
SCOPE_RE: Final = re.compile(BUDGET_SCOPE_PATTERN)
SCOPE_HELP: Final = "scope: 'global', 'user:<user id>' or 'twin:<twin id>'"


def unprocessable(message: str, problems: list[dict[str, str]] | None = None) -> web.HTTPException:
    response = error(422, message, problems)
    return web.HTTPUnprocessableEntity(text=response.text, content_type="application/json")


async def read_valid(request: web.Request, model: type[BaseModel]) -> BaseModel:
    """`read_model`, with a body that parses but is not a `model` answered 422 rather than 400."""
    try:
        return await read_model(request, model)
    except web.HTTPBadRequest as exc:
        if isinstance(exc.__cause__, ValidationError):
            raise web.HTTPUnprocessableEntity(text=exc.text, content_type="application/json") from None
        raise


def _scope(request: web.Request) -> str:
    scope = request.match_info["scope"]
    if not SCOPE_RE.match(scope):
        raise unprocessable(f"invalid budget scope {scope[:80]!r}: {SCOPE_HELP}")
    return scope


def _admin(who: Caller, action: str) -> None:
    if not who.is_admin:
        raise forbidden(f"only an admin may {action} a budget")


async def visible_scopes(request: web.Request, who: Caller) -> list[str] | None:
    """None (every budget) for an admin; else the install's, the member's own and their twins'."""
    if who.is_admin:
        return None
    twins = await request.app[STATE].twins.list()
    return [GLOBAL, f"user:{who.user_id}", *(f"twin:{t.id}" for t in twins if may_see_twin(who, t.owner))]


async def list_budgets(request: web.Request) -> web.Response:
    who = caller(request)
    store = await BudgetStore.open(request.app[BUS])
    statuses = await store.statuses(await visible_scopes(request, who))
    return web.json_response(BudgetList(budgets=statuses).model_dump(mode="json"))


async def put_budget(request: web.Request) -> web.Response:
    # The body first: a body that is not JSON is a 400 whoever sends it and whatever the path says.
    write = cast(BudgetWrite, await read_valid(request, BudgetWrite))
    scope = _scope(request)
    who = caller(request)
    _admin(who, "set")
    try:
        budget = await (await BudgetStore.open(request.app[BUS])).put(scope, write, who.user_id)
    except BudgetError as exc:
        raise unprocessable(str(exc)) from None
    log.info("admin %s set the %s budget of %s", who.user_id, write.period, scope)
    return web.json_response(budget.model_dump(mode="json"))


async def delete_budget(request: web.Request) -> web.Response:
    scope = _scope(request)
    period = request.query.get("period", "")
    if period not in BUDGET_PERIODS:
        raise unprocessable(f"period: one of {', '.join(BUDGET_PERIODS)} (?period=day)")
    who = caller(request)
    _admin(who, "remove")
    if not await (await BudgetStore.open(request.app[BUS])).delete(scope, cast(BudgetPeriod, period)):
        raise not_found(f"no {period} budget of {scope}")
    log.info("admin %s removed the %s budget of %s", who.user_id, period, scope)
    return web.Response(status=204)


def register(app: web.Application) -> None:
    app.router.add_get("/v1/budgets", list_budgets)
    app.router.add_put("/v1/budgets/{scope}", put_budget)
    app.router.add_delete("/v1/budgets/{scope}", delete_budget)
