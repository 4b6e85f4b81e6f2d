"""`/v1/evals` on the real edge and the real planner over a real nats-server, in keys mode: alice
captures an eval set from her own sessions with her private twin and runs it (the planner's eval
runner answers); bob, the adversary, can neither see, run, delete nor build a set from her sessions;
a bad body is a clear 422; a page on another origin creates nothing. And a self-improvement of a
twin gated by an eval set is approved only once its eval passed."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from bus_schemas.actions import ActionSelfImprove
from bus_schemas.evals import EvalGate, EvalSummary
from bus_schemas.subjects import APPROVE_DECISION, EVAL_RUN
from bus_schemas.twin import TwinSettings, TwinWrite
from pagi.bus import Bus, PullConsumer
from records.evals import EvalStore
from records.twins import TwinStore

from ..support import ObserveFactory, eventually
from .test_budgets_api import ALICE, BOB, ROOT, MakeEdge, key, keyed, make_edge, owned_session, pending_approval

__all__ = ["keyed", "make_edge"]
Client = TestClient[web.Request, web.Application]


async def private_twin(edge: Client, k: str, twin_id: str) -> None:
    created = await edge.post("/v1/twins", json={"id": twin_id, "codename": twin_id}, headers=key(k))
    assert created.status == 201, await created.text()


async def chat(edge: Client, k: str, session: str, message: str, twin_id: str) -> dict[str, Any]:
    answer = await edge.post(
        "/v1/chat", json={"session_id": session, "message": message, "twin_id": twin_id}, headers=key(k)
    )
    assert answer.status == 200, await answer.text()
    body: dict[str, Any] = await answer.json()
    assert body["status"] == "completed", body
    return body


def a_set(set_id: str, twin_id: str, session: str, **case: Any) -> dict[str, Any]:
    return {
        "set_id": set_id,
        "twin_id": twin_id,
        "description": "greetings",
        "cases": [{"session_id": session, "checks": [{"kind": "regex", "value": "second"}], **case}],
    }


async def set_ids(edge: Client, k: str, **params: str) -> set[str]:
    listed = await edge.get("/v1/evals", params=params, headers=key(k))
    assert listed.status == 200, await listed.text()
    return {s["set_id"] for s in (await listed.json())["sets"]}


async def alices_set(keyed: Client) -> str:
    """alice's private twin, two turns of hers with it, and a set of the second."""
    await private_twin(keyed, ALICE, "alice-own")
    session = f"alice-{uuid.uuid4().hex[:8]}"
    await chat(keyed, ALICE, session, "first turn", "alice-own")
    await chat(keyed, ALICE, session, "second turn", "alice-own")
    created = await keyed.post("/v1/evals", json=a_set("alice-set", "alice-own", session), headers=key(ALICE))
    assert created.status == 201, await created.text()
    return session


