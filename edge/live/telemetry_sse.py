"""GET /v1/telemetry/stream (SSE) and GET /v1/telemetry/hosts.

The stream opens with a `hosts` event (the host list), then the recent history (`?since=` seconds,
default 300; or after `Last-Event-ID` / `?after=`), a `caught_up` event, and live `metrics` events;
`hosts` again whenever a host appears or goes silent. `?host=` keeps one host's.

Each `metrics` event carries, beside PAGI's `sample`, the seed console's flat fields
(`bus_schemas.telemetry.SeedMetrics`: `ts_ms`, `cpu_percent`, `mem_total`, ...), so the seed's
console reads this stream as it read its own telemetry service. A page on another origin reads it
with CORS (edge/front/cors.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from aiohttp import web

from bus_schemas.streams import TELEMETRY
from bus_schemas.subjects import TELEMETRY_HOST, SubjectError, check_token
from bus_schemas.telemetry import SeedMetrics
from bus_schemas.web import CaughtUp, HostsFrame, MetricsFrame

from ..appkeys import BUS, SETTINGS, STREAMS, TELEMETRY_HUB
from .events_sse import check_resume_point
from .feeds import FeedItem
from .follower import Follower
from .frames import sse_bytes
from .replay import history
from .sse import UNAVAILABLE, BadStreamRequest, SseStream, resume_point

log = logging.getLogger("edge.sse")

MAX_SINCE_S = TELEMETRY.max_age_s


def _metrics(item: FeedItem) -> bytes:
    event = item.event
    frame = MetricsFrame(seq=item.seq, host_id=event.session_id, ts=event.ts, sample=event.body)
    flat = SeedMetrics.of(event.body, int(event.ts.timestamp() * 1000))
    # One object of both (their fields are disjoint), the flat ones first as in the seed's payload:
    # joined as text, 4x cheaper than dumping both to dicts and encoding again.
    data = flat.model_dump_json()[:-1] + "," + frame.model_dump_json()[1:]
    return sse_bytes(data, event="metrics", event_id=item.seq)


def metrics_event(item: FeedItem) -> bytes:
    return item.rendered("sse-metrics", _metrics)


def hosts_event(frame: HostsFrame) -> bytes:
    return sse_bytes(frame.model_dump_json(), event="hosts")


def _since(request: web.Request, default_s: float) -> float:
    raw = request.query.get("since")
    if raw is None:
        return default_s
    try:
        since = float(raw)
    except ValueError:
        raise BadStreamRequest(400, "since must be a number of seconds") from None
    if not 0 <= since <= MAX_SINCE_S:
        raise BadStreamRequest(400, f"since must be between 0 and {MAX_SINCE_S:g} seconds (the history kept)")
    return since


async def telemetry_stream(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    try:
        host = request.query.get("host")
        if host is not None:
            try:
                check_token(host, "host id")
            except SubjectError as exc:
                raise BadStreamRequest(400, f"host: {exc}") from None
        since = _since(request, settings.telemetry_since_s)
        after = resume_point(request)
        if after is not None:
            await check_resume_point(request, TELEMETRY.name, after)
    except BadStreamRequest as bad:
        return bad.response()

    hub = request.app[TELEMETRY_HUB]
    stream = SseStream(request, settings.sse_queue_size, settings.sse_ping_s)
    replaying = after is not None or since > 0
    follower = Follower(
        stream.outbox,
        metrics_event,
        # None, not an always-true test: it runs once per sample per client.
        accept=None if host is None else lambda item: item.event.session_id == host,
        after_seq=after or 0,
        replaying=replaying,
    )

    def on_hosts(changed: str, message: bytes) -> None:
        if host is None or changed == host:
            stream.outbox.offer(message)

    streams = request.app[STREAMS]
    await stream.open()
    streams.add(stream.outbox)
    try:
        hub.join(follower.on_live, on_hosts)
        stream.outbox.offer(hosts_event(hub.snapshot()))
        replayed = 0
        if replaying:
            subject = f"{TELEMETRY_HOST}.{host or '*'}"
            start = None if after is not None else datetime.now(UTC) - timedelta(seconds=since)
            try:
                replayed = await follower.replay(
                    history(request.app[BUS], TELEMETRY.name, subject, after_seq=after, since=start),
                    settings.replay_put_timeout_s,
                )
            except Exception as exc:
                log.warning("could not replay telemetry: %s", exc)
                stream.outbox.end(UNAVAILABLE)
        caught_up = CaughtUp(replayed=replayed, last_seq=follower.last_seq)
        stream.outbox.offer(sse_bytes(caught_up.model_dump_json(), event="caught_up"))
        await stream.run()
    finally:
        streams.discard(stream.outbox)
        hub.leave(follower.on_live, on_hosts)
        await stream.close()
    return stream.response


async def telemetry_hosts(request: web.Request) -> web.Response:
    return web.json_response(request.app[TELEMETRY_HUB].snapshot().model_dump(mode="json"))
