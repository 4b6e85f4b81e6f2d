"""The usage ledger end to end: the planner's LLM calls against a local server speaking the
providers' real protocols, the usage events, the totals in KV USAGE, redeliveries, GET /v1/usage as
two members and an admin, and `pagi usage`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bus_schemas import Envelope
from bus_schemas.jobs import JobRecord
from bus_schemas.streams import USAGE, USAGE_LEDGER
from bus_schemas.subjects import USAGE_LLM, USAGE_RUN
from bus_schemas.usage import LlmUsage, RunUsage, UsageReport
from pagi.bus import Bus, Delivery, PullConsumer
from pagi.service import Route, start_routes
from planner.context import ContextBuilder
from planner.decider import Decider
from planner.ledger import LedgerHandler
from planner.llm import ChatMessage, config_for, llm_decide, make_provider
from planner.llm.guard import guarded_session
from planner.usage import UsageRecorder, estimate_tokens
from records.bundle import open_records
from records.prices import PriceTable
from records.twins import TwinStore
from records.usage import key_token

from ..fake_llm import FakeLLMServer, Family, Reply
from ..support import ObserveFactory, eventually
from .conftest import ALICE, BOB, PROVIDER_KEY, ROOT, Client, bearer, llm_twin, stored, total
from .conftest import counted as counted_total


def answer(content: str) -> str:
    return json.dumps({"action_type": "ActionResponse", "content": content})


def today() -> str:
    return datetime.now(UTC).date().isoformat()


async def chat(client: Client, key: str, twin_id: str, session_id: str, message: str = "hi") -> None:
    body = {"message": message, "twin_id": twin_id, "session_id": session_id}
    response = await client.post("/v1/chat", json=body, headers=bearer(key))
    assert response.status == 200, await response.text()


@pytest.mark.parametrize(("family", "reported"), [("anthropic", True), ("gemini", True), ("openai", False)])
async def test_each_call_is_one_usage_event_counted_into_every_total(
    secured: Client, bus: Bus, twins: TwinStore, fake_llm: FakeLLMServer, observe: ObserveFactory,
    session_id: str, family: Family, reported: bool,
) -> None:  # fmt: skip
    twin_id = await llm_twin(twins, fake_llm, family)
    priced = await secured.put(
        f"/v1/prices/{family}/fake-model",
        json={"input_per_million": 1.0, "output_per_million": 2.0},
        headers=bearer(ROOT),
    )
    assert priced.status == 200, await priced.text()
    text = "An answer long enough to be counted in tokens."
    fake_llm.script(Reply(answer(text), chunk_size=9))
    events = await observe(f"{USAGE_LLM}.{session_id}")
    await chat(secured, ALICE, twin_id, session_id)
    await events.wait_for(lambda e: len(e) >= 1)
    [event] = events.events
    usage: LlmUsage = event.body
    assert (usage.provider, usage.model, usage.twin_id, usage.user_id, usage.step) == (
        family, "fake-model", twin_id, "alice", 1
    )  # fmt: skip
    assert fake_llm.requests[0].streamed
    if reported:  # the fake reports 10 input tokens, and a quarter of the reply's characters
        assert (usage.input_tokens, usage.output_tokens, usage.estimated) == (10, len(answer(text)) // 4, False)
    else:  # OpenAI's stream carries no usage unless asked: estimated from the text
        assert usage.estimated and usage.input_tokens > 10 and usage.output_tokens >= estimate_tokens(text)
    assert usage.latency_ms > 0
    assert usage.cost == pytest.approx((usage.input_tokens * 1.0 + usage.output_tokens * 2.0) / 1e6)

    day = today()
    keys = [f"{day}.all.all", f"{day}.twin.{twin_id}", f"{day}.user.alice", f"{day}.session.{session_id}",
            f"{day}.model.{family}/fake-model", f"{day}.user-session.alice.{session_id}"]  # fmt: skip
    for key in keys:
        counted = await counted_total(bus, key)
        assert (counted.calls, counted.input_tokens, counted.output_tokens) == (
            1, usage.input_tokens, usage.output_tokens
        ), key  # fmt: skip
        assert counted.estimated_calls == int(not reported) and counted.cost == pytest.approx(usage.cost)


async def test_a_call_without_a_price_costs_unknown_not_zero(
    secured: Client, bus: Bus, twins: TwinStore, fake_llm: FakeLLMServer, observe: ObserveFactory, session_id: str
) -> None:
    twin_id = await llm_twin(twins, fake_llm, "anthropic")
    fake_llm.script(Reply(answer("unpriced")))
    events = await observe(f"{USAGE_LLM}.{session_id}")
    await chat(secured, ALICE, twin_id, session_id)
    await events.wait_for(lambda e: len(e) >= 1)
    assert events.events[0].body.cost is None
    counted = await counted_total(bus, f"{today()}.all.all")
    assert (counted.calls, counted.unpriced_calls, counted.cost) == (1, 1, None)


async def test_a_non_streamed_reply_reports_its_usage(bus: Bus, fake_llm: FakeLLMServer, session_id: str) -> None:
    config = config_for("openai", model="gpt-4o-mini", api_key=PROVIDER_KEY, base_url=fake_llm.openai_base_url)
    fake_llm.script(Reply(answer("not streamed")))
    job = JobRecord(
        job_id="j-nostream", session_id=session_id, twin_id="orchestrator", user_id="bob", message="hi",
        created_at=datetime.now(UTC), updated_at=datetime.now(UTC),
    )  # fmt: skip
    async with guarded_session({"PAGI_LLM_ALLOW_PRIVATE": "1"}) as http:
        decision = await llm_decide(make_provider(config, http), [ChatMessage("user", "hi")], None)
    assert not fake_llm.requests[0].streamed
    usage = await UsageRecorder(bus, await PriceTable.open(bus)).record(job, config, decision, "hi", 12.5)
    assert (usage.input_tokens, usage.estimated) == (10, False)
    # The shipped default price of the openai preset's default model.
    assert usage.cost == pytest.approx((10 * 0.15 + usage.output_tokens * 0.60) / 1e6)


async def test_a_redelivered_step_publishes_its_usage_once(
    bus: Bus, planner: list[PullConsumer], twins: TwinStore, fake_llm: FakeLLMServer, session_id: str
) -> None:
    """A crash after the model answered and before the step was recorded: the step is decided again
    (the model asked twice) and publishes the same event id; the stream keeps one, the ledger counts one."""
    twin_id = await llm_twin(twins, fake_llm, "anthropic")
    twin = await twins.get_or_default(twin_id)
    records = await open_records(bus)
    env = {"PAGI_LLM_ALLOW_PRIVATE": "1"}
    job = JobRecord(
        job_id="j-redelivered", session_id=session_id, twin_id=twin_id, user_id="alice", message="hi",
        created_at=datetime.now(UTC), updated_at=datetime.now(UTC),
    )  # fmt: skip
    fake_llm.script(Reply(answer("first")), Reply(answer("again")))

    async def no_chunks(text: str) -> None:
        return None

    async with guarded_session(env) as http:
        decide = Decider(ContextBuilder(bus, records.tools), http, env, UsageRecorder(bus, await PriceTable.open(bus)))
        await decide(job, twin, no_chunks)
        await decide(job, twin, no_chunks)
    assert len(fake_llm.requests) == 2
    assert await stored(bus, f"{USAGE_LLM}.{session_id}") == 1
    # A later event, counted after it: once the ledger has reached it, the first was counted once.
    marker = Envelope[Any](type=USAGE_RUN, session_id=session_id, body=RunUsage(kind="tool", name="t", wall_ms=5))
    seq = await bus.publish(marker)
    counted = await eventually(
        lambda: _at_least(bus, f"{today()}.session.{session_id}", seq), what="the ledger reaching the marker"
    )
    assert (counted.calls, counted.run_wall_ms) == (1, 5)


async def _at_least(bus: Bus, key: str, seq: int) -> Any:
    found = await total(bus, key)
    return found if found is not None and found.seq >= seq else None


class CrashAfterCounting:
    """The ledger, crashing after it counted (before the ack) on an event's first delivery."""

    def __init__(self, ledger: LedgerHandler) -> None:
        self.ledger = ledger
        self.attempts: list[int] = []

    async def __call__(self, event: Envelope[Any], delivery: Delivery) -> None:
        self.attempts.append(delivery.attempt)
        await self.ledger(event, delivery)
        if delivery.attempt == 1:
            raise RuntimeError("crashed before the ack")