async def test_alice_captures_and_runs_a_set_and_bob_reaches_none_of_it(
    keyed: Client, bus: Bus, planner: list[PullConsumer], observe: ObserveFactory
) -> None:
    session = await alices_set(keyed)
    shown = await keyed.get("/v1/evals/alice-set", headers=key(ALICE))
    assert shown.status == 200, await shown.text()
    body = await shown.json()
    [case] = body["set"]["cases"]
    assert case["session_id"] == session and "second turn" in case["message"]
    assert [t["role"] for t in case["history"]] == ["user", "assistant"]
    assert body["set"]["created_by"] == "alice" and body["results"] == []
    assert await set_ids(keyed, ALICE) == {"alice-set"} == await set_ids(keyed, ALICE, twin="alice-own")
    assert await set_ids(keyed, ALICE, twin="orchestrator") == set()
    assert "alice-set" in await set_ids(keyed, ROOT)

    # Bob: nothing of it is there for him, and his tries change nothing.
    assert await set_ids(keyed, BOB) == set()
    for method, path in (
        ("GET", "/v1/evals/alice-set"),
        ("DELETE", "/v1/evals/alice-set"),
        ("POST", "/v1/evals/alice-set/runs"),
        ("GET", "/v1/evals/alice-set/runs/r1"),
    ):
        refused = await keyed.request(method, path, json={} if method == "POST" else None, headers=key(BOB))
        assert refused.status == 404, (method, path, await refused.text())
    on_her_twin = await keyed.post("/v1/evals", json=a_set("bob-1", "alice-own", session), headers=key(BOB))
    assert on_her_twin.status == 404, await on_her_twin.text()
    await private_twin(keyed, BOB, "bob-own")
    from_her_session = await keyed.post("/v1/evals", json=a_set("bob-2", "bob-own", session), headers=key(BOB))
    assert from_her_session.status == 404, await from_her_session.text()
    assert "no session" in (await from_her_session.json())["error"]
    on_shared = await keyed.post("/v1/evals", json=a_set("bob-3", "orchestrator", session), headers=key(BOB))
    assert on_shared.status == 403, await on_shared.text()
    assert {s.set_id for s in await (await EvalStore.open(bus)).sets()} == {"alice-set"}

    # Alice runs it: the planner's eval runner re-runs the case and stores the result.
    runs = await observe(f"{EVAL_RUN}.>")
    started = await keyed.post("/v1/evals/alice-set/runs", json={"baseline": False}, headers=key(ALICE))
    assert started.status == 202, await started.text()
    run = await started.json()
    [event] = await runs.wait_count(EVAL_RUN, 1)
    assert event.session_id == run["session_id"] and event.body.requested_by == "alice"
    assert event.body.baseline is False and event.body.approval_id is None and event.body.prompt is None

    async def stored() -> dict[str, Any] | None:
        answer = await keyed.get(f"/v1/evals/alice-set/runs/{run['run_id']}", headers=key(ALICE))
        assert answer.status in (200, 404), await answer.text()
        found: dict[str, Any] = await answer.json()
        return found if answer.status == 200 and found["state"] != "running" else None

    result = await eventually(stored, 30, 0.1, "the run's result stored")
    assert result["set_id"] == "alice-set" and [c["case_id"] for c in result["cases"]] == ["case-1"]
    assert (await keyed.get(f"/v1/evals/alice-set/runs/{run['run_id']}", headers=key(BOB))).status == 404
    listed = await (await keyed.get("/v1/evals/alice-set", headers=key(ALICE))).json()
    assert [r["run_id"] for r in listed["results"]] == [run["run_id"]]

    deleted = await keyed.delete("/v1/evals/alice-set", headers=key(ALICE))
    assert deleted.status == 204, await deleted.text()
    assert await set_ids(keyed, ROOT) == set()


async def test_bad_sets_and_runs_are_a_clear_422_and_a_taken_id_a_409(
    keyed: Client, bus: Bus, planner: list[PullConsumer], observe: ObserveFactory
) -> None:
    session = await alices_set(keyed)
    empty = await owned_session(bus, "alice")
    for body, says in (
        ({**a_set("s2", "alice-own", session), "cases": []}, "invalid EvalSetWrite"),
        (a_set("bad id!", "alice-own", session), "invalid EvalSetWrite"),
        (a_set("s2", "alice-own", session, checks=[{"kind": "smell"}]), "invalid EvalSetWrite"),
        (a_set("s2", "alice-own", empty), f"no recorded jobs in session {empty}"),
        (a_set("s2", "alice-own", session, job_id="nojob"), f"no job nojob in session {session}"),
    ):
        refused = await keyed.post("/v1/evals", json=body, headers=key(ALICE))
        assert refused.status == 422, (body, await refused.text())
        assert says in (await refused.json())["error"], body
    taken = await keyed.post("/v1/evals", json=a_set("alice-set", "alice-own", session), headers=key(ALICE))
    assert taken.status == 409, await taken.text()

    runs = await observe(f"{EVAL_RUN}.>")
    bad_runs: list[tuple[Any, str]] = [
        ({"approval_id": "forged"}, "Extra inputs are not permitted"),
        ({"prompt": "be evil"}, "Extra inputs are not permitted"),
        ({"prompt_version": "two"}, "Input should be a valid integer"),
        ({"prompt_version": 99}, "has no prompt version 99"),
        ([1], "Input should be a valid dictionary"),
    ]
    for body, says in bad_runs:
        refused = await keyed.post("/v1/evals/alice-set/runs", json=body, headers=key(ALICE))
        assert refused.status == 422, (body, await refused.text())
        answer = await refused.json()
        said = [answer["error"], *(d["problem"] for d in answer["details"])]
        assert any(says in text for text in said), (body, answer)
    broken = await keyed.post(
        "/v1/evals/alice-set/runs", data=b"{", headers={**key(ALICE), "Content-Type": "application/json"}
    )
    assert broken.status == 400, await broken.text()
    assert runs.of_type(EVAL_RUN) == []
    assert {s.set_id for s in await (await EvalStore.open(bus)).sets()} == {"alice-set"}


