"""`/v1/budgets` and budget approvals on the real edge over a real nats-server, in keys mode: root is
an admin, alice and bob members. Bob (the adversary) may read the install's budget and his own, never
alice's or her private twin's; neither member may set or remove one; a budget approval of a global or
user scope is passed only by an admin, of a twin's scope by who may change the twin; a page on another
origin changes nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bus_schemas.actions import Action, ActionBudget
from bus_schemas.approval import ApprovalKind
from bus_schemas.budgets import BudgetWrite
from bus_schemas.streams import SESSIONS, USAGE
from bus_schemas.subjects import APPROVE_DECISION
from bus_schemas.twin import TwinWrite
from bus_schemas.usage import UsageTotal
from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus, PullConsumer
from pagi.secrets import new_secret_key
from records.approvals import ApprovalStore
from records.budgets import BudgetStore
from records.sessions import SessionOwners
from records.twins import TwinStore

from ..fake_llm import FakeLLMServer, Reply
from ..support import ObserveFactory, eventually
from ..workers_support import approve

ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef00"
ROOT = "root-key-0123456789abcdef0"
KEYS = f"{ALICE}:alice,{BOB}:bob:member,{ROOT}:root:admin"
Client = TestClient[web.Request, web.Application]
MakeEdge = Callable[..., Awaitable[Client]]


@pytest.fixture
async def make_edge(bus: Bus) -> AsyncIterator[MakeEdge]:
    """Real edge apps on free ports over the test's bus."""
    clients: list[Client] = []
    await (await TwinStore.open(bus)).ensure_default()

    async def make(**settings: Any) -> Client:
        client = TestClient(TestServer(make_app(EdgeSettings(PAGI_RATE_LIMIT_BURST=1000, **settings), bus=bus)))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
def provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGI_SECRET_KEY", new_secret_key())
    # The fake provider listens on loopback: allowed as an operator allows a local server.
    monkeypatch.setenv("PAGI_LLM_ALLOW_PRIVATE", "1")


@pytest.fixture
async def keyed(make_edge: MakeEdge) -> Client:
    return await make_edge(PAGI_API_KEYS=KEYS)


