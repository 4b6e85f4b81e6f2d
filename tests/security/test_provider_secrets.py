"""No secret leaves through a twin, and no request goes where it should not (records/endpoints.py).

The adversary is a user who may write a twin: they point its base URL at a server of theirs to be
sent the operator's provider keys, or at an internal address (loopback, the cloud metadata service,
a private network) to make the planner call it. A local fake provider (tests/fake_llm.py) records
the Authorization headers it receives; it listens on loopback, so tests that want a call to happen
say so with the operator's switch, as an operator running a local Ollama would.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bus_schemas.twin import TwinWrite
from pagi.bus import Bus, PullConsumer
from pagi.secrets import new_secret_key
from pagi.service import start_routes
from planner.__main__ import PlannerService
from planner.llm import LLMConfigError, config_for
from planner.llm.guard import guarded_session
from records.endpoints import EndpointPolicy, EndpointRefused, check_base_url, check_twin_base_url, is_internal
from records.twins import TwinStore

from ..fake_llm import FakeLLMServer, RecordedRequest, Reply
from ..support import eventually

Client = TestClient[web.Request, web.Application]

ENV_OPENAI_KEY = "sk-operator-openai-" + "o" * 24
ENV_LLM_KEY = "sk-operator-llm-" + "l" * 24
TWIN_KEY = "sk-twin-own-" + "t" * 24
NEW_TWIN_KEY = "sk-twin-new-" + "n" * 24
ALLOW_PRIVATE = {"PAGI_LLM_ALLOW_PRIVATE": "1"}
OPERATOR_KEYS = {"OPENAI_API_KEY": ENV_OPENAI_KEY, "LLM_API_KEY": ENV_LLM_KEY}
INTERNAL = ["http://127.0.0.1:11434/v1", "http://10.0.0.1/v1", "http://169.254.169.254/latest", "http://[::1]:8000/v1"]
MORE_INTERNAL = [
    "http://localhost:1234/v1",
    "http://0.0.0.0:8080/v1",
    "http://172.16.0.5/v1",
    "http://192.168.1.10/v1",
    "http://[fc00::1]/v1",
    "http://[fe80::1]/v1",
    "http://[::ffff:127.0.0.1]/v1",
    "http://2130706433/v1",  # 127.0.0.1 as a resolver reads a bare number
]


def answer(content: str) -> str:
    return json.dumps({"action_type": "ActionResponse", "content": content})


def auth_headers(requests: list[RecordedRequest]) -> list[str]:
    return [r.headers.get("authorization", "") for r in requests]


# --- the rules themselves ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", INTERNAL + MORE_INTERNAL)
async def test_an_internal_base_url_is_refused_without_the_operators_switch(url: str) -> None:
    with pytest.raises(EndpointRefused, match="PAGI_LLM_ALLOW_PRIVATE=1") as refused:
        await check_base_url(url, EndpointPolicy.from_env({}))
    assert "internal address" in str(refused.value)


@pytest.mark.parametrize("url", INTERNAL)
async def test_the_operator_allows_internal_base_urls_by_switch_or_by_name(url: str) -> None:
    await check_base_url(url, EndpointPolicy.from_env(ALLOW_PRIVATE))
    listed = EndpointPolicy.from_env({"PAGI_LLM_ALLOWED_BASE_URLS": f"https://x.example/v1, {url}/"})
    await check_base_url(url, listed)
    # Listing one URL allows that URL, not its whole host.
    with pytest.raises(EndpointRefused):
        await check_base_url(url.rstrip("/") + "/other", listed)


async def test_a_name_that_resolves_to_an_internal_address_is_refused() -> None:
    host = socket.gethostname()
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in socket.getaddrinfo(host, None)}
    # This machine's own name resolves (through /etc/hosts) to its loopback or private address here;
    # on a host whose name resolves to a public address only, the same call must let it through.
    if any(is_internal(a) for a in addresses):
        with pytest.raises(EndpointRefused, match="resolves to"):
            await check_base_url(f"http://{host}:8000/v1", EndpointPolicy())
    else:
        await check_base_url(f"http://{host}:8000/v1", EndpointPolicy())


async def test_a_public_base_url_and_credentials_in_a_url() -> None:
    await check_base_url("https://8.8.8.8/v1", EndpointPolicy())
    await check_twin_base_url(None, {})  # the provider's preset URL: checked by the planner
    with pytest.raises(EndpointRefused, match="credentials"):
        await check_base_url("https://user:pass@api.example.com/v1", EndpointPolicy())
    # What urlsplit itself refuses is a refusal too, never an error the edge answers with 500.
    for broken in ("https://]api.example.com", "https://api.example.com:99999/v1", "http://host:port/"):
        with pytest.raises(EndpointRefused, match="is not a URL"):
            await check_base_url(broken, EndpointPolicy())


def test_the_environments_key_goes_only_to_the_providers_own_url_or_a_listed_one() -> None:
    assert config_for("openai", env=OPERATOR_KEYS).secret() == ENV_OPENAI_KEY
    elsewhere = "https://attacker.example/v1"
    # A twin naming the provider but another base URL: with no key of its own it cannot be used...
    with pytest.raises(LLMConfigError, match="needs an API key of its own") as error:
        config_for("openai", base_url=elsewhere, env=OPERATOR_KEYS)
    assert ENV_OPENAI_KEY not in str(error.value)
    # ... a provider that needs no key is sent none, and a twin's own key is the only one sent.
    assert config_for("openai-compatible", model="m", base_url=elsewhere, env=OPERATOR_KEYS).api_key is None
    assert config_for("openai", api_key=TWIN_KEY, base_url=elsewhere, env=OPERATOR_KEYS).secret() == TWIN_KEY
    listed = {**OPERATOR_KEYS, "PAGI_LLM_ALLOWED_BASE_URLS": elsewhere + "/"}
    assert config_for("openai", base_url=elsewhere, env=listed).secret() == ENV_OPENAI_KEY
    operators_own = {**OPERATOR_KEYS, "LLM_BASE_URL": elsewhere}
    assert config_for("openai-compatible", model="m", base_url=elsewhere, env=operators_own).secret() == ENV_LLM_KEY


async def test_the_planners_connections_are_checked_where_they_connect(fake_llm: FakeLLMServer) -> None:
    # DNS rebinding: a name that passed the decider's check may resolve elsewhere when aiohttp
    # connects. The planner's session checks the addresses it is about to connect to.
    url = fake_llm.openai_base_url.replace("127.0.0.1", "localhost") + "/chat/completions"
    async with guarded_session({}) as http:
        with pytest.raises(aiohttp.ClientConnectorError, match="internal address"):
            await http.post(url, json={})
    assert fake_llm.requests == []
    for env in (ALLOW_PRIVATE, {"PAGI_LLM_ALLOWED_BASE_URLS": url.rsplit("/chat", 1)[0]}):
        async with guarded_session(env) as http, http.post(url, json={"model": "m", "messages": []}) as response:
            assert response.status == 200
    assert len(fake_llm.requests) == 2


# --- through the real edge and planner ----------------------------------------------------------------


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGI_SECRET_KEY", new_secret_key())


@pytest.fixture
def planner_env(request: pytest.FixtureRequest, fake_llm: FakeLLMServer) -> Mapping[str, str]:
    """The planner's environment: the operator's provider keys, loopback allowed (the fake is there).
    Tests change it with `indirect` parameters: `list_fake` (the operator lists the fake's URL),
    `no_private` (loopback not allowed)."""
    env = {**OPERATOR_KEYS, **ALLOW_PRIVATE}
    change: dict[str, bool] = getattr(request, "param", {})
    if change.get("list_fake"):
        env["PAGI_LLM_ALLOWED_BASE_URLS"] = fake_llm.openai_base_url
    if change.get("no_private"):
        del env["PAGI_LLM_ALLOW_PRIVATE"]
    return env


@pytest.fixture
async def planner(bus: Bus, planner_env: Mapping[str, str]) -> AsyncIterator[list[PullConsumer]]:
    """The real planner (overrides tests/conftest.py's, so the `edge` fixture uses it) with its
    environment given as a mapping, not by changing this process's environment."""
    service = PlannerService(env=planner_env)
    consumers = await start_routes(bus, await service.routes(bus))
    yield consumers
    for consumer in consumers:
        await consumer.stop()
    await service.close()


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(default=Reply(answer("the fake provider answered"))) as server:
        yield server


@pytest.fixture
async def twins(bus: Bus) -> TwinStore:
    return await TwinStore.open(bus)


async def chat(edge: Client, twin_id: str, session_id: str) -> dict[str, Any]:
    response = await edge.post("/v1/chat", json={"message": "hello", "twin_id": twin_id, "session_id": session_id})
    body: dict[str, Any] = await response.json()
    return body


async def make_twin(edge: Client, twin_id: str, **settings: object) -> dict[str, Any]:
    response = await edge.post("/v1/twins", json={"id": twin_id, "codename": twin_id, "model": "m", **settings})
    body: dict[str, Any] = await response.json()
    assert response.status == 201, body
    return body


async def test_the_operators_key_never_reaches_a_twins_custom_base_url(
    edge: Client, fake_llm: FakeLLMServer, session_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGI_LLM_ALLOW_PRIVATE", "1")  # the edge's side of the switch
    url = fake_llm.openai_base_url
    await make_twin(edge, "own-key", provider="openai", base_url=url, api_key=TWIN_KEY)
    await make_twin(edge, "no-key", provider="openai-compatible", base_url=url)
    await make_twin(edge, "needs-key", provider="openai", base_url=url)

    assert (await chat(edge, "own-key", session_id))["response"] == "the fake provider answered"
    assert (await chat(edge, "no-key", session_id))["response"] == "the fake provider answered"
    fallback = await chat(edge, "needs-key", session_id)  # no key of its own: not called at all
    assert fallback["status"] == "completed"

    assert auth_headers(fake_llm.requests) == [f"Bearer {TWIN_KEY}", ""]
    seen = json.dumps([r.headers for r in fake_llm.requests]) + json.dumps(fallback)
    assert ENV_OPENAI_KEY not in seen and ENV_LLM_KEY not in seen
    views = json.dumps(await (await edge.get("/v1/twins")).json())
    assert TWIN_KEY not in views and "sealed" not in views


@pytest.mark.parametrize("planner_env", [{"list_fake": True}], indirect=True)
async def test_a_base_url_the_operator_listed_gets_the_operators_key(
    edge: Client, twins: TwinStore, fake_llm: FakeLLMServer, session_id: str
) -> None:
    # The operator's allowed way still works (and shows the fake would have seen a leaked key).
    settings = TwinWrite(codename="L", provider="openai", model="m", base_url=fake_llm.openai_base_url)
    await twins.create("listed", settings)
    assert (await chat(edge, "listed", session_id))["response"] == "the fake provider answered"
    assert auth_headers(fake_llm.requests) == [f"Bearer {ENV_OPENAI_KEY}"]


@pytest.mark.parametrize("url", INTERNAL)
async def test_the_edge_refuses_a_twin_at_an_internal_address(
    edge: Client, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAGI_LLM_ALLOW_PRIVATE", raising=False)
    monkeypatch.delenv("PAGI_LLM_ALLOWED_BASE_URLS", raising=False)
    response = await edge.post("/v1/twins", json={"id": "ssrf", "codename": "S", "base_url": url})
    assert response.status == 400
    assert "PAGI_LLM_ALLOW_PRIVATE=1" in (await response.json())["error"]
    assert (await edge.get("/v1/twins/ssrf")).status == 404
    await make_twin(edge, "public", provider="openai-compatible", base_url="https://8.8.8.8/v1")
    moved = await edge.put("/v1/twins/public", json={"codename": "P", "provider": "openai-compatible", "base_url": url})
    assert moved.status == 400
    assert (await (await edge.get("/v1/twins/public")).json())["base_url"] == "https://8.8.8.8/v1"
    monkeypatch.setenv("PAGI_LLM_ALLOW_PRIVATE", "1")
    await make_twin(edge, "local", provider="openai-compatible", base_url=url)


@pytest.mark.parametrize("planner_env", [{"no_private": True}], indirect=True)
async def test_the_planner_refuses_an_internal_address_before_any_request(
    edge: Client, twins: TwinStore, fake_llm: FakeLLMServer, session_id: str
) -> None:
    # Written before the rule, or by a name that resolved elsewhere then: the planner checks again.
    settings = TwinWrite(codename="S", provider="openai-compatible", model="m", base_url=fake_llm.openai_base_url)
    await twins.create("stale", settings)
    body = await chat(edge, "stale", session_id)
    assert body["status"] == "failed"
    assert "internal address" in body["response"] and "PAGI_LLM_ALLOW_PRIVATE=1" in body["response"]
    assert "the fake provider answered" not in json.dumps(body)
    assert fake_llm.requests == []


async def test_changing_a_twins_base_url_or_provider_drops_its_sealed_key(
    edge: Client, fake_llm: FakeLLMServer, session_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGI_LLM_ALLOW_PRIVATE", "1")
    here = fake_llm.openai_base_url
    # The same fake under another name: as far as the twin knows, another host.
    there = here.replace("127.0.0.1", "localhost")
    base = {"codename": "K", "provider": "openai-compatible", "model": "m"}
    await make_twin(edge, "keyed", **base, base_url=here, api_key=TWIN_KEY)

    async def put(**settings: object) -> dict[str, Any]:
        response = await edge.put("/v1/twins/keyed", json={**base, **settings})
        view: dict[str, Any] = await response.json()
        assert response.status == 200, view
        return view

    assert (await put(base_url=here, codename="renamed"))["has_api_key"] is True  # same place: kept
    assert (await put(base_url=there))["has_api_key"] is False
    await chat(edge, "keyed", session_id)
    assert (await put(base_url=here, api_key=NEW_TWIN_KEY))["has_api_key"] is True  # moved with a new key

    async def sent_with_the_new_key() -> bool:
        await chat(edge, "keyed", session_id)  # the planner sees an edit within its twin cache's TTL
        return auth_headers(fake_llm.requests)[-1] == f"Bearer {NEW_TWIN_KEY}"

    await eventually(sent_with_the_new_key, timeout=10, interval=0.5)
    assert (await put(base_url=here, provider="custom"))["has_api_key"] is False
    assert set(auth_headers(fake_llm.requests)) == {"", f"Bearer {NEW_TWIN_KEY}"}
    assert TWIN_KEY not in json.dumps([r.headers for r in fake_llm.requests])
