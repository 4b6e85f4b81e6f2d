"""`pagi usage` as a person runs it: a real process over the real bus, reading the ledger's totals."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from bus_schemas import Envelope
from bus_schemas.subjects import USAGE_LLM
from bus_schemas.usage import LlmUsage, UsageReport
from pagi.bus import Bus, PullConsumer
from pagi_cli.nats_server import NatsServer

from ..support import eventually
from .conftest import total


def pagi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pagi_cli", *args], capture_output=True, text=True, timeout=60, check=False
    )


async def test_pagi_usage_prints_totals_days_and_sessions(
    bus: Bus, nats_server: NatsServer, planner: list[PullConsumer], session_id: str
) -> None:
    usage = LlmUsage(provider="anthropic", model="claude-haiku-4-5", input_tokens=1200, output_tokens=300,
                     latency_ms=40, cost=0.0027, twin_id="orchestrator", user_id="ann", step=1)  # fmt: skip
    seq = await bus.publish(Envelope[Any](type=USAGE_LLM, session_id=session_id, body=usage))
    await eventually(lambda: _reached(bus, seq), what="the ledger counting it")
    day = datetime.now(UTC).date().isoformat()
    url = nats_server.url

    shown = await asyncio.to_thread(pagi, "usage", "--by", "model", "--nats-url", url)
    assert shown.returncode == 0, shown.stderr
    assert "anthropic/claude-haiku-4-5" in shown.stdout and "$0.0027" in shown.stdout
    assert f"{day}  in      1200  out       300" in shown.stdout and session_id in shown.stdout

    as_json = await asyncio.to_thread(pagi, "usage", "--by", "user", "--since", day, "--json", "--nats-url", url)
    report = UsageReport.model_validate_json(as_json.stdout)
    assert [(g.key, g.calls, g.input_tokens) for g in report.groups] == [("ann", 1, 1200)]

    priced = await asyncio.to_thread(pagi, "usage", "prices", "set", "acme", "m/1", "2", "8", "--nats-url", url)
    assert priced.returncode == 0, priced.stderr
    assert "acme" in priced.stdout and "m/1" in priced.stdout and "gpt-4o-mini" in priced.stdout
    bad = await asyncio.to_thread(pagi, "usage", "--since", "not-a-date", "--nats-url", url)
    assert bad.returncode == 2 and "pagi usage:" in bad.stderr


async def _reached(bus: Bus, seq: int) -> Any:
    key = f"{datetime.now(UTC).date().isoformat()}.all.all"
    found = await total(bus, key)
    return found if found is not None and found.seq >= seq else None