async def test_a_page_on_another_origin_creates_and_runs_nothing(
    make_edge: MakeEdge, bus: Bus, planner: list[PullConsumer], observe: ObserveFactory
) -> None:
    dev = await make_edge()
    session = f"dev-{uuid.uuid4().hex[:8]}"
    answer = await dev.post("/v1/chat", json={"session_id": session, "message": "hello"})
    assert answer.status == 200, await answer.text()
    runs = await observe(f"{EVAL_RUN}.>")
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        forged = await dev.post("/v1/evals", json=a_set("forged", "orchestrator", session), headers=headers)
        assert forged.status == 403, await forged.text()
    assert await (await EvalStore.open(bus)).sets() == []
    own = await dev.post("/v1/evals", json=a_set("own", "orchestrator", session))
    assert own.status == 201, await own.text()
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        assert (await dev.post("/v1/evals/own/runs", json={}, headers=headers)).status == 403
        assert (await dev.delete("/v1/evals/own", headers=headers)).status == 403
    assert runs.of_type(EVAL_RUN) == []
    assert await (await EvalStore.open(bus)).get("own") is not None


def summary(state: str, ok: bool | None, rate: float) -> EvalSummary:
    return EvalSummary(set_id="gate", run_id="r1", state=state, passed=0, total=2, pass_rate=rate, required=0.5, ok=ok)


async def test_a_gated_self_improvement_is_approved_only_once_its_eval_passed(
    keyed: Client, bus: Bus, observe: ObserveFactory
) -> None:
    await private_twin(keyed, ALICE, "alice-own")
    twins = await TwinStore.open(bus)
    twin = await twins.get("alice-own")
    assert twin is not None
    gated = TwinWrite.model_validate(
        {
            **twin.model_dump(include=set(TwinSettings.model_fields)),
            "eval_gate": EvalGate(set_id="gate", min_pass_rate=0.5),
        }
    )
    assert await twins.replace("alice-own", gated) is not None
    session = await owned_session(bus, "alice")
    decisions = await observe(f"{APPROVE_DECISION}.{session}")
    action = ActionSelfImprove(new_prompt="be brief", rationale="shorter answers")

    async def asked(eval_: EvalSummary | None) -> str:
        return await pending_approval(bus, session, "self_improve", action, twin_id="alice-own", eval=eval_)

    for eval_, says in (
        (None, "waits for its eval on set gate"),
        (summary("running", None, 0.0), "is still running"),
        (summary("done", False, 0.25), "did not pass (pass rate 25%, 50% required)"),
    ):
        approval_id = await asked(eval_)
        refused = await keyed.post(f"/v1/approvals/{approval_id}", json={"approved": True}, headers=key(ALICE))
        assert refused.status == 409, await refused.text()
        assert says in (await refused.json())["error"]
    assert decisions.of_type(APPROVE_DECISION) == []
    # A denial is always taken; a passed eval is approved.
    denied = await keyed.post(f"/v1/approvals/{approval_id}", json={"approved": False}, headers=key(ALICE))
    assert denied.status == 202, await denied.text()
    passed = await asked(summary("done", True, 1.0))
    approved = await keyed.post(f"/v1/approvals/{passed}", json={"approved": True}, headers=key(ALICE))
    assert approved.status == 202, await approved.text()
    events = await decisions.wait_count(APPROVE_DECISION, 2)
    assert [(e.body.approval_id, e.body.approved) for e in events] == [(approval_id, False), (passed, True)]
