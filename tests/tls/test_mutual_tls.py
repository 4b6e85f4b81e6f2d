"""Mutual TLS on the bus: a chat round trip through a nats-server that requires client
certificates, a client without one refused, and nats-tls.conf valid as shipped."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bus_schemas.subjects import CHAT_OUT
from pagi.bus import Bus, BusUnavailable
from pagi.nats_users import TELEMETRY_SUBJECT_ENV, password_env, users
from pagi.service import start_routes
from pagi.settings import BusSettings
from pagi_cli.nats_server import NatsServer, nats_server_binary
from planner.__main__ import PlannerService

from ..support import EventCollector

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("certs")
    subprocess.run([REPO / "scripts" / "gen_certs.sh", str(folder)], check=True, capture_output=True, timeout=60)
    return folder


def tls_env(certs: Path, client: bool = True) -> dict[str, str]:
    env = {"NATS_TLS_CA": str(certs / "ca.pem")}
    if client:
        env |= {"NATS_TLS_CERT": str(certs / "client.pem"), "NATS_TLS_KEY": str(certs / "client-key.pem")}
    return env


@pytest.fixture
def tls_server(certs: Path, tmp_path: Path) -> Iterator[NatsServer]:
    config = tmp_path / "tls.conf"
    config.write_text(
        f'tls {{\n  cert_file: "{certs / "server.pem"}"\n  key_file: "{certs / "server-key.pem"}"\n'
        f'  ca_file: "{certs / "ca.pem"}"\n  verify: true\n}}\n'
    )
    server = NatsServer(store_dir=tmp_path / "nats", config=config, log_file=tmp_path / "nats.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def tls_bus(tls_server: NatsServer, certs: Path) -> AsyncIterator[Bus]:
    context = BusSettings.model_validate(tls_env(certs)).tls_context()
    bus = await Bus.connect(tls_server.url, "tls-test", connect_timeout_s=10, tls=context)
    await bus.ensure_topology()
    yield bus
    await bus.close()


async def test_a_chat_round_trip_over_mutual_tls(tls_bus: Bus) -> None:
    service = PlannerService()
    consumers = await start_routes(tls_bus, await service.routes(tls_bus))
    try:
        answers = EventCollector()
        await tls_bus.observe("chat.out.tls", answers)
        await tls_bus.nc.flush()
        await tls_bus.nc.publish("chat.in.tls", json.dumps({"message": "over tls"}).encode())
        [answer] = await answers.wait_count(CHAT_OUT, 1)
        assert "over tls" in answer.body.content
    finally:
        for consumer in consumers:
            await consumer.stop()
        await service.close()


async def test_a_client_without_a_certificate_is_refused(tls_server: NatsServer, certs: Path) -> None:
    no_cert = BusSettings.model_validate(tls_env(certs, client=False)).tls_context()
    with pytest.raises(BusUnavailable):
        await Bus.connect(tls_server.url, "no-cert", connect_timeout_s=3, tls=no_cert)


def test_the_shipped_nats_tls_conf_is_valid(certs: Path) -> None:
    env = {password_env(user.name): "Secret1" for user in users()}
    env |= {TELEMETRY_SUBJECT_ENV: "telemetry.host.test", "NATS_TLS_VERIFY": "true"}
    env |= {"NATS_TLS_SERVER_CERT": str(certs / "server.pem"), "NATS_TLS_SERVER_KEY": str(certs / "server-key.pem")}
    env |= {"NATS_TLS_CA": str(certs / "ca.pem"), "PATH": "/usr/bin:/bin"}
    checked = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(REPO / "nats-tls.conf")], env=env, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
