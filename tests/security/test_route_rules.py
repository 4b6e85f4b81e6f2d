"""Every route the edge serves has an authorization rule (edge/front/route_rules.py), and no rule names a
route that does not exist: a new route cannot ship without one."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge.app import make_app
from edge.front.route_rules import RULES, route_key
from edge.settings import EdgeSettings
from pagi.bus import Bus


def served_routes() -> set[tuple[str, str]]:
    app = make_app(EdgeSettings())
    return {
        route_key(route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "*"
    }


def test_every_route_has_an_authorization_rule() -> None:
    missing = sorted(served_routes() - set(RULES))
    assert not missing, f"routes without a rule in edge/front/route_rules.py: {missing}"


def test_every_rule_names_a_served_route() -> None:
    stale = sorted(set(RULES) - served_routes())
    assert not stale, f"rules for routes the edge no longer serves: {stale}"


def test_the_table_check_can_fail() -> None:
    app = make_app(EdgeSettings())

    async def handler(_: object) -> None:
        return None

    app.router.add_get("/v1/unruled", handler)  # type: ignore[arg-type]
    routes = {route_key(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}
    assert ("GET", "/v1/unruled") in routes - set(RULES)


async def test_a_route_without_a_rule_is_refused_by_the_front_door(bus: Bus) -> None:
    app = make_app(EdgeSettings(), bus=bus)

    async def unruled(_: web.Request) -> web.Response:
        return web.json_response({"served": True})

    app.router.add_get("/v1/unruled", unruled)
    async with TestClient(TestServer(app)) as client:
        refused = await client.get("/v1/unruled")
        assert refused.status == 403
        assert "no authorization rule" in (await refused.json())["error"]
        assert (await client.get("/v1/no-such-route")).status == 404  # an unknown path is still a 404
        assert (await client.get("/health")).status in (200, 503)  # a ruled route is served
