"""`/v1/usage`: the usage ledger's totals (records/usage.py); `/v1/prices`: the price table.

A member sees their own usage only (read from their own keys: their user total, their sessions);
an admin sees everyone's. Everyone may read the prices; an admin sets one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import cast

from aiohttp import web

from bus_schemas.streams import USAGE
from bus_schemas.usage import USAGE_GROUPINGS, Price, PriceList, PriceWrite, UsageGrouping
from records.prices import PriceTable
from records.usage import parse_bound, report

from ..appkeys import BUS
from ..front.auth import caller
from ..validation import bad_request, forbidden, read_model

log = logging.getLogger("edge.access")
MAX_NAME = 200


async def get_usage(request: web.Request) -> web.Response:
    who = caller(request)
    by = request.query.get("by", "twin")
    if by not in USAGE_GROUPINGS:
        raise bad_request(f"by: one of {', '.join(USAGE_GROUPINGS)}")
    try:
        since, until = parse_bound(request.query.get("since")), parse_bound(request.query.get("until"))
        kv = await request.app[BUS].kv(USAGE)
        answer = await report(kv, cast(UsageGrouping, by), since, until, None if who.is_admin else who.user_id)
    except (ValueError, OverflowError) as exc:
        raise bad_request(f"since/until: {exc} (unix seconds or an ISO date)") from None
    return web.json_response(answer.model_dump(mode="json"))


async def get_prices(request: web.Request) -> web.Response:
    prices = await (await PriceTable.open(request.app[BUS])).all()
    return web.json_response(PriceList(prices=prices).model_dump(mode="json"))


async def put_price(request: web.Request) -> web.Response:
    who = caller(request)
    if not who.is_admin:
        raise forbidden("only an admin may set a price")
    provider, model = request.match_info["provider"], request.match_info["model"]
    if not (0 < len(provider) <= 40 and 0 < len(model) <= MAX_NAME):
        raise bad_request("provider: 1-40 characters, model: 1-200")
    body = await read_model(request, PriceWrite)
    price = Price(
        provider=provider,
        model=model,
        input_per_million=body.input_per_million,
        output_per_million=body.output_per_million,
        as_of=body.as_of or datetime.now(UTC).date(),
    )
    await (await PriceTable.open(request.app[BUS])).put(price)
    log.info("admin %s set the price of %s/%s", who.user_id, provider, model)
    return web.json_response(price.model_dump(mode="json"))


def register(app: web.Application) -> None:
    app.router.add_get("/v1/usage", get_usage)
    app.router.add_get("/v1/prices", get_prices)
    # A model name may hold a slash (openrouter's `openai/gpt-4o-mini`).
    app.router.add_put("/v1/prices/{provider}/{model:.+}", put_price)
