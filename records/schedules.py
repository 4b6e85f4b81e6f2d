"""Schedules: the records in KV `pagi_schedules` and their definitions in stream PAGI_SCHEDULES
(bus_schemas/schedules.py says why there).

A definition is published with `Nats-TTL: never` and removed (pause, delete) by replacing it with
one that can never fire and expires a second later: nobody but the operator holds the right to
delete a message, and a replacement is a publish like the first.

The next run shown before the first firing is computed here (`next_run`); after each firing the
planner records the server's own `Nats-Schedule-Next` instead.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bus_schemas.schedules import (
    MAX_SCHEDULES_PER_OWNER,
    SCHEDULE_ID_PATTERN,
    Schedule,
    ScheduleWrite,
    at_time,
    cron_fields,
    every_seconds,
    schedule_definition_subject,
    schedule_fired_subject,
    spec_kind,
)
from bus_schemas.streams import SCHEDULES_KV
from pagi.bus import Bus, PublishRefused
from pagi.stores import KVStore

from . import kvjson
from .access import Role

log = logging.getLogger("records.schedules")

# A time the server accepts for @at and never reaches: the replacement that removes a definition.
_NEVER: Final = "@at 9999-01-01T00:00:00Z"
_CAS_TRIES: Final = 8
_ID_RE: Final = re.compile(SCHEDULE_ID_PATTERN)
# How far ahead a cron expression is searched for its next match (Feb 29 on a Monday: 28 years).
_CRON_HORIZON_DAYS: Final = 366 * 28


class ScheduleError(ValueError):
    """A clear reason a schedule cannot be made or changed (the server refused its spec, ...)."""


def new_schedule_id() -> str:
    return f"sch-{secrets.token_hex(8)}"


def next_run(schedule: Schedule, after: datetime) -> datetime | None:
    """When the server will next fire `schedule` after `after` (None: an @at in the past)."""
    kind = spec_kind(schedule.spec)
    if kind == "every":
        return after + timedelta(seconds=every_seconds(schedule.spec))
    if kind == "at":
        when = at_time(schedule.spec)
        return when if when > after else None
    return next_cron(schedule.spec, schedule.time_zone, after)


def next_cron(spec: str, time_zone: str | None, after: datetime) -> datetime | None:
    """The first second after `after` that the 6-field cron `spec` matches, in `time_zone` (UTC if
    None). A local time a DST change skips never matches; one it repeats matches its first time."""
    seconds, minutes, hours, days, months, weekdays = cron_fields(spec)
    zone = ZoneInfo(time_zone or "UTC")
    local = after.astimezone(zone)
    day = local.date()
    for _ in range(_CRON_HORIZON_DAYS):
        # cron's day of week: 0 = Sunday; Python's isoweekday: 7 = Sunday.
        if day.month in months and day.day in days and day.isoweekday() % 7 in weekdays:
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    for second in sorted(seconds):
                        candidate = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=zone)
                        if candidate.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != candidate.replace(
                            tzinfo=None
                        ):
                            continue  # skipped by a DST change
                        if candidate > local:
                            return candidate.astimezone(UTC)
        day += timedelta(days=1)
    return None


def definition_headers(schedule: Schedule) -> dict[str, str]:
    headers = {
        "Nats-Schedule": schedule.spec,
        "Nats-Schedule-Target": schedule_fired_subject(schedule.id),
        "Nats-TTL": "never",
    }
    if schedule.time_zone is not None:
        headers["Nats-Schedule-Time-Zone"] = schedule.time_zone
    return headers


async def publish_definition(bus: Bus, schedule: Schedule) -> None:
    """Put the schedule's definition on the server (replacing any): ScheduleError if it refuses it."""
    try:
        await bus.publish_message(
            schedule_definition_subject(schedule.id), schedule.id.encode(), definition_headers(schedule)
        )
    except PublishRefused:
        # The server answers a spec it does not accept (e.g. February 30) with a bare 400.
        raise ScheduleError(f"the server refused the schedule {schedule.spec!r}: it can never fire") from None


async def remove_definition(bus: Bus, schedule_id: str) -> None:
    """Replace the definition with one that never fires and expires at once."""
    headers = {
        "Nats-Schedule": _NEVER,
        "Nats-Schedule-Target": schedule_fired_subject(schedule_id),
        "Nats-TTL": "1s",
    }
    await bus.publish_message(schedule_definition_subject(schedule_id), b"", headers)


