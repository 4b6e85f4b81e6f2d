"""NATS service discovery as `nats micro ls|info|stats` read it (the JS client's Svcm: `$SRV.PING`,
`$SRV.INFO`, `$SRV.STATS`): every PAGI service with its version, instance id and endpoints."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import aiohttp
import pytest

from ..up import Up
from .recipes import CHECKOUT, Shell, covers, recipe

pytestmark = pytest.mark.asyncio(loop_scope="package")

SERVICES = ("edge", "planner", "memory_worker", "tool_worker", "build_worker", "telemetry_agent")
LS = "nats micro ls"
INFO = "nats micro info memory_worker"
STATS = "nats micro stats memory_worker"
REQ = """nats req api.memory '{"op":"namespaces"}'"""


def package_version() -> str:
    version: str = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]["version"]
    return version


async def health_instances(up: Up) -> dict[str, set[str]]:
    async with aiohttp.ClientSession() as http, http.get(f"{up.url}/health") as response:
        services: dict[str, Any] = (await response.json())["services"]
    return {name: {i["instance"] for i in s["instances"]} for name, s in services.items()}


async def as_json(shell: Shell, command: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads((await shell.ok(f"{command} --json")).stdout)
    return found


@covers(LS)
async def test_every_service_is_listed_with_version_and_instance(shell: Shell, user_up: Up) -> None:
    version = package_version()
    assert version != "0.0.0"
    listing = (await shell.ok(recipe(LS).text)).stdout
    instances = await health_instances(user_up)
    pings = await as_json(shell, "nats micro ls")
    for name in SERVICES:
        mine = [p for p in pings if p["name"] == name]
        assert mine, f"{name} does not answer $SRV.PING: {listing}"
        for ping in mine:
            assert ping["version"] == version, ping
            # The same instance id /health names, so the two views can be joined.
            assert ping["metadata"]["instance"] in instances[name], (ping, instances[name])
        assert any(line.split()[:2] == [name, version] for line in listing.splitlines()), listing


@covers(INFO, STATS, REQ)
async def test_info_and_stats_show_endpoints_and_their_use(shell: Shell) -> None:
    info = (await shell.ok(recipe(INFO).text)).stdout
    assert "memory: api.memory (queue group memory_worker)" in info and f"Version: {package_version()}" in info
    for name in SERVICES:
        [described] = await as_json(shell, f"nats micro info {name}")
        assert described["version"] == package_version() and described["metadata"]["instance"]
        assert described["metadata"]["pid"].isdigit() and described["description"]
        if name == "memory_worker":
            assert {e["subject"] for e in described["endpoints"]} >= {"api.memory"}

    def requests(stats: list[dict[str, Any]]) -> tuple[int, int]:
        [memory] = [e for s in stats for e in s["endpoints"] if e["subject"] == "api.memory"]
        return memory["num_requests"], memory["num_errors"]

    before = requests(await as_json(shell, "nats micro stats memory_worker"))
    reply = await shell.ok(recipe(REQ).text)
    assert json.loads(reply.stdout.strip().splitlines()[-1])["ok"] is True
    # The adversary: a malformed request is a micro error the caller can read, counted, and the
    # endpoint answers the next request.
    refused = await shell.ok("nats req api.memory 'not json'")
    assert "Nats-Service-Error-Code: 400" in refused.stdout, refused.stdout
    again = await shell.ok(recipe(REQ).text)
    assert json.loads(again.stdout.strip().splitlines()[-1])["ok"] is True
    after = requests(await as_json(shell, "nats micro stats memory_worker"))
    assert after[0] - before[0] == 3 and after[1] - before[1] == 1, (before, after)
    table = (await shell.ok(recipe(STATS).text)).stdout
    assert any(line.split()[0] == "memory_worker" and "memory" in line.split() for line in table.splitlines()[1:])


async def test_an_unknown_service_is_a_clear_error(shell: Shell) -> None:
    done = await shell.run("nats micro info no_such_service")
    assert done.returncode == 1 and 'no micro service named "no_such_service" answered' in done.stderr