async def test_a_redelivered_usage_event_is_counted_once(bus: Bus, session_id: str) -> None:
    handler = CrashAfterCounting(LedgerHandler(await bus.kv(USAGE)))
    [consumer] = await start_routes(bus, [Route(USAGE_LEDGER, handler, max_in_flight=1)])
    try:
        usage = LlmUsage(provider="anthropic", model="m.1", input_tokens=7, output_tokens=3, latency_ms=1,
                         cost=0.5, twin_id="tw", user_id="ann@example.org", step=1)  # fmt: skip
        await bus.publish(Envelope[Any](type=USAGE_LLM, session_id=session_id, body=usage))
        await eventually(lambda: handler.attempts[-1:] == [2], what="the redelivery")
    finally:
        await consumer.stop()
    day = today()
    for key in (f"{day}.all.all", f"{day}.user.{key_token('ann@example.org')}", f"{day}.model.anthropic/m=2E1"):
        counted = await total(bus, key)
        assert counted is not None and (counted.calls, counted.input_tokens, counted.cost) == (1, 7, 0.5), key


async def test_usage_over_http_a_member_sees_only_their_own(
    secured: Client, bus: Bus, twins: TwinStore, fake_llm: FakeLLMServer, session_id: str
) -> None:
    twin_id = await llm_twin(twins, fake_llm, "anthropic")
    bobs = f"{session_id}-bob"
    fake_llm.script(Reply(answer("for alice")), Reply(answer("for bob, a little longer")))
    await chat(secured, ALICE, twin_id, session_id)
    await chat(secured, BOB, twin_id, bobs)
    await eventually(lambda: _calls(bus, f"{today()}.all.all", 2), what="both calls counted")

    async def get(key: str, by: str) -> UsageReport:
        response = await secured.get(f"/v1/usage?by={by}", headers=bearer(key))
        assert response.status == 200, await response.text()
        return UsageReport.model_validate(await response.json())

    alice = await get(ALICE, "session")
    assert [t.key for t in alice.top_sessions] == [session_id] == [g.key for g in alice.groups]
    assert alice.total.calls == 1 and alice.days[-1].input_tokens == 10 and len(alice.days) == 30
    assert [g.key for g in (await get(ALICE, "user")).groups] == ["alice"]
    assert [(g.key, g.calls) for g in (await get(ALICE, "twin")).groups] == [(twin_id, 1)]
    assert [(g.key, g.calls) for g in (await get(BOB, "model")).groups] == [("anthropic/fake-model", 1)]
    assert bobs not in json.dumps((await get(ALICE, "session")).model_dump(mode="json"))
    admin = await get(ROOT, "user")
    assert sorted(g.key for g in admin.groups) == ["alice", "bob"] and admin.total.calls == 2
    assert {t.key for t in admin.top_sessions} == {session_id, bobs}
    assert (await get(ROOT, "twin")).groups[0].calls == 2

    window = await secured.get("/v1/usage?by=twin&since=2020-01-01&until=2020-01-31", headers=bearer(ROOT))
    assert (await window.json())["total"]["calls"] == 0
    for bad in ("by=nobody", "since=yesterday", "since=2026-02-01&until=2026-01-01"):
        assert (await secured.get(f"/v1/usage?{bad}", headers=bearer(ROOT))).status == 400, bad
    member_write = await secured.put(
        "/v1/prices/openai/gpt-4o-mini", json={"input_per_million": 0, "output_per_million": 0}, headers=bearer(ALICE)
    )
    assert member_write.status == 403
    prices = await (await secured.get("/v1/prices", headers=bearer(BOB))).json()
    assert {"provider": "openai", "model": "gpt-4o-mini"}.items() <= prices["prices"][
        [p["model"] for p in prices["prices"]].index("gpt-4o-mini")
    ].items()


async def _calls(bus: Bus, key: str, calls: int) -> bool:
    found = await total(bus, key)
    return found is not None and found.calls >= calls