def key(k: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {k}"}


async def private_twin(edge: Client, k: str, twin_id: str) -> None:
    created = await edge.post("/v1/twins", json={"id": twin_id, "codename": twin_id}, headers=key(k))
    assert created.status == 201, await created.text()


async def owned_session(bus: Bus, user: str) -> str:
    session = f"{user}-{uuid.uuid4().hex[:8]}"
    assert await SessionOwners(await bus.kv(SESSIONS)).claim_or_check(session, user)
    return session


async def pending_approval(
    bus: Bus, session_id: str, kind: ApprovalKind, action: Action, twin_id: str = "orchestrator", **fields: Any
) -> str:
    """A pending approval as the planner records it."""
    policy = "budget" if kind == "budget" else "test"
    return await approve(bus, session_id, kind, action, "pending", twin_id, policy=policy, **fields)


def over_budget(scope: str) -> ActionBudget:
    return ActionBudget(scope=scope, period="day", unit="tokens", limit=10_000, spent=9_800, estimate=900)


async def budgets_of(edge: Client, k: str) -> dict[str, dict[str, Any]]:
    listed = await edge.get("/v1/budgets", headers=key(k))
    assert listed.status == 200, await listed.text()
    return {f"{b['scope']}/{b['period']}": b for b in (await listed.json())["budgets"]}


async def put(edge: Client, k: str, scope: str, body: dict[str, Any]) -> Any:
    return await edge.put(f"/v1/budgets/{scope}", json=body, headers=key(k))


async def test_an_admin_sets_budgets_and_each_member_sees_only_theirs(keyed: Client, bus: Bus) -> None:
    await private_twin(keyed, ALICE, "alice-own")
    # The console sends the scope URL-encoded (`user%3Abob`): the same budget.
    for scope in ("global", "user:alice", "user%3Abob", "twin:orchestrator", "twin:alice-own"):
        answer = await put(keyed, ROOT, scope, {"period": "day", "tokens": 10_000})
        assert answer.status == 200, await answer.text()
        assert (await answer.json())["updated_by"] == "root"
    monthly = await put(keyed, ROOT, "global", {"period": "month", "money": 5.0, "ceiling_money": 8.0})
    assert monthly.status == 200, await monthly.text()

    # What the day has spent, from the ledger's totals.
    today = datetime.now(UTC).date().isoformat()
    spent = UsageTotal(key="all", calls=2, input_tokens=1200, output_tokens=300, cost=None, unpriced_calls=2)
    await (await bus.kv(USAGE)).put(f"{today}.all.all", spent.model_dump_json().encode())

    everything = await budgets_of(keyed, ROOT)
    assert set(everything) == {
        "global/day",
        "global/month",
        "user:alice/day",
        "user:bob/day",
        "twin:orchestrator/day",
        "twin:alice-own/day",
    }
    assert everything["global/day"]["spent_tokens"] == 1500
    assert everything["global/day"]["spent_money"] is None and everything["global/day"]["unpriced_calls"] == 2
    assert everything["global/month"]["ceiling_money"] == 8.0
    assert set(await budgets_of(keyed, ALICE)) == {
        "global/day",
        "global/month",
        "user:alice/day",
        "twin:orchestrator/day",
        "twin:alice-own/day",
    }
    assert set(await budgets_of(keyed, BOB)) == {"global/day", "global/month", "user:bob/day", "twin:orchestrator/day"}


async def test_a_member_may_neither_set_nor_remove_a_budget(keyed: Client, bus: Bus) -> None:
    store = await BudgetStore.open(bus)
    await store.put("user:bob", BudgetWrite(period="day", tokens=100), "root")
    for k in (ALICE, BOB):
        for scope in ("global", "user:bob", "twin:orchestrator"):
            refused = await put(keyed, k, scope, {"period": "day", "tokens": 10**9})
            assert refused.status == 403, await refused.text()
            assert "only an admin may set a budget" in (await refused.json())["error"]
        removed = await keyed.delete("/v1/budgets/user:bob", params={"period": "day"}, headers=key(k))
        assert removed.status == 403, await removed.text()
    assert await store.get("global", "day") is None
    assert await store.get("twin:orchestrator", "day") is None
    kept = await store.get("user:bob", "day")
    assert kept is not None and kept.tokens == 100

    removed = await keyed.delete("/v1/budgets/user:bob", params={"period": "day"}, headers=key(ROOT))
    assert removed.status == 204, await removed.text()
    assert await store.get("user:bob", "day") is None
    again = await keyed.delete("/v1/budgets/user:bob", params={"period": "day"}, headers=key(ROOT))
    assert again.status == 404


@pytest.mark.parametrize(
    ("scope", "body", "says"),
    [
        ("everyone", {"period": "day", "tokens": 1}, "invalid budget scope 'everyone'"),
        ("user:a.b", {"period": "day", "tokens": 1}, "invalid budget scope"),
        ("twin:", {"period": "day", "tokens": 1}, "invalid budget scope"),
        ("global", {"period": "week", "tokens": 1}, "invalid BudgetWrite"),
        ("global", {"period": "day"}, "invalid BudgetWrite"),
        ("global", {"period": "day", "tokens": 0}, "invalid BudgetWrite"),
        ("global", {"period": "day", "tokens": 10, "ceiling_tokens": 5}, "invalid BudgetWrite"),
        ("global", {"period": "day", "tokens": 10, "limit": 5}, "invalid BudgetWrite"),
        ("global", [1, 2], "invalid BudgetWrite"),
    ],
)
async def test_a_bad_scope_or_body_is_a_clear_422(keyed: Client, bus: Bus, scope: str, body: Any, says: str) -> None:
    answer = await keyed.put(f"/v1/budgets/{scope}", json=body, headers=key(ROOT))
    assert answer.status == 422, await answer.text()
    assert says in (await answer.json())["error"]
    assert await (await BudgetStore.open(bus)).all() == []


async def test_the_422s_say_which_field_and_a_body_that_is_not_json_stays_a_400(keyed: Client) -> None:
    answer = await put(keyed, ROOT, "global", {"period": "day", "tokens": 10, "ceiling_tokens": 5})
    assert "ceiling_tokens is below tokens" in str((await answer.json())["details"])
    answer = await put(keyed, ROOT, "global", {"period": "week", "tokens": 1})
    assert [d["field"] for d in (await answer.json())["details"]] == ["period"]
    broken = await keyed.put(
        "/v1/budgets/global", data=b"{nope", headers={**key(ROOT), "Content-Type": "application/json"}
    )
    assert broken.status == 400, await broken.text()
    for period in ("", "week"):
        removed = await keyed.delete("/v1/budgets/global", params={"period": period}, headers=key(ROOT))
        assert removed.status == 422, await removed.text()
        assert "period: one of day, month" in (await removed.json())["error"]


async def test_a_page_on_another_origin_sets_and_removes_nothing(make_edge: MakeEdge, bus: Bus) -> None:
    dev = await make_edge()  # development mode: the one person at the machine is an admin
    store = await BudgetStore.open(bus)
    await store.put("global", BudgetWrite(period="day", tokens=100), "root")
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        forged = await dev.put("/v1/budgets/global", json={"period": "day", "tokens": 10**12}, headers=headers)
        assert forged.status == 403, await forged.text()
        removed = await dev.delete("/v1/budgets/global", params={"period": "day"}, headers=headers)
        assert removed.status == 403, await removed.text()
    kept = await store.get("global", "day")
    assert kept is not None and kept.tokens == 100
    own = await dev.put(
        "/v1/budgets/global", json={"period": "day", "tokens": 200}, headers={"Origin": f"http://127.0.0.1:{dev.port}"}
    )
    assert own.status == 200, await own.text()


async def decide(edge: Client, k: str, approval_id: str, **body: Any) -> Any:
    return await edge.post(f"/v1/approvals/{approval_id}", json=body, headers=key(k))


async def test_a_member_cannot_pass_a_global_or_user_budget_and_nothing_is_published(
    keyed: Client, bus: Bus, observe: ObserveFactory
) -> None:
    session = await owned_session(bus, "alice")
    decisions = await observe(f"{APPROVE_DECISION}.{session}")
    for scope in ("global", "user:alice"):
        approval_id = await pending_approval(bus, session, "budget", over_budget(scope))
        for changes in (None, {"limit": 10**9}):
            refused = await decide(keyed, ALICE, approval_id, approved=True, changes=changes)
            assert refused.status == 403, await refused.text()
            assert "only by an admin" in (await refused.json())["error"]
        # Bob cannot even see it.
        assert (await decide(keyed, BOB, approval_id, approved=True)).status == 404
    # Root passes the last one and raises its limit: the only decision ever published.
    passed = await decide(keyed, ROOT, approval_id, approved=True, changes={"limit": 20_000})
    assert passed.status == 202, await passed.text()
    [event] = await decisions.wait_count(APPROVE_DECISION, 1)
    assert event.body.approval_id == approval_id and event.body.decided_by == "root (admin)"
    assert event.body.changes is not None and event.body.changes.limit == 20_000
    assert len(decisions.of_type(APPROVE_DECISION)) == 1


async def test_a_member_may_deny_their_own_budget_approval(keyed: Client, bus: Bus, observe: ObserveFactory) -> None:
    session = await owned_session(bus, "alice")
    decisions = await observe(f"{APPROVE_DECISION}.{session}")
    approval_id = await pending_approval(bus, session, "budget", over_budget("global"))
    denied = await decide(keyed, ALICE, approval_id, approved=False, reason="not worth it")
    assert denied.status == 202, await denied.text()
    [event] = await decisions.wait_count(APPROVE_DECISION, 1)
    assert event.body.approved is False and event.body.decided_by == "alice"


async def test_a_twins_budget_is_passed_by_who_may_change_the_twin(
    keyed: Client, bus: Bus, observe: ObserveFactory
) -> None:
    await private_twin(keyed, ALICE, "alice-own")
    session = await owned_session(bus, "alice")
    decisions = await observe(f"{APPROVE_DECISION}.{session}")
    shared = await pending_approval(bus, session, "budget", over_budget("twin:orchestrator"))
    refused = await decide(keyed, ALICE, shared, approved=True)
    assert refused.status == 403, await refused.text()
    assert "twin orchestrator may be passed or raised only by an admin" in (await refused.json())["error"]
    own = await pending_approval(bus, session, "budget", over_budget("twin:alice-own"), twin_id="alice-own")
    # Only the limit may change on a budget approval.
    wrong = await decide(keyed, ALICE, own, approved=True, changes={"text": "more"})
    assert wrong.status == 400, await wrong.text()
    assert "cannot change text (it may change limit)" in (await wrong.json())["error"]
    passed = await decide(keyed, ALICE, own, approved=True, changes={"limit": 15_000})
    assert passed.status == 202, await passed.text()
    [event] = await decisions.wait_count(APPROVE_DECISION, 1)
    assert event.body.approval_id == own and event.body.changes.limit == 15_000
    assert len(decisions.of_type(APPROVE_DECISION)) == 1


async def test_a_real_budget_approval_is_passed_by_root_not_by_the_member_whose_job_waits(
    provider_env: None, keyed: Client, bus: Bus, planner: list[PullConsumer], fake_llm: FakeLLMServer
) -> None:
    """The whole way: the planner's budget gate asks instead of calling the model; alice, whose job
    waits, cannot pass the install's budget, bob cannot see it, root raises it and the job answers."""
    settings = {"codename": "Paid", "provider": "openai", "model": "fake-model", "api_key": "sk-fake-" + "p" * 30,
                "base_url": fake_llm.base_url("openai")}  # fmt: skip
    await (await TwinStore.open(bus)).create("paid", TwinWrite.model_validate(settings))
    assert (await put(keyed, ROOT, "global", {"period": "day", "tokens": 5})).status == 200
    fake_llm.script(Reply(json.dumps({"action_type": "ActionResponse", "content": "Paid for by root."})))
    session = f"alice-{uuid.uuid4().hex[:8]}"
    chat = await keyed.post(
        "/v1/chat", json={"session_id": session, "message": "hello", "twin_id": "paid"}, headers=key(ALICE)
    )
    assert chat.status == 200, await chat.text()
    asked = await chat.json()
    assert "Approval needed (budget)" in asked["response"], asked
    [approval] = (await (await keyed.get("/v1/approvals", params={"session": session}, headers=key(ALICE))).json())[
        "approvals"
    ]
    assert approval["kind"] == "budget" and approval["action"]["scope"] == "global"
    assert (await decide(keyed, ALICE, approval["approval_id"], approved=True)).status == 403
    assert (await decide(keyed, BOB, approval["approval_id"], approved=True)).status == 404
    # The A2A door decides through the same core: refused the same.
    reply = {"kind": "data", "data": {"approval_id": approval["approval_id"], "approved": True}}
    message = {"role": "user", "messageId": "m-1", "taskId": asked["job_id"], "contextId": session, "parts": [reply]}
    rpc = {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": message}}
    by_a2a = await (await keyed.post("/a2a", json=rpc, headers={**key(ALICE), "A2A-Version": "0.3"})).json()
    assert "only by an admin" in by_a2a["error"]["message"], by_a2a
    assert fake_llm.requests == []
    pending = await (await ApprovalStore.open(bus)).find(approval["approval_id"])
    assert pending is not None and pending.state == "pending"
    passed = await decide(keyed, ROOT, approval["approval_id"], approved=True, changes={"limit": 100_000})
    assert passed.status == 202, await passed.text()

    async def answered() -> dict[str, Any] | None:
        job = await (await keyed.get(f"/v1/jobs/{asked['job_id']}", headers=key(ALICE))).json()
        return job if job["status"] == "completed" else None

    job = await eventually(answered, 20, 0.05, "the job answered after root's raise")
    assert job["steps"][-1]["action"]["content"] == "Paid for by root."
    assert len(fake_llm.requests) == 1
    raised = await (await BudgetStore.open(bus)).get("global", "day")
    assert raised is not None and raised.tokens == 100_000
