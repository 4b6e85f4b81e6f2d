"""`pagi eval` as a person runs it: a real process over the real bus and the real planner."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from bus_schemas.evals import EvalResult
from pagi.bus import Bus, PullConsumer
from pagi_cli.nats_server import NatsServer
from records.evals import EvalStore
from records.twins import TwinStore

from ..fake_llm import FakeLLMServer, Reply
from .conftest import Say, answer, llm_twin


def pagi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pagi_cli", "eval", *args], capture_output=True, text=True, timeout=90, check=False
    )


async def test_pagi_eval_creates_lists_shows_and_runs_a_set(
    bus: Bus,
    nats_server: NatsServer,
    planner: list[PullConsumer],
    twins: TwinStore,
    fake_llm: FakeLLMServer,
    say_and_finish: Say,
    session_id: str,
    tmp_path: Path,
) -> None:
    url = ("--nats-url", nats_server.url)
    twin_id = await llm_twin(twins, fake_llm)
    fake_llm.script(Reply(answer("It is 4.")))
    job = await say_and_finish("what is 2+2?", twin_id)

    created = await asyncio.to_thread(
        pagi, "create", "cli-set", "--twin", twin_id, "--session", session_id, "--job", job.job_id,
        "--check", r"regex:\b4\b", "--check", "must_not_call:command_exec", *url,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "created cli-set" in created.stdout and "what is 2+2?" in created.stdout
    again = await asyncio.to_thread(pagi, "create", "cli-set", "--twin", twin_id, "--session", session_id,
                                    "--check", "must_ask_approval", *url)  # fmt: skip
    assert again.returncode == 2 and "exists already" in again.stderr
    listed = await asyncio.to_thread(pagi, "list", "--twin", twin_id, *url)
    assert "cli-set" in listed.stdout and "1 case(s)" in listed.stdout

    ran = await asyncio.to_thread(pagi, "run", "cli-set", "--timeout", "30", *url)
    assert ran.returncode == 0, ran.stderr + ran.stdout
    assert "1/1 passed, 100%" in ran.stdout and "model calls 0, replayed 1" in ran.stdout
    assert "case-1       PASS  (current: pass)" in ran.stdout

    # A file of cases whose check fails: exit status 1, the failed check shown.
    cases = [{"session_id": session_id, "checks": [{"kind": "must_call", "value": "command_exec"}]}]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    from_file = await asyncio.to_thread(
        pagi, "create", "strict", "--twin", twin_id, "--from-file", str(tmp_path / "cases.json"), *url
    )
    assert from_file.returncode == 0, from_file.stderr
    failed = await asyncio.to_thread(pagi, "run", "strict", "--no-baseline", "--json", *url)
    assert failed.returncode == 1
    result = EvalResult.model_validate_json(failed.stdout)
    assert (result.failed, result.baseline_pass_rate) == (1, None)
    shown = await asyncio.to_thread(pagi, "show", "strict", *url)
    assert f"run {result.run_id}: 0/1 passed" in shown.stdout
    assert await (await EvalStore.open(bus)).result("strict", result.run_id) == result


async def test_pagi_eval_refuses_bad_input_clearly(
    nats_server: NatsServer, planner: list[PullConsumer], twins: TwinStore, fake_llm: FakeLLMServer
) -> None:
    url = ("--nats-url", nats_server.url)
    create = ("create", "s", "--twin", "t", "--session", "x")
    bad_check = await asyncio.to_thread(pagi, *create, "--check", "vibes:1", *url)
    assert bad_check.returncode == 2 and "unknown check 'vibes'" in bad_check.stderr
    no_value = await asyncio.to_thread(pagi, *create, "--check", "regex", *url)
    assert no_value.returncode == 2 and "needs a value" in no_value.stderr
    no_session = await asyncio.to_thread(
        pagi, "create", "s", "--twin", "t", "--session", "nobody", "--check", "must_ask_approval", *url
    )
    assert no_session.returncode == 2 and "no recorded jobs in session nobody" in no_session.stderr
    unknown = await asyncio.to_thread(pagi, "run", "no-such-set", *url)
    assert unknown.returncode == 2 and "failed: no eval set 'no-such-set'" in unknown.stdout
    missing = await asyncio.to_thread(pagi, "show", "no-such-set", *url)
    assert missing.returncode == 2 and "no eval set 'no-such-set'" in missing.stderr
