"""`pagi eval`: eval sets of recorded turns, and runs of them against a prompt version, over the bus.

    pagi eval create SET --twin T --session S [--job J] --check KIND[:VALUE] ...   one case
    pagi eval create SET --twin T --from-file cases.json       cases as [{"session_id", "job_id"?, "checks"}]
    pagi eval list [--twin T]
    pagi eval show SET                                          its cases and latest results
    pagi eval run SET [--prompt-version N] [--no-baseline] [--timeout S] [--json]

`run` publishes eval.run and waits for the planner's eval.result: per case pass or fail, what it cost,
and how the twin's current prompt did (the diff). Exit status: 0 every case passed, 1 some failed,
2 the run failed or did not answer in time. It uses the bus credentials `pagi up` wrote (the
operator's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from bus_schemas import Envelope, new_id
from bus_schemas.evals import CHECK_KINDS, EvalCaseWrite, EvalCheck, EvalResult, EvalRun, EvalSet, EvalSetWrite
from bus_schemas.subjects import EVAL_RESULT, EVAL_RUN
from pagi.bus import Bus, BusUnavailable
from records.approvals import ApprovalStore
from records.evals import CaptureError, EvalStore, capture_set
from records.jobs import JobStore

from .options import add_bus_options, bus_unreachable, connect_bus

CASES: TypeAdapter[list[EvalCaseWrite]] = TypeAdapter(list[EvalCaseWrite])
RECENT_RESULTS = 5


class Refused(ValueError):
    """What the person asked for cannot be done; the message says why."""


def add_commands(commands: Any) -> None:
    eval_cmd = commands.add_parser("eval", help="eval sets of recorded turns, run against a prompt version")
    sub = eval_cmd.add_subparsers(dest="eval_command", required=True)
    create = sub.add_parser("create", help="a new set from recorded sessions")
    create.add_argument("set_id")
    create.add_argument("--twin", required=True, help="the twin the set is for")
    create.add_argument("--session", help="the recorded session of the one case")
    create.add_argument("--job", help="the job in it (default: the session's last finished job)")
    create.add_argument(
        "--check", action="append", default=[], metavar="KIND[:VALUE]", help=f"one of {', '.join(CHECK_KINDS)}"
    )
    create.add_argument("--from-file", type=Path, help="cases as JSON: [{session_id, job_id?, checks}]")
    create.add_argument("--description", default="")
    create.set_defaults(run=run_create)
    listing = sub.add_parser("list", help="the sets (of one twin)")
    listing.add_argument("--twin")
    listing.set_defaults(run=run_list)
    show = sub.add_parser("show", help="a set's cases and latest results")
    show.add_argument("set_id")
    show.set_defaults(run=run_show)
    run_cmd = sub.add_parser("run", help="re-run a set's cases with a prompt version")
    run_cmd.add_argument("set_id")
    run_cmd.add_argument("--prompt-version", type=int, help="default: the twin's current prompt")
    run_cmd.add_argument("--no-baseline", action="store_true", help="do not run the current prompt for the diff")
    run_cmd.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the result")
    run_cmd.add_argument("--json", action="store_true", help="the result as JSON (EvalResult)")
    run_cmd.set_defaults(run=run_run)
    for parser in (create, listing, show, run_cmd):
        add_bus_options(parser)


def parse_check(text: str) -> EvalCheck:
    kind, _, value = text.partition(":")
    if kind not in CHECK_KINDS:
        raise Refused(f"unknown check {kind!r} (one of {', '.join(CHECK_KINDS)})")
    if kind != "must_ask_approval" and not value:
        raise Refused(f"a {kind} check needs a value: {kind}:VALUE")
    return EvalCheck.model_validate({"kind": kind, "value": value})


def cases_of(args: argparse.Namespace) -> list[EvalCaseWrite]:
    if args.from_file is not None:
        if args.session or args.check:
            raise Refused("--from-file replaces --session and --check")
        return CASES.validate_json(args.from_file.read_bytes())
    if not args.session or not args.check:
        raise Refused("a case needs --session and at least one --check (or --from-file)")
    return [EvalCaseWrite(session_id=args.session, job_id=args.job, checks=[parse_check(c) for c in args.check])]


def _on_bus(args: argparse.Namespace, work: Any) -> int:
    async def main() -> int:
        try:
            bus = await connect_bus(args, "pagi-eval")
        except (BusUnavailable, TimeoutError, OSError) as exc:
            print(f"pagi eval: {bus_unreachable(args, exc)}", file=sys.stderr)
            return 2
        try:
            return int(await work(bus))
        finally:
            await bus.close()

    try:
        return asyncio.run(main())
    except (Refused, CaptureError, BusUnavailable) as exc:
        print(f"pagi eval: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"pagi eval: invalid input: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"pagi eval: {exc}", file=sys.stderr)
        return 2


def run_create(args: argparse.Namespace) -> int:
    async def work(bus: Bus) -> int:
        write = EvalSetWrite(set_id=args.set_id, twin_id=args.twin, description=args.description, cases=cases_of(args))
        captured = await capture_set(await JobStore.open(bus), write, "cli", await ApprovalStore.open(bus))
        if not await (await EvalStore.open(bus)).create(captured):
            raise Refused(f"eval set {args.set_id!r} exists already")
        sys.stdout.write(f"created {captured.set_id} for {captured.twin_id}: {len(captured.cases)} case(s)\n")
        sys.stdout.write("".join(f"  {line}\n" for line in case_lines(captured)))
        return 0

    return _on_bus(args, work)


def case_lines(s: EvalSet) -> list[str]:
    lines = []
    for c in s.cases:
        checks = ", ".join(f"{k.kind}:{k.value}" if k.value else k.kind for k in c.checks)
        lines.append(f"{c.case_id}  session {c.session_id} job {c.job_id}  {c.message[:60]!r}  [{checks}]")
    return lines


def run_list(args: argparse.Namespace) -> int:
    async def work(bus: Bus) -> int:
        sets = await (await EvalStore.open(bus)).sets(args.twin)
        for s in sets:
            sys.stdout.write(f"{s.set_id:<24} twin {s.twin_id:<24} {len(s.cases):>3} case(s)  {s.description}\n")
        if not sets:
            sys.stdout.write("(no eval sets)\n")
        return 0

    return _on_bus(args, work)


def run_show(args: argparse.Namespace) -> int:
    async def work(bus: Bus) -> int:
        store = await EvalStore.open(bus)
        found = await store.get(args.set_id)
        if found is None:
            raise Refused(f"no eval set {args.set_id!r}")
        sys.stdout.write(f"{found.set_id} (twin {found.twin_id}, by {found.created_by}) {found.description}\n")
        sys.stdout.write("".join(f"  {line}\n" for line in case_lines(found)))
        for r in (await store.results(args.set_id))[:RECENT_RESULTS]:
            sys.stdout.write(f"run {r.run_id}: {summary_line(r)}\n")
        return 0

    return _on_bus(args, work)


def money(cost: float | None) -> str:
    return "unknown" if cost is None else f"${cost:.4f}"


def version_name(version: int | None) -> str:
    return "proposed prompt" if version is None else f"prompt v{version}"


def summary_line(r: EvalResult) -> str:
    if r.state != "done":
        return f"{r.state}: {r.error or ''}"
    baseline = ""
    if r.baseline_pass_rate is not None:
        baseline = f" (current {version_name(r.baseline_version)}: {r.baseline_pass_rate:.0%})"
    return (
        f"{r.passed}/{len(r.cases)} passed, {r.pass_rate:.0%}{baseline}; model calls {r.llm_calls}, "
        f"replayed {r.replayed_calls}, tokens {r.input_tokens}+{r.output_tokens}, cost {money(r.cost)}, "
        f"{r.seconds:.2f} s"
    )


def render(r: EvalResult) -> str:
    lines = [f"eval {r.set_id} with {version_name(r.prompt_version)} on {r.twin_id}: {summary_line(r)}"]
    for c in r.cases:
        diff = ""
        if c.baseline_passed is not None:
            diff = "  (current: " + ("pass" if c.baseline_passed else "fail") + ")"
            diff += "  CHANGED" if c.baseline_passed != c.passed else ""
        lines.append(
            f"  {c.case_id:<12} {'PASS' if c.passed else 'FAIL'}{diff}  calls {c.llm_calls} replayed "
            f"{c.replayed_calls}  {money(c.cost)}"
        )
        if c.error:
            lines.append(f"      error: {c.error}")
        for k in c.checks:
            mark = {True: "ok", False: "FAILED", None: "not judged"}[k.passed]
            lines.append(f"      {k.kind}{':' + k.value if k.value else ''}  {mark}  {k.detail}".rstrip())
    return "\n".join(lines) + "\n"


def run_run(args: argparse.Namespace) -> int:
    async def work(bus: Bus) -> int:
        run_id = new_id()[:20]
        session_id = f"eval-{run_id}"
        found: asyncio.Future[EvalResult] = asyncio.get_running_loop().create_future()

        async def on_result(event: Envelope[Any]) -> None:
            if isinstance(event.body, EvalResult) and event.body.run_id == run_id and not found.done():
                found.set_result(event.body)

        observer = await bus.observe(f"{EVAL_RESULT}.{session_id}", on_result)
        try:
            await bus.nc.flush()
            body = EvalRun(
                run_id=run_id,
                set_id=args.set_id,
                prompt_version=args.prompt_version,
                baseline=not args.no_baseline,
                requested_by="cli",
            )
            await bus.publish(Envelope[EvalRun](type=EVAL_RUN, session_id=session_id, body=body))
            try:
                result = await asyncio.wait_for(found, args.timeout)
            except TimeoutError:
                raise Refused(f"no eval result within {args.timeout:g} s (is the planner running?)") from None
        finally:
            await observer.stop()
        sys.stdout.write(json.dumps(result.model_dump(mode="json"), indent=2) + "\n" if args.json else render(result))
        if result.state != "done":
            return 2
        return 0 if result.failed == 0 else 1

    return _on_bus(args, work)
