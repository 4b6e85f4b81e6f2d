"""The usage ledger's fixtures: a local server speaking the providers' real protocols, twins on it,
and the edge with three keys (two members and an admin) over the real bus and planner."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bus_schemas.streams import EVENTS, USAGE
from bus_schemas.twin import TwinWrite
from bus_schemas.usage import UsageTotal
from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus, PullConsumer
from pagi.secrets import new_secret_key
from records.twins import TwinStore

from ..fake_llm import FakeLLMServer, Family
from ..support import eventually

ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef00"
ROOT = "root-key-0123456789abcdef0"
PROVIDER_KEY = "sk-fake-" + "k" * 30
Client = TestClient[web.Request, web.Application]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGI_SECRET_KEY", new_secret_key())
    monkeypatch.setenv("PAGI_LLM_ALLOW_PRIVATE", "1")  # the fake provider listens on loopback


@pytest.fixture
async def twins(bus: Bus) -> TwinStore:
    return await TwinStore.open(bus)


async def llm_twin(twins: TwinStore, fake_llm: FakeLLMServer, family: Family, preset: str | None = None) -> str:
    twin_id = f"llm-{preset or family}"
    settings = {"codename": "LLM", "provider": preset or family, "model": "fake-model", "api_key": PROVIDER_KEY,
                "base_url": fake_llm.base_url(family)}  # fmt: skip
    await twins.create(twin_id, TwinWrite.model_validate(settings))
    return twin_id


@pytest.fixture
async def secured(bus: Bus, planner: list[PullConsumer], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    monkeypatch.setenv("PAGI_API_KEYS", f"{ALICE}:alice,{BOB}:bob,{ROOT}:root:admin")
    monkeypatch.setenv("PAGI_RATE_LIMIT_BURST", "1000")
    app = make_app(EdgeSettings(PAGI_CHAT_TIMEOUT_S=10), bus=bus)
    async with TestClient(TestServer(app)) as client:
        yield client


async def total(bus: Bus, key: str) -> UsageTotal | None:
    return await (await bus.kv(USAGE)).get_model(key, UsageTotal)


async def stored(bus: Bus, subject: str) -> int:
    """How many events the stream holds on one subject (duplicates dropped by their id never count)."""
    info = await bus.nc.jetstream().stream_info(EVENTS.name, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


async def counted(bus: Bus, key: str) -> UsageTotal:
    """The total once the ledger has written it."""
    found = await eventually(lambda: total(bus, key), what=f"the total {key}")
    assert found is not None
    return found
