"""`python -m bench.doors`: what each door adds to a greeting, next to PAGI's own `POST /v1/chat` (issue 19).

One real `pagi up` (every service its own process, the deterministic planner, API keys, and
`PAGI_NATS_AGENT_CALLERS=alice` so the agent door has a caller) answers "hello" for alice through:

- `POST /v1/chat`: the baseline, plain aiohttp;
- `OpenAI`: the official `openai` SDK, `chat.completions.create`, not streamed;
- `A2A`: the `a2a-sdk` client, `send_message`, until the artifact's last chunk;
- `MCP`: the `mcp` SDK over Streamable HTTP, `call_tool("ask_orchestrator", {"message": "hello"})`;
- `agents (NATS)`: `synadia-ai-agents`, `prompt("hello")` on alice's orchestrator agent.

Every client is opened once before timing, so the figures are per call on open connections. The paths
alternate round by round so machine noise hits them alike; warm-up rounds are left out. Goal: each
door's p50 at most 1.3 times the p50 of `POST /v1/chat`. On each nats-server configuration
(`--nats-config`, default both): `pagi up`'s own server (nats.conf: fsync on every write, a user per
service, alice's agent user), and `pagi up` on a bare server given by NATS_URL (no users; the agent
door then connects with none), each a fresh stack with its baseline measured in it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import httpx
import httpx2
import nats
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.helpers.proto_helpers import get_artifact_text, new_text_message
from a2a.types import a2a_pb2 as a2a
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from openai import AsyncOpenAI
from synadia_ai.agents import Agents, DiscoverFilter, ResponseChunk

from bench.stack import NatsConfig, add_config_argument, chosen_configs, config_heading, running_pagi
from pagi.nats_users import AGENT_SDK_INBOX

GOAL_RATIO = 1.3
KEY = "alice-bench-doors-key-0123456789abcdef"
GREETING = "hello"
ANSWER = "You said: hello"
TWIN = "orchestrator"
CALL_TIMEOUT_S = 30.0
START_TIMEOUT_S = 180.0
UNTHROTTLED = {"PAGI_RATE_LIMIT_RPS": "100000", "PAGI_RATE_LIMIT_BURST": "100000"}

Call = Callable[[], Awaitable[str]]


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def agent_password(data_dir: Path) -> str:
    for line in (data_dir / "nats-passwords.env").read_text().splitlines():
        name, _, value = line.partition("=")
        if "AGENT_ALICE" in name:
            return value.strip()
    raise SystemExit("no AGENT_ALICE line in nats-passwords.env")


def checked(door: str, text: str) -> str:
    if ANSWER not in text:
        raise SystemExit(f"{door} did not answer the greeting: {text!r}")
    return text


async def chat_path(stack: AsyncExitStack, url: str) -> Call:
    http = await stack.enter_async_context(aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}))

    async def call() -> str:
        async with http.post(url + "/v1/chat", json={"message": GREETING, "session_id": "bench-doors-chat"}) as reply:
            body = await reply.json()
        return checked("POST /v1/chat", str(body.get("response")))

    return call


async def openai_path(stack: AsyncExitStack, url: str) -> Call:
    client = AsyncOpenAI(base_url=url + "/v1", api_key=KEY, timeout=CALL_TIMEOUT_S, max_retries=0)
    stack.push_async_callback(client.close)

    async def call() -> str:
        reply = await client.chat.completions.create(
            model=TWIN,
            messages=[{"role": "user", "content": GREETING}],
            extra_headers={"X-PAGI-Session": "bench-doors-openai"},
        )
        return checked("OpenAI", reply.choices[0].message.content or "")

    return call


async def a2a_path(stack: AsyncExitStack, url: str) -> Call:
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=CALL_TIMEOUT_S)
    stack.push_async_callback(http.aclose)
    card = await A2ACardResolver(http, url).get_agent_card()
    client = ClientFactory(ClientConfig(httpx_client=http)).create(card)

    async def call() -> str:
        request = a2a.SendMessageRequest(message=new_text_message(GREETING, role=a2a.ROLE_USER))
        texts: list[str] = []
        async for event in client.send_message(request):
            if event.HasField("artifact_update") and event.artifact_update.last_chunk:
                texts.append(get_artifact_text(event.artifact_update.artifact))
        return checked("A2A", " ".join(texts))

    return call


async def mcp_path(stack: AsyncExitStack, url: str) -> Call:
    headers = {"Authorization": f"Bearer {KEY}"}
    http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(CALL_TIMEOUT_S)))
    read, write = await stack.enter_async_context(streamable_http_client(url + "/mcp", http_client=http))
    session = await stack.enter_async_context(ClientSession(read, write))
    await session.initialize()

    async def call() -> str:
        result = await session.call_tool(f"ask_{TWIN}", {"message": GREETING})
        return checked("MCP", " ".join(getattr(c, "text", "") for c in result.content))

    return call


async def agents_path(stack: AsyncExitStack, nats_port: int, data_dir: Path, config: NatsConfig) -> Call:
    # A bare server has no users (`pagi up` generates no passwords for a server it did not start).
    user = f"agent_alice:{agent_password(data_dir)}@" if config == "pagi" else ""
    nc = await nats.connect(
        f"nats://{user}127.0.0.1:{nats_port}",
        inbox_prefix=AGENT_SDK_INBOX,
        connect_timeout=5,
        max_reconnect_attempts=0,
    )
    stack.push_async_callback(nc.close)
    agents = Agents(nc=nc, stream_inactivity_timeout=CALL_TIMEOUT_S)
    stack.push_async_callback(agents.close)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        found = [
            a for a in await agents.discover(filter=DiscoverFilter(owner="alice")) if a.metadata.get("twin") == TWIN
        ]
        if found:
            break
        if time.monotonic() > deadline:
            raise SystemExit("alice's orchestrator agent was never listed")
        await asyncio.sleep(0.2)  # the agent registers as the planner starts: bounded by the deadline
    agent = found[0]

    async def call() -> str:
        chunks = [m async for m in agent.prompt(GREETING, timeout=CALL_TIMEOUT_S)]
        return checked("agents", "".join(m.text for m in chunks if isinstance(m, ResponseChunk)))

    return call


async def measure(paths: dict[str, Call], rounds: int, warmup: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in paths}
    for round_no in range(warmup + rounds):
        for name, call in paths.items():
            started = time.perf_counter()
            async with asyncio.timeout(CALL_TIMEOUT_S):
                await call()
            if round_no >= warmup:
                times[name].append((time.perf_counter() - started) * 1000.0)
    return times


def report(times: dict[str, list[float]], rounds: int, left_out: list[str]) -> None:
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )
    print(f"greeting: {GREETING!r} as alice to {TWIN}   rounds: {rounds} each, alternating, warm-up left out")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    base = statistics.median(times["POST /v1/chat"])
    for name, values in times.items():
        p50 = statistics.median(values)
        text = f"{name:<16} p50 {p50:7.1f} ms   p90 {percentile(values, 0.9):7.1f} ms"
        if name != "POST /v1/chat":
            ratio = p50 / base
            text += f"   ratio p50 {ratio:5.2f}   goal <= {GOAL_RATIO}: {'hit' if ratio <= GOAL_RATIO else 'MISS'}"
        print(text)
    for name in left_out:
        print(f"{name:<16} left out")


async def main(root: Path, rounds: int, warmup: int, skip: set[str], config: NatsConfig) -> None:
    data_dir = root / config / ".pagi"
    data_dir.parent.mkdir()
    env = UNTHROTTLED | {"PAGI_API_KEYS": f"{KEY}:alice", "PAGI_NATS_AGENT_CALLERS": "alice"}
    async with running_pagi(data_dir, env, config) as (url, nats_port), AsyncExitStack() as stack:
        makers: dict[str, Callable[[], Awaitable[Call]]] = {
            "POST /v1/chat": lambda: chat_path(stack, url),
            "OpenAI": lambda: openai_path(stack, url),
            "A2A": lambda: a2a_path(stack, url),
            "MCP": lambda: mcp_path(stack, url),
            "agents (NATS)": lambda: agents_path(stack, nats_port, data_dir, config),
        }
        paths = {name: await make() for name, make in makers.items() if name not in skip}
        times = await measure(paths, rounds, warmup)
    report(times, rounds, [name for name in makers if name in skip])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--skip", action="append", default=[], help="a door to leave out, by its printed name")
    add_config_argument(parser)
    args = parser.parse_args()
    bench_root = Path(tempfile.mkdtemp(prefix="pagi-bench-doors-", dir="/tmp"))
    bench_root.chmod(0o711)  # the sandbox uid must reach the tool worker's state directory
    try:
        for nats_config in chosen_configs(args):
            print(config_heading(nats_config), flush=True)
            asyncio.run(main(bench_root, args.rounds, args.warmup, set(args.skip), nats_config))
    finally:
        shutil.rmtree(bench_root, ignore_errors=True)
