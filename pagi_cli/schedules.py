"""`pagi schedule`: messages sent to a twin on a schedule (bus_schemas/schedules.py, records/schedules.py).

    pagi schedule add --twin TWIN --session SESSION --spec SPEC [--time-zone ZONE] [--user USER] MESSAGE
    pagi schedule list [--json]
    pagi schedule pause|resume|rm ID

SPEC is `@every 1m`, `@at 2027-01-01T08:00:00Z` or a 6-field cron (`0 0 8 * * 1-5`, with --time-zone).
It runs with the bus credentials `pagi up` wrote (the operator's): the scheduled message is sent as
--user (default: the session's owner, else `admin`), as `POST /v1/schedules` by that user would.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from pydantic import ValidationError

from bus_schemas.schedules import Schedule, ScheduleList, ScheduleWrite
from bus_schemas.streams import SESSIONS
from pagi.bus import Bus
from records import schedules
from records.schedules import ScheduleError, ScheduleStore
from records.sessions import SessionOwners

from .options import add_bus_options, bus_unreachable, connect_bus

DEFAULT_USER = "admin"


def add_commands(commands: Any) -> None:
    cmd = commands.add_parser("schedule", help="messages sent to a twin on a schedule")
    sub = cmd.add_subparsers(dest="schedule_command", required=True)
    add_cmd = sub.add_parser("add", help="schedule a message to a twin")
    add_cmd.add_argument("message", help="what the twin is asked each time")
    add_cmd.add_argument("--twin", required=True, help="the twin's id")
    add_cmd.add_argument("--session", required=True, help="the session the jobs run in")
    add_cmd.add_argument("--spec", required=True, help="'@every 1m', '@at <RFC 3339>' or a 6-field cron")
    add_cmd.add_argument("--time-zone", help="for a cron: an IANA name such as Europe/Berlin (default UTC)")
    add_cmd.add_argument("--user", help=f"who sends it (default: the session's owner, else {DEFAULT_USER})")
    add_bus_options(add_cmd)
    add_cmd.set_defaults(run=run_add)
    list_cmd = sub.add_parser("list", help="every schedule: next and last run, its last job, paused")
    list_cmd.add_argument("--json", action="store_true", help="as JSON (GET /v1/schedules's shape)")
    add_bus_options(list_cmd)
    list_cmd.set_defaults(run=run_list)
    for name, run, what in (
        ("pause", run_pause, "pause a schedule (kept, not fired)"),
        ("resume", run_resume, "fire a paused schedule again"),
        ("rm", run_rm, "remove a schedule"),
    ):
        one = sub.add_parser(name, help=what)
        one.add_argument("schedule_id", help="the schedule's id (sch-...)")
        add_bus_options(one)
        one.set_defaults(run=run)


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "-"


def render(s: Schedule) -> str:
    zone = f" {s.time_zone}" if s.time_zone else ""
    state = "paused" if s.paused else ("done" if s.done else f"next {_when(s.next_run)}")
    skipped = f", {s.skipped} skipped" if s.skipped else ""
    return (
        f"{s.id}  {s.spec}{zone}  {state}  last {_when(s.last_run)} job {s.last_job_id or '-'} "
        f"({s.runs} runs{skipped})  {s.owner} -> {s.twin_id} in {s.session_id}: {s.message[:60]}"
    )


Work = Callable[[Bus, ScheduleStore, TextIO], Awaitable[int]]


async def _on_bus(args: argparse.Namespace, what: str, work: Work) -> int:
    try:
        bus: Bus = await connect_bus(args, f"pagi-schedule-{what}")
    except Exception as exc:
        sys.stderr.write(f"pagi schedule {what}: {bus_unreachable(args, exc)}\n")
        return 1
    try:
        return await work(bus, await ScheduleStore.open(bus), sys.stdout)
    except ScheduleError as exc:
        sys.stderr.write(f"pagi schedule {what}: {exc}\n")
        return 2
    finally:
        await bus.close()


def run_add(args: argparse.Namespace) -> int:
    try:
        write = ScheduleWrite(
            twin_id=args.twin, session_id=args.session, message=args.message, spec=args.spec, time_zone=args.time_zone
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'schedule'}: {e['msg']}" for e in exc.errors())
        sys.stderr.write(f"pagi schedule add: {problems}\n")
        return 2

    async def work(bus: Bus, store: ScheduleStore, out: TextIO) -> int:
        owners = SessionOwners(await bus.kv(SESSIONS))
        owner = await owners.claim(write.session_id, args.user or DEFAULT_USER)
        if owner is None or (args.user is not None and owner != args.user):
            raise ScheduleError(f"session {write.session_id} is {owner or 'unreadable'}'s, not {args.user}'s")
        schedule = await schedules.add(bus, store, write, owner, "member")
        out.write(render(schedule) + "\n")
        return 0

    return asyncio.run(_on_bus(args, "add", work))


def run_list(args: argparse.Namespace) -> int:
    async def work(bus: Bus, store: ScheduleStore, out: TextIO) -> int:
        found = await store.list()
        if args.json:
            out.write(ScheduleList(schedules=found).model_dump_json(indent=2) + "\n")
        else:
            out.write("".join(render(s) + "\n" for s in found) or "no schedules (pagi schedule add ...)\n")
        return 0

    return asyncio.run(_on_bus(args, "list", work))


def _one(
    what: str, change: Callable[[Bus, ScheduleStore, str], Awaitable[Schedule | bool | None]]
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        async def work(bus: Bus, store: ScheduleStore, out: TextIO) -> int:
            done = await change(bus, store, args.schedule_id)
            if not done:
                sys.stderr.write(f"pagi schedule {what}: no schedule {args.schedule_id}\n")
                return 1
            out.write(render(done) + "\n" if isinstance(done, Schedule) else f"removed {args.schedule_id}\n")
            return 0

        return asyncio.run(_on_bus(args, what, work))

    return run


run_pause = _one("pause", lambda bus, store, sid: schedules.pause(bus, store, sid))
run_resume = _one("resume", lambda bus, store, sid: schedules.resume(bus, store, sid))
run_rm = _one("rm", lambda bus, store, sid: schedules.remove(bus, store, sid))
