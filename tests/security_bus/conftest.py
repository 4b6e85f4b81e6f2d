"""A real nats-server started with the repository's nats.conf (users, permissions, passwords)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from pagi.credentials import load_or_create, url_with_user
from pagi.nats_users import OPERATOR, TELEMETRY_SUBJECT_ENV, inbox_prefix, password_env
from pagi_cli.init import bootstrap_url
from pagi_cli.nats_server import NatsServer

NATS_CONF = Path(__file__).resolve().parents[2] / "nats.conf"
HOST_ID = "host-a"


@dataclass
class SecureBus:
    server: NatsServer
    passwords: dict[str, str]

    def url(self, user: str) -> str:
        return url_with_user(self.server.url, user, self.passwords[password_env(user)])


@dataclass
class Refusals:
    """Permission violations the server reported to one client, as they arrive."""

    messages: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_error(self, exc: Exception) -> None:
        self.messages.append(str(exc))
        self.changed.set()

    def about(self, subject: str) -> list[str]:
        # nats-py lower-cases the server's message.
        quoted = f'"{subject.lower()}"'
        return [m for m in self.messages if "permissions violation" in m.lower() and quoted in m.lower()]

    async def wait_for(self, subject: str, timeout: float = 5.0) -> str:
        async def until() -> str:
            while not self.about(subject):
                self.changed.clear()
                await self.changed.wait()
            return self.about(subject)[0]

        return await asyncio.wait_for(until(), timeout)


@dataclass
class UserClient:
    nc: Client
    refusals: Refusals


@pytest.fixture
def bare_secure_server(tmp_path: Path) -> Iterator[SecureBus]:
    """The server as it first starts: no stream, bucket or object store yet."""
    passwords = load_or_create(tmp_path)
    env = {**passwords, TELEMETRY_SUBJECT_ENV: f"telemetry.host.{HOST_ID}"}
    server = NatsServer(store_dir=tmp_path / "nats", config=NATS_CONF, log_file=tmp_path / "nats.log", env=env)
    server.start()
    yield SecureBus(server, passwords)
    server.stop()


@pytest.fixture
def secure_server(bare_secure_server: SecureBus) -> SecureBus:
    """Bootstrapped by the operator, as `pagi up` and `pagi init` do."""
    asyncio.run(bootstrap_url(bare_secure_server.url(OPERATOR)))
    return bare_secure_server


@pytest.fixture
async def connect_as(secure_server: SecureBus) -> AsyncIterator[Callable[[str], Awaitable[UserClient]]]:
    clients: list[Client] = []

    async def connect(user: str) -> UserClient:
        refusals = Refusals()
        nc = await nats.connect(
            secure_server.url(user),
            error_cb=refusals.on_error,
            inbox_prefix=inbox_prefix(user),
            allow_reconnect=False,
        )
        clients.append(nc)
        return UserClient(nc, refusals)

    yield connect
    for nc in clients:
        await nc.close()
