"""Schedules: a message sent to a twin on its own time ("every weekday at 08:00 Europe/Berlin, ask
the Threat Hunter for the overnight summary"), fired by JetStream's own message scheduling, not a
timer of ours.

Where the definitions live: a stream of their own, `PAGI_SCHEDULES` (`allow_msg_schedules`), not
PAGI_EVENTS. A definition is a stored message on `schedule.def.<id>` whose `Nats-Schedule-Target`
is `schedule.fired.<id>` in the same stream; the planner consumes the firings and turns each into
one `chat.in.<session>` (planner/schedules.py). Not PAGI_EVENTS, because:
- the server publishes a firing to *any* subject of the definition's stream, whatever rights the
  publisher of the definition has: in PAGI_EVENTS anyone who may publish one event (a `chat.in`)
  could schedule an `approve.decision`. Here only the edge may publish definitions, and a firing
  can only land in this stream;
- PAGI_EVENTS keeps events for seven days: a definition is never re-stored by the server, so a
  daily schedule would silently end after a week. This stream keeps definitions until removed;
- session replays and audits read PAGI_EVENTS and would have to skip definitions.

Ids: one definition per subject (republishing replaces it), so a schedule's id is its identity.
The record (owner, paused, last run and job) is in KV `pagi_schedules` under the id.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .limits import MAX_MESSAGE_CHARS

SCHEDULES_STREAM: Final = "PAGI_SCHEDULES"
SCHEDULE_DEF: Final = "schedule.def"
SCHEDULE_FIRED: Final = "schedule.fired"
SCHEDULE_ID_PATTERN: Final = r"^sch-[a-f0-9]{16}$"
TOKEN_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
# The server refuses anything shorter.
MIN_EVERY_S: Final = 1
# Ten years: longer is a typo, and past what a date can hold it would not compute.
MAX_EVERY_S: Final = 10 * 365 * 24 * 3600
MAX_SCHEDULES_PER_OWNER: Final = 200

_EVERY_RE: Final = re.compile(r"^@every ((?:\d+(?:\.\d+)?(?:ms|s|m|h))+)$")
_DURATION_PART_RE: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_S: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_CRON_FIELD_RE: Final = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?$")
# second, minute, hour, day of month, month, day of week (0 = Sunday; 7 is Sunday too).
CRON_BOUNDS: Final = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
CRON_NAMES: Final = ("second", "minute", "hour", "day of month", "month", "day of week")
SPEC_HELP: Final = (
    "spec: '@every <duration>' (at least 1s, e.g. '@every 1m', '@every 1h30m'), "
    "'@at <RFC 3339 time>' (e.g. '@at 2027-01-01T08:00:00Z') or a 6-field cron "
    "'<second> <minute> <hour> <day of month> <month> <day of week>' (e.g. '0 0 8 * * 1-5')"
)

SpecKind = Literal["every", "at", "cron"]


def schedule_definition_subject(schedule_id: str) -> str:
    return f"{SCHEDULE_DEF}.{check_schedule_id(schedule_id)}"


def schedule_fired_subject(schedule_id: str) -> str:
    return f"{SCHEDULE_FIRED}.{check_schedule_id(schedule_id)}"


def check_schedule_id(schedule_id: str) -> str:
    if not re.match(SCHEDULE_ID_PATTERN, schedule_id):
        raise ValueError(f"invalid schedule id {schedule_id[:80]!r}: 'sch-' and 16 hex digits")
    return schedule_id


def every_seconds(spec: str) -> float:
    """The period of an `@every` spec, in seconds."""
    found = _EVERY_RE.match(spec)
    if found is None:
        raise ValueError(f"invalid @every duration in {spec[:80]!r}: {SPEC_HELP}")
    return sum(float(n) * _UNIT_S[unit] for n, unit in _DURATION_PART_RE.findall(found.group(1)))


def at_time(spec: str) -> datetime:
    raw = spec.removeprefix("@at ").strip()
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"invalid @at time {raw[:80]!r}: an RFC 3339 time such as 2027-01-01T08:00:00Z") from None
    if when.tzinfo is None:
        raise ValueError(f"@at time {raw[:80]!r} has no offset: end it in Z or +01:00")
    return when


def cron_fields(spec: str) -> list[set[int]]:
    """The values each of the six fields allows; ValueError naming the field that is wrong."""
    parts = spec.split()
    if len(parts) != 6:
        raise ValueError(f"a cron expression has 6 fields, {spec[:80]!r} has {len(parts)}: {SPEC_HELP}")
    fields = zip(parts, CRON_NAMES, CRON_BOUNDS, strict=True)
    return [_cron_field(part, name, low, high) for part, name, (low, high) in fields]


def _cron_field(part: str, name: str, low: int, high: int) -> set[int]:
    allowed: set[int] = set()
    for item in part.split(","):
        found = _CRON_FIELD_RE.match(item)
        if found is None:
            raise ValueError(f"cron {name} {item[:20]!r}: use *, a number, a range a-b, a list, or a step /n")
        base, step = found.group(1), int(found.group(3)[1:]) if found.group(3) else 1
        if base == "*":
            first, last = low, high
        else:
            first_s, _, last_s = base.partition("-")
            first, last = int(first_s), int(last_s or (high if found.group(3) else first_s))
        if not low <= first <= last <= high or step < 1:
            raise ValueError(f"cron {name} {item[:20]!r} is outside {low}-{high}")
        allowed.update(range(first, last + 1, step))
    if name == "day of week" and 7 in allowed:
        allowed = (allowed - {7}) | {0}
    return allowed


def spec_kind(spec: str) -> SpecKind:
    """What kind of spec this is, checked; ValueError with what to write instead."""
    if spec.startswith("@every"):
        period = every_seconds(spec)
        if period < MIN_EVERY_S:
            raise ValueError(f"{spec!r} is too often: at least '@every 1s'")
        if period > MAX_EVERY_S:
            raise ValueError(f"{spec[:80]!r} is too far apart: at most '@every 87600h' (ten years)")
        return "every"
    if spec.startswith("@at"):
        at_time(spec)
        return "at"
    if spec.startswith("@"):
        raise ValueError(f"unknown spec {spec[:80]!r}: {SPEC_HELP}")
    cron_fields(spec)
    return "cron"


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_time_zone(name: str) -> str:
    unknown = f"unknown time zone {name[:80]!r}: an IANA name such as Europe/Berlin or UTC"
    # The database's names first: ZoneInfo also opens paths (`Europe` is a directory, an OSError).
    if name not in _zones() and name != "UTC":
        raise ValueError(unknown)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(unknown) from None
    return name


class ScheduleWrite(BaseModel):
    """`POST /v1/schedules`: send `message` to `twin_id` in `session_id` on `spec`."""

    model_config = ConfigDict(extra="forbid")

    twin_id: str = Field(pattern=TOKEN_PATTERN)
    session_id: str = Field(pattern=TOKEN_PATTERN)
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    spec: str = Field(min_length=3, max_length=120)
    # For cron expressions only (an @every period and an @at time do not depend on one).
    time_zone: str | None = Field(default=None, max_length=64)

    @field_validator("spec")
    @classmethod
    def _spec(cls, value: str) -> str:
        value = " ".join(value.split())
        spec_kind(value)
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_time_zone(value)

    @model_validator(mode="after")
    def _zone_for_cron(self) -> ScheduleWrite:
        if self.time_zone is not None and spec_kind(self.spec) != "cron":
            raise ValueError("time_zone applies to cron expressions only")
        return self


class Schedule(ScheduleWrite):
    """As kept in KV `pagi_schedules` and listed by `GET /v1/schedules`."""

    id: str = Field(pattern=SCHEDULE_ID_PATTERN)
    owner: str = Field(max_length=128)
    # The owner's role when they made it: the scheduled message is theirs, sent as they would.
    owner_role: Literal["admin", "member"] = "member"
    paused: bool = False
    created_at: datetime
    updated_at: datetime
    # The server's next firing as last known (its Nats-Schedule-Next header), or as computed at
    # creation; None once an @at schedule has fired.
    next_run: datetime | None = None
    last_run: datetime | None = None
    last_job_id: str | None = None
    runs: int = 0
    # Firings not run because the last job had not finished (e.g. waiting for an approval).
    skipped: int = 0
    last_skipped_at: datetime | None = None
    # True once an @at schedule has fired (its definition is gone).
    done: bool = False


class ScheduleToggle(BaseModel):
    """The body of `POST /v1/schedules/{id}/pause` and `/resume`: nothing (no body, or `{}`)."""

    model_config = ConfigDict(extra="forbid")


class ScheduleList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schedules: list[Schedule] = Field(default_factory=list)


__all__ = [
    "SCHEDULES_STREAM",
    "SCHEDULE_DEF",
    "SCHEDULE_FIRED",
    "Schedule",
    "ScheduleList",
    "ScheduleToggle",
    "ScheduleWrite",
    "check_time_zone",
    "cron_fields",
    "schedule_definition_subject",
    "schedule_fired_subject",
    "spec_kind",
]
