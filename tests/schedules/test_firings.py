"""Firings through the real server and planners: one job per firing with two planners, a cron in a
time zone against the server's own next-run header, pause and resume, no pile-up behind a job
waiting for approval, and firings while no planner (or no server) was running."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bus_schemas.jobs import JobRecord
from bus_schemas.schedules import SCHEDULE_FIRED
from bus_schemas.streams import SCHEDULES
from pagi.bus import Bus
from pagi_cli.nats_server import NatsServer
from planner.schedules import server_next
from records import schedules
from records.jobs import JobStore
from records.schedules import ScheduleStore, next_cron, remove_definition

from ..support import eventually
from .conftest import Add, Firings, StartPlanner, session_jobs


async def test_every_2s_fires_exactly_one_job_per_firing_with_two_planners(
    bus: Bus, add: Add, store: ScheduleStore, jobs: JobStore, firings: Firings, planners: StartPlanner, session_id: str
) -> None:
    first, second = await planners(), await planners()
    schedule = await add("@every 2s")
    await eventually(lambda: len(firings.of(schedule.id)) >= 3, timeout=15)
    await store.update(schedule.id, lambda s: s.model_copy(update={"paused": True}))
    await remove_definition(bus, schedule.id)
    fired = len(firings.of(schedule.id))

    async def one_job_per_firing() -> bool:
        found = await session_jobs(jobs, session_id)
        return len(found) == fired

    await eventually(one_job_per_firing, timeout=15)
    found = await session_jobs(jobs, session_id)
    assert len(set(found)) == len(found) == fired
    times = sorted(f[2] for f in firings.of(schedule.id))
    # One firing per period: never two within a period.
    assert all(b - a > timedelta(seconds=1.5) for a, b in itertools.pairwise(times))
    record = await store.get(schedule.id)
    assert record is not None and record.runs == fired and record.last_job_id in found
    assert record.last_run is not None
    await first.stop()
    await second.stop()


async def test_a_cron_in_a_time_zone_fires_at_its_local_time_and_agrees_with_the_servers_next_run(
    add: Add, store: ScheduleStore, firings: Firings, planners: StartPlanner
) -> None:
    await planners()
    zone = "Asia/Kolkata"  # UTC+05:30: its minute is not the UTC minute
    now = datetime.now(UTC).astimezone(ZoneInfo(zone))
    if now.second > 50:
        now += timedelta(seconds=60 - now.second)
    # Every second of this local minute only: in UTC that minute is half an hour away.
    spec = f"* {now.minute} {now.hour} * * *"
    schedule = await add(spec, time_zone=zone)
    predicted = next_cron(spec, zone, datetime.now(UTC))
    assert predicted is not None and predicted - datetime.now(UTC) < timedelta(seconds=70)
    assert schedule.next_run is not None
    await eventually(lambda: len(firings.of(schedule.id)) >= 2, timeout=75)
    for _, headers, _seen in firings.of(schedule.id)[:2]:
        announced, last = server_next(headers)
        assert not last and announced is not None
        # Our own reckoning of the next run, from the second the firing was for, is the server's.
        fired_for = announced - timedelta(seconds=1)
        assert next_cron(spec, zone, fired_for) == announced

    async def recorded() -> bool:
        record = await store.get(schedule.id)
        return record is not None and record.runs >= 1 and record.next_run is not None

    await eventually(recorded, timeout=10)
    # The UTC reading of the same fields is 30 minutes away: it would not have fired yet.
    assert next_cron(spec, "UTC", datetime.now(UTC) - timedelta(seconds=5)) != predicted


async def test_pause_stops_firing_and_resume_starts_again(
    bus: Bus, add: Add, store: ScheduleStore, firings: Firings, planners: StartPlanner
) -> None:
    await planners()
    paused = await add("@every 1s", "paused one")
    control = await add("@every 1s", "control one")
    await eventually(lambda: len(firings.of(paused.id)) >= 1, timeout=10)
    record = await schedules.pause(bus, store, paused.id)
    assert record is not None and record.paused
    before = len(firings.of(paused.id))
    control_before = len(firings.of(control.id))
    # The control keeps firing; the paused one does not (at most one firing already on its way).
    await eventually(lambda: len(firings.of(control.id)) >= control_before + 3, timeout=15)
    assert len(firings.of(paused.id)) <= before + 1
    stopped_at = len(firings.of(paused.id))
    control_mark = len(firings.of(control.id))
    await eventually(lambda: len(firings.of(control.id)) >= control_mark + 2, timeout=10)
    assert len(firings.of(paused.id)) == stopped_at
    resumed = await schedules.resume(bus, store, paused.id)
    assert resumed is not None and not resumed.paused
    await eventually(lambda: len(firings.of(paused.id)) > stopped_at, timeout=10)


async def test_a_job_waiting_for_approval_is_not_piled_up_on(
    add: Add, store: ScheduleStore, jobs: JobStore, firings: Firings, planners: StartPlanner, session_id: str
) -> None:
    await planners()
    schedule = await add("@every 1s", "/remember the standup is at nine")

    async def skipped_twice() -> bool:
        record = await store.get(schedule.id)
        return record is not None and record.skipped >= 2

    await eventually(skipped_twice, timeout=20)
    found = await session_jobs(jobs, session_id)
    assert len(found) == 1, found
    job = await jobs.get(session_id, found[0])
    assert job is not None and job.status == "waiting_approval"
    record = await store.get(schedule.id)
    assert record is not None and record.runs == 1 and record.last_job_id == found[0]
    assert record.last_skipped_at is not None


async def test_firings_while_no_planner_runs_start_one_job_when_one_comes_back(
    bus: Bus, add: Add, store: ScheduleStore, jobs: JobStore, firings: Firings, planners: StartPlanner, session_id: str
) -> None:
    at = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    once = await add(f"@at {at.isoformat().replace('+00:00', 'Z')}", "once")
    other = f"{session_id}-b"
    every = await add("@every 1s", "every", session_id=other)
    await eventually(lambda: len(firings.of(once.id)) == 1 and len(firings.of(every.id)) >= 3, timeout=15)
    # Kept by the stream while nobody consumes: the @at's firing, and the newest of the others.
    info = await bus.js.stream_info(SCHEDULES.name, subjects_filter=f"{SCHEDULE_FIRED}.*")
    assert (info.state.subjects or {}).get(f"{SCHEDULE_FIRED}.{every.id}") == 1
    await planners()

    async def ran() -> bool:
        return len(await session_jobs(jobs, session_id)) == 1 and len(await session_jobs(jobs, other)) >= 1

    await eventually(ran, timeout=15)
    record = await store.get(once.id)
    assert record is not None and record.done and record.runs == 1 and record.next_run is None


async def test_a_firing_due_while_the_server_was_down_comes_when_it_is_back(
    nats_server: NatsServer, add: Add, store: ScheduleStore, jobs: JobStore, planners: StartPlanner, session_id: str
) -> None:
    await planners()
    at = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    schedule = await add(f"@at {at.isoformat().replace('+00:00', 'Z')}", "while down")
    nats_server.stop()
    await eventually(lambda: datetime.now(UTC) > at + timedelta(seconds=1), timeout=10)
    nats_server.start()

    async def ran() -> JobRecord | None:
        found = await session_jobs(jobs, session_id)
        return await jobs.get(session_id, found[0]) if found else None

    job = await eventually(ran, timeout=30)
    assert job is not None
    record = await store.get(schedule.id)
    assert record is not None and record.done and record.last_job_id == job.job_id
