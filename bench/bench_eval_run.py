"""`python -m bench.bench_eval_run`: `pagi eval run` over 100 recorded turns with recorded replies
(issue 21, goal <= 10 s on 2 cores).

A real nats-server; the planner's routes in this process. N recorded jobs of a twin on an
OpenAI-compatible provider are written as the planner writes them (half a direct answer, half a tool
step asked for approval, its result, then the answer; every decision an LLM reply), one per session,
captured into one eval set with a regex, a must_call / must_not_call and a must_ask_approval check.
Timed, median of `--rounds`: eval.run published -> eval.result received (with the baseline: every
case re-run twice), the runner's own `seconds`, and the whole `pagi eval run SET` command (a new
Python process: start-up, connect, run, print). The provider's address is a closed port: a model
call would fail the case, so a run that passes every case called none.

The floor beside it: the same number of KV reads of the recorded jobs and one eval.run -> eval.result
round trip of an empty set (the runner's fixed cost), in the same run. Everything runs on each
nats-server configuration (`--nats-config`, default both: bare, and `pagi up`'s nats.conf, the
planner's routes and the KV floor as the planner's own user, the bench and `pagi eval run` as the
operator, as `pagi.env` gives it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bus_schemas import ActionResponse, ActionTool, Envelope, new_id
from bus_schemas.evals import EvalCaseWrite, EvalCheck, EvalResult, EvalRun, EvalSet, EvalSetWrite
from bus_schemas.jobs import JobRecord, JobStep
from bus_schemas.subjects import EVAL_RESULT, EVAL_RUN
from bus_schemas.twin import TwinWrite
from pagi.bus import Bus
from pagi.service import start_routes
from planner.__main__ import PlannerService
from records.approvals import ApprovalStore
from records.evals import EvalStore, capture_set
from records.jobs import JobStore
from records.twins import TwinStore

from .stack import NatsConfig, add_config_argument, chosen_configs, config_heading, running_nats

TWIN = "bench-evals"
DECIDED_BY = "llm:openai-compatible/fake-model"


def recorded_job(n: int) -> JobRecord:
    now = datetime.now(UTC)
    session, job_id = f"bench-eval-{n}", f"job-{n}"
    steps = []
    if n % 2:
        tool = ActionTool(tool_name="command_exec", args={"cmd": f"ls /data/{n}"})
        steps.append(
            JobStep(step=1, trigger_id=f"{job_id}-t1", action_type="ActionTool", action=tool.model_dump(),
                    decided_by=DECIDED_BY, raw=tool.model_dump_json(), observation=f"file-{n}.txt\n" * 20)
        )  # fmt: skip
    answer = ActionResponse(content=f"Recorded answer {n}: " + "the files are listed above. " * 8)
    steps.append(
        JobStep(step=len(steps) + 1, trigger_id=f"{job_id}-t{len(steps) + 1}", action_type="ActionResponse",
                action=answer.model_dump(), decided_by=DECIDED_BY, raw=answer.model_dump_json())
    )  # fmt: skip
    return JobRecord(job_id=job_id, session_id=session, twin_id=TWIN, user_id="bench", message=f"list files {n}",
                     status="completed", steps=steps, created_at=now, updated_at=now)  # fmt: skip


async def seed(bus: Bus, turns: int) -> None:
    twins = await TwinStore.open(bus)
    settings = {"codename": "Bench", "provider": "openai-compatible", "model": "fake-model",
                "base_url": "http://127.0.0.1:9/v1", "directive_logic": "You list files."}  # fmt: skip
    await twins.create(TWIN, TwinWrite.model_validate(settings))
    jobs = await JobStore.open(bus)
    for n in range(turns):
        await jobs.create(recorded_job(n))
    checks = [
        EvalCheck(kind="regex", value=r"^Recorded answer \d+"),
        EvalCheck(kind="must_not_call", value="build_tool"),
    ]
    tool_checks = [EvalCheck(kind="must_call", value="command_exec"), EvalCheck(kind="must_ask_approval")]
    write = EvalSetWrite(
        set_id="bench",
        twin_id=TWIN,
        cases=[
            EvalCaseWrite(session_id=f"bench-eval-{n}", checks=checks + (tool_checks if n % 2 else []))
            for n in range(turns)
        ],
    )
    evals = await EvalStore.open(bus)
    await evals.create(await capture_set(jobs, write, "bench", await ApprovalStore.open(bus)))
    empty = EvalSet(set_id="empty", twin_id=TWIN, created_by="bench", created_at=datetime.now(UTC))
    await evals.create(empty)


async def run_once(bus: Bus, set_id: str) -> tuple[float, EvalResult]:
    run_id = new_id()[:20]
    session = f"bench-run-{run_id}"
    found: asyncio.Future[EvalResult] = asyncio.get_running_loop().create_future()

    async def on_result(event: Envelope[Any]) -> None:
        if not found.done():
            found.set_result(event.body)

    observer = await bus.observe(f"{EVAL_RESULT}.{session}", on_result)
    await bus.nc.flush()
    started = time.perf_counter()
    body = EvalRun(run_id=run_id, set_id=set_id, requested_by="bench")
    await bus.publish(Envelope[EvalRun](type=EVAL_RUN, session_id=session, body=body))
    result = await asyncio.wait_for(found, 120)
    elapsed = time.perf_counter() - started
    await observer.stop()
    return elapsed, result


async def kv_floor(bus: Bus, turns: int) -> float:
    jobs = await JobStore.open(bus)
    started = time.perf_counter()
    for n in range(turns):
        await jobs.get(f"bench-eval-{n}", f"job-{n}")
    return time.perf_counter() - started


def cli_run(url: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pagi_cli", "eval", "run", "bench", "--nats-url", url],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"pagi eval run failed ({done.returncode}): {done.stderr or done.stdout[-2000:]}")
    return elapsed


async def run(args: argparse.Namespace, config: NatsConfig) -> None:
    print(config_heading(config))
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}")
    async with running_nats(config) as nats:
        bus = await Bus.connect(nats.url, "bench-evals", connect_timeout_s=10)
        planner_bus = await Bus.connect(nats.url_for("planner"), "bench-evals-planner", connect_timeout_s=10)
        service = PlannerService()
        consumers = await start_routes(planner_bus, await service.routes(planner_bus))
        try:
            await seed(bus, args.turns)
            rounds, seconds = [], []
            for _ in range(args.rounds):
                elapsed, result = await run_once(bus, "bench")
                assert result.state == "done", result.error
                assert result.passed == args.turns and result.llm_calls == 0, (result.passed, result.llm_calls)
                rounds.append(elapsed)
                seconds.append(result.seconds)
            floors = [await kv_floor(planner_bus, args.turns) for _ in range(args.rounds)]
            empties = [(await run_once(bus, "empty"))[0] for _ in range(args.rounds)]
            clis = [await asyncio.to_thread(cli_run, nats.url) for _ in range(args.cli_rounds)]
        finally:
            for consumer in consumers:
                await consumer.stop()
            await service.close()
            await planner_bus.close()
            await bus.close()
    replayed = result.replayed_calls
    print(f"\n{args.turns} recorded turns ({replayed} recorded replies per run incl. baseline), "
          f"medians of {args.rounds} rounds:")  # fmt: skip
    print(f"  eval.run -> eval.result          {statistics.median(rounds) * 1000:8.1f} ms")
    print(f"  runner's own seconds             {statistics.median(seconds) * 1000:8.1f} ms")
    print(f"  pagi eval run (new process)      {statistics.median(clis) * 1000:8.1f} ms  ({args.cli_rounds} runs)")
    print(f"  floor: {args.turns} KV reads of the jobs  {statistics.median(floors) * 1000:8.1f} ms")
    print(f"  floor: empty set round trip      {statistics.median(empties) * 1000:8.1f} ms")
    print(f"  load after: {os.getloadavg()[0]:.2f}")
    print(
        json.dumps(
            {
                "nats_config": config,
                "turns": args.turns,
                "round_s": statistics.median(rounds),
                "cli_s": statistics.median(clis),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_eval_run", description=__doc__)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cli-rounds", type=int, default=3)
    add_config_argument(parser)
    args = parser.parse_args()
    for config in chosen_configs(args):
        asyncio.run(run(args, config))


if __name__ == "__main__":
    main()
