"""`pagi replay --rerun` reuses an LLM twin's recorded decisions: no provider call, and a change in
how a reply parses shows up as a divergence instead of a new model answer."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from bus_schemas.subjects import PLAN_ACTION
from pagi.bus import Bus
from pagi_cli.replay import timeline
from pagi_cli.rerun import format_report, rerun_session
from records.twins import TwinStore

from ..fake_llm import FakeLLMServer, Reply
from .test_llm_planner import answer, llm_twin, secret_key  # noqa: F401  (fixtures)

Client = TestClient[web.Request, web.Application]


async def test_a_rerun_makes_no_provider_call_and_matches_the_recording(
    edge: Client,
    bus: Bus,
    twins: TwinStore,
    fake_llm: FakeLLMServer,
    session_id: str,
) -> None:
    twin_id = await llm_twin(twins, fake_llm)
    fake_llm.script(Reply(answer("Recorded answer from the model.")))
    body: dict[str, Any] = await (
        await edge.post("/v1/chat", json={"message": "hi", "twin_id": twin_id, "session_id": session_id})
    ).json()
    assert body["response"] == "Recorded answer from the model."
    assert len(fake_llm.requests) == 1

    report = await rerun_session(bus, session_id, timeout_s=15)

    assert len(fake_llm.requests) == 1, "a rerun must not call the provider"
    assert report.decisions_reused and report.diverged == [], format_report(report)
    plans = [e.event async for e in timeline(bus, report.new_session_id) if e.event and e.event.type == PLAN_ACTION]
    assert [p.body.decided_by for p in plans] == ["replay:llm:openai/fake-model"]
    assert json.loads(plans[0].body.raw_decision)["content"] == "Recorded answer from the model."