class ScheduleStore:
    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    @classmethod
    async def open(cls, bus: Bus) -> ScheduleStore:
        return cls(await bus.kv(SCHEDULES_KV))

    async def create(self, schedule: Schedule) -> None:
        if not await self.kv.create(schedule.id, schedule.model_dump_json().encode()):
            raise ScheduleError(f"schedule {schedule.id} exists already")

    async def get(self, schedule_id: str) -> Schedule | None:
        if not _ID_RE.match(schedule_id):
            return None
        try:
            return await self.kv.get_model(schedule_id, Schedule)
        except ValidationError:
            log.warning("schedule %s does not parse: treated as absent", schedule_id)
            return None

    async def list(self, owner: str | None = None) -> list[Schedule]:
        """Every schedule (owner None) or one owner's, oldest first."""
        found = []
        for key in await self.kv.keys():
            schedule = await self.get(key)
            if schedule is not None and (owner is None or schedule.owner == owner):
                found.append(schedule)
        return sorted(found, key=lambda s: (s.created_at, s.id))

    async def update(self, schedule_id: str, change: Callable[[Schedule], Schedule | None]) -> Schedule | None:
        """`change` applied by compare-and-set, retried on a concurrent write; None if absent."""
        for _ in range(_CAS_TRIES):
            try:
                return await kvjson.update(self.kv, schedule_id, Schedule, change)
            except kvjson.ConcurrentUpdate:
                continue
        raise kvjson.ConcurrentUpdate(f"schedule {schedule_id} kept changing")

    async def delete(self, schedule_id: str) -> None:
        await self.kv.delete(schedule_id)


class ScheduleConflict(ScheduleError):
    """The schedule cannot do that in the state it is in (resume an @at that has fired)."""


async def add(bus: Bus, store: ScheduleStore, write: ScheduleWrite, owner: str, role: Role) -> Schedule:
    """Record and publish a new schedule of `owner` (who may use its session and see its twin: the
    caller checks). ScheduleError: an @at in the past, too many schedules, a spec the server refuses."""
    now = datetime.now(UTC)
    if spec_kind(write.spec) == "at" and at_time(write.spec) <= now:
        raise ScheduleError(f"{write.spec!r} is in the past: an @at schedule fires once, at a time still to come")
    if len(await store.list(owner)) >= MAX_SCHEDULES_PER_OWNER:
        raise ScheduleError(f"{owner} has {MAX_SCHEDULES_PER_OWNER} schedules already: remove one first")
    schedule = Schedule(
        **write.model_dump(), id=new_schedule_id(), owner=owner, owner_role=role, created_at=now, updated_at=now
    )
    schedule = schedule.model_copy(update={"next_run": next_run(schedule, now)})
    # The record first: a firing finds it (one without a record is dropped).
    await store.create(schedule)
    try:
        await publish_definition(bus, schedule)
    except ScheduleError:
        await store.delete(schedule.id)
        raise
    return schedule


async def pause(bus: Bus, store: ScheduleStore, schedule_id: str) -> Schedule | None:
    now = datetime.now(UTC)
    # The record first: a firing already on its way is dropped as paused.
    paused = await store.update(schedule_id, lambda s: s.model_copy(update={"paused": True, "updated_at": now}))
    if paused is not None:
        await remove_definition(bus, schedule_id)
    return paused


async def resume(bus: Bus, store: ScheduleStore, schedule_id: str) -> Schedule | None:
    now = datetime.now(UTC)

    def resumed(s: Schedule) -> Schedule:
        if s.done:
            raise ScheduleConflict(f"{s.id} has fired at its @at time: add a new schedule")
        if spec_kind(s.spec) == "at" and at_time(s.spec) <= now:
            raise ScheduleConflict(f"{s.spec!r} passed while {s.id} was paused: add a new schedule")
        return s.model_copy(update={"paused": False, "updated_at": now, "next_run": next_run(s, now)})

    schedule = await store.update(schedule_id, resumed)
    if schedule is not None:
        await publish_definition(bus, schedule)
    return schedule


async def remove(bus: Bus, store: ScheduleStore, schedule_id: str) -> bool:
    if await store.get(schedule_id) is None:
        return False
    await remove_definition(bus, schedule_id)
    await store.delete(schedule_id)
    return True
