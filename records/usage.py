"""The usage ledger's totals in KV USAGE, and the report read back from them.

Keys: `<YYYY-MM-DD>.<by>.<key>` for by in twin, user, session, model, plus `<day>.all.all`; and
per user `<day>.user-<by>.<user>.<key>` (twin, session, model), so a member's report is read from
their own keys alone. Every id is one escaped token (`key_token`); a model is `<provider>/<model>`.

Each total keeps the last PAGI_EVENTS sequence counted into it (`seq`): the ledger consumes one
event at a time in stream order, so an event at or below `seq` was counted already (a redelivery).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from bus_schemas import Envelope
from bus_schemas.subjects import USAGE_RUN
from bus_schemas.usage import LlmUsage, RunUsage, UsageDay, UsageGrouping, UsageReport, UsageTotal
from pagi.metrics import RUN_SECONDS
from pagi.stores import KVStore
from pagi.timeline import parse_when

from .kvjson import ConcurrentUpdate, update

ALL = "all"
TOP_SESSIONS = 10
DEFAULT_DAYS = 30
MAX_DAYS = 400  # the bucket's history (bus_schemas.streams.USAGE)
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_ESCAPED = re.compile(r"(=[0-9A-F]{2})+")


def key_token(value: str) -> str:
    """One KV key token from any id or name: '.', '/', '=', '@' and the rest escaped as '=XX' (UTF-8),
    so no name adds a token and two names never share one."""
    return _UNSAFE.sub(lambda m: "".join(f"={b:02X}" for b in m.group().encode()), value)


def unescape(token: str) -> str:
    return "/".join(
        _ESCAPED.sub(lambda m: bytes.fromhex(m.group().replace("=", "")).decode(errors="replace"), part)
        for part in token.split("/")
    )


def model_key(provider: str, model: str) -> str:
    return f"{key_token(provider)}/{key_token(model)}"


def run_event(
    request: Envelope[Any],
    kind: Literal["tool", "build", "mcp"],
    name: str,
    wall_ms: float,
    cpu_ms: float | None = None,
    user_id: str | None = None,
) -> Envelope[Any]:
    """A worker's `usage.run.<session>` for the request it ran, its id derived from the request's, so
    a redelivered request publishes the same id (dropped as a duplicate). Counted in Prometheus too."""
    RUN_SECONDS.labels(kind=kind, clock="wall").inc(wall_ms / 1000)
    if cpu_ms is not None:
        RUN_SECONDS.labels(kind=kind, clock="cpu").inc(cpu_ms / 1000)
    body = RunUsage(
        kind=kind, name=name[:200], wall_ms=wall_ms, cpu_ms=cpu_ms, twin_id=request.twin_id, user_id=user_id
    )
    return request.caused("usage-run", USAGE_RUN, body)


def keys_for(day: date, event: LlmUsage | RunUsage, session_id: str) -> list[str]:
    """Every total one event counts into."""
    d = day.isoformat()
    grouped = {"session": key_token(session_id)}
    if event.twin_id:
        grouped["twin"] = key_token(event.twin_id)
    if isinstance(event, LlmUsage):
        grouped["model"] = model_key(event.provider, event.model)
    keys = [f"{d}.{ALL}.{ALL}", *(f"{d}.{by}.{key}" for by, key in grouped.items())]
    if event.user_id:
        user = key_token(event.user_id)
        keys.append(f"{d}.user.{user}")
        keys += [f"{d}.user-{by}.{user}.{key}" for by, key in grouped.items()]
    return keys


def add(total: UsageTotal, event: LlmUsage | RunUsage, seq: int) -> UsageTotal | None:
    """The total with the event counted in, or None when it was counted already."""
    if seq <= total.seq:
        return None
    if isinstance(event, RunUsage):
        measured = event.cpu_ms is not None
        return total.model_copy(
            update={
                "seq": seq,
                "run_wall_ms": total.run_wall_ms + event.wall_ms,
                "run_cpu_ms": total.run_cpu_ms + (event.cpu_ms or 0.0),
                "cpu_measured_runs": total.cpu_measured_runs + int(measured),
            }
        )
    cost: float | None
    if event.cost is not None:
        cost = (total.cost or 0.0) + event.cost
    else:
        # Unknown while every call was unpriced; else the priced calls' sum, unpriced_calls beside it.
        cost = None if total.calls == total.unpriced_calls else total.cost
    return total.model_copy(
        update={
            "seq": seq,
            "calls": total.calls + 1,
            "input_tokens": total.input_tokens + event.input_tokens,
            "output_tokens": total.output_tokens + event.output_tokens,
            "estimated_calls": total.estimated_calls + int(event.estimated),
            "cost": cost,
            "unpriced_calls": total.unpriced_calls + int(event.cost is None),
        }
    )


async def count(kv: KVStore, key: str, event: LlmUsage | RunUsage, seq: int) -> None:
    """Compare-and-set one total; a concurrent writer makes the message retry (ConcurrentUpdate)."""
    written = await update(kv, key, UsageTotal, lambda total: add(total, event, seq))
    if written is None:
        fresh = add(UsageTotal(key=key), event, seq)
        assert fresh is not None
        if not await kv.create(key, fresh.model_dump_json().encode()):
            raise ConcurrentUpdate(f"{key} was created while being counted")


def day_of(ts: datetime) -> date:
    return ts.astimezone(UTC).date()


def parse_bound(text: str | None) -> date | None:
    """`since` / `until`: unix seconds, or an ISO date or datetime (UTC unless it says otherwise)."""
    if not text:
        return None
    return day_of(parse_when(text))


def days_between(since: date | None, until: date | None, today: date | None = None) -> list[date]:
    last = until or today or datetime.now(UTC).date()
    first = since or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ValueError("since is after until")
    if (last - first).days >= MAX_DAYS:
        raise ValueError(f"at most {MAX_DAYS} days at once")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def merge(key: str, totals: Iterable[UsageTotal]) -> UsageTotal:
    merged = UsageTotal(key=key)
    for t in totals:
        unknown = merged.calls == merged.unpriced_calls and t.calls == t.unpriced_calls and merged.calls + t.calls > 0
        merged = UsageTotal(
            key=key,
            seq=max(merged.seq, t.seq),
            calls=merged.calls + t.calls,
            input_tokens=merged.input_tokens + t.input_tokens,
            output_tokens=merged.output_tokens + t.output_tokens,
            estimated_calls=merged.estimated_calls + t.estimated_calls,
            cost=None if unknown else (merged.cost or 0.0) + (t.cost or 0.0),
            unpriced_calls=merged.unpriced_calls + t.unpriced_calls,
            run_wall_ms=merged.run_wall_ms + t.run_wall_ms,
            run_cpu_ms=merged.run_cpu_ms + t.run_cpu_ms,
            cpu_measured_runs=merged.cpu_measured_runs + t.cpu_measured_runs,
        )
    return merged


async def _read(kv: KVStore, pattern: str) -> list[UsageTotal]:
    keys = await kv.keys(pattern)
    found = await asyncio.gather(*(kv.get_model(k, UsageTotal) for k in keys))
    return [t for t in found if t is not None]


async def _over(kv: KVStore, days: list[date], pattern: str) -> list[list[UsageTotal]]:
    return list(await asyncio.gather(*(_read(kv, f"{d.isoformat()}.{pattern}") for d in days)))


def _grouped(per_day: list[list[UsageTotal]]) -> list[UsageTotal]:
    by_name: dict[str, list[UsageTotal]] = {}
    for totals in per_day:
        for t in totals:
            by_name.setdefault(unescape(t.key.rsplit(".", 1)[1]), []).append(t)
    return [merge(name, ts) for name, ts in by_name.items()]


def _costliest(totals: list[UsageTotal]) -> list[UsageTotal]:
    return sorted(totals, key=lambda t: (-(t.cost or 0.0), -(t.input_tokens + t.output_tokens), t.key))


async def report(
    kv: KVStore, by: UsageGrouping, since: date | None, until: date | None, user: str | None = None
) -> UsageReport:
    """Totals grouped `by` over the days, a series per day, the most expensive sessions: everyone's,
    or with `user` only that user's own (read from their keys, never filtered from others')."""
    days = days_between(since, until)
    if user is None:
        whole, groups, sessions = f"{ALL}.{ALL}", f"{by}.*", "session.*"
    else:
        u = key_token(user)
        whole, groups, sessions = (
            f"user.{u}",
            f"user.{u}" if by == "user" else f"user-{by}.{u}.*",
            f"user-session.{u}.*",
        )
    whole_days, group_days, session_days = await asyncio.gather(
        _over(kv, days, whole), _over(kv, days, groups), _over(kv, days, sessions)
    )
    series = [
        UsageDay(day=d, **merge(d.isoformat(), ts).model_dump(include={"input_tokens", "output_tokens", "cost"}))
        for d, ts in zip(days, whole_days, strict=True)
    ]
    return UsageReport(
        by=by,
        since=_unix(days[0]),
        until=_unix(days[-1] + timedelta(days=1)),
        total=merge(ALL if user is None else user, [t for ts in whole_days for t in ts]),
        groups=_costliest(_grouped(group_days)),
        days=series,
        top_sessions=_costliest(_grouped(session_days))[:TOP_SESSIONS],
    )


def _unix(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
