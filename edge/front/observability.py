"""The edge's observability: a span and metrics per HTTP request with `X-Trace-ID` on the response,
`GET /metrics`, `GET /v1/metrics/targets` (every worker's metrics endpoint, for Prometheus HTTP
service discovery), the service registry behind `/health`, and the edge's own heartbeat.

A caller's own `X-Trace-ID` (any short id: the seed's guide sends `test-trace-123`) is answered as
given, and stands for one W3C trace id (`pagi.tracecontext.w3c_trace_id_for`, the same on every
edge), the spans' and the events' trace; the span keeps the original as `pagi.caller_trace_id`, and
the job's opening event as `trace_label` (edge/api/chat_http.py). A refused one (too long, control
characters) is replaced by a new trace, with the reason in `X-Trace-ID-Refused`; its text is never
logged.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web

from pagi import metrics, tracing
from pagi.heartbeat import Heartbeater, ServiceRegistry
from pagi.tracecontext import TRACEPARENT, CallerTrace, caller_trace, current_traceparent, new_traceparent, trace_id

from ..appkeys import BUS, HEARTBEAT, SERVICES, SETTINGS, SOCKETS, STREAMS

TRACE_HEADER: Final = "X-Trace-ID"
TRACE_REFUSED_HEADER: Final = "X-Trace-ID-Refused"
# The request's reading of its `X-Trace-ID`, for the handlers that record it (edge/api/chat_http.py).
CALLER_TRACE: Final = web.RequestKey("caller_trace", CallerTrace)

log = logging.getLogger("edge.observability")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _fallback_traceparent(request: web.Request, given: CallerTrace) -> str:
    """Without an SDK tracer: the caller's trace when it named one, else a new one."""
    incoming = request.headers.get(TRACEPARENT)
    if trace_id(incoming):
        return incoming or new_traceparent()
    if given.trace_id is not None:
        return f"00-{given.trace_id}-{new_traceparent()[36:52]}-01"
    return new_traceparent()


def caller_trace_of(request: web.Request) -> CallerTrace:
    """The request's `X-Trace-ID`, read once (the middleware's reading when it ran)."""
    found = request.get(CALLER_TRACE)
    if found is None:
        found = caller_trace(request.headers.get(TRACE_HEADER))
        request[CALLER_TRACE] = found
    return found


def recorded_trace_label(request: web.Request) -> str | None:
    """The caller's own trace id to record on the events a request starts, when the trace is the
    one it stands for (a `traceparent` sent beside it wins, and then the label would mislead)."""
    given = caller_trace_of(request)
    if given.given is None or trace_id(current_traceparent.get()) != given.trace_id:
        return None
    return given.given


def answered_trace_id(request: web.Request) -> str:
    """The trace id this request answers with: the caller's own as given when the trace is the one
    it stands for, else the W3C trace id."""
    return _answered_trace(request, trace_id(current_traceparent.get()) or "")[TRACE_HEADER]


def _answered_trace(request: web.Request, trace: str) -> dict[str, str]:
    given = caller_trace_of(request)
    headers = {TRACE_HEADER: given.given if given.given is not None and given.trace_id == trace else trace}
    if given.problem is not None:
        headers[TRACE_REFUSED_HEADER] = given.problem
    return headers


@web.middleware
async def observe_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.headers.get("Upgrade", "").lower() == "websocket" or "text/event-stream" in request.headers.get(
        "Accept", ""
    ):
        # A socket or an event stream lives for hours: not one request's span or latency. Each chat
        # message a socket carries starts its own trace (edge.chat_in).
        return await handler(request)
    route, method = _route_of(request), request.method
    given = caller_trace_of(request)
    if given.problem is not None:
        # The reason and the length, never the text: it may be a log-injection attempt.
        log.warning("%s %s: %s (%d characters)", method, route, given.problem,
                    len(request.headers.get(TRACE_HEADER, "")))  # fmt: skip
    parent = tracing.remote_parent(request.headers.get(TRACEPARENT), given.trace_id)
    started = time.perf_counter()
    status = 500
    with tracing.server_span(method, route, parent, given.given) as span:
        token = None if span is not None else current_traceparent.set(_fallback_traceparent(request, given))
        answered = _answered_trace(request, trace_id(current_traceparent.get()) or "")
        try:
            response = await handler(request)
            status = response.status
            response.headers.update(answered)
            return response
        except web.HTTPException as exc:
            status = exc.status
            exc.headers.update(answered)
            raise
        finally:
            if span is not None and span.is_recording():
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    tracing.fail(span, f"HTTP {status}")
            if token is not None:
                current_traceparent.reset(token)
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_SECONDS.labels(method, route).observe(time.perf_counter() - started)


async def get_metrics(request: web.Request) -> web.Response:
    metrics.WEBSOCKET_CLIENTS.set(len(request.app[SOCKETS]))
    if STREAMS in request.app:
        metrics.SSE_CLIENTS.set(len(request.app[STREAMS]))
    if SERVICES in request.app:
        request.app[SERVICES].services()  # refreshes pagi_service_instances
    body, content_type = metrics.exposition()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def get_metric_targets(request: web.Request) -> web.Response:
    """Every live instance's metrics endpoint, in Prometheus HTTP SD format (`http_sd_configs`)."""
    groups = []
    for name, view in request.app[SERVICES].services().items():
        for seen in view.instances:
            url = seen.heartbeat.metrics_url
            if not url:
                continue
            parts = urlsplit(url)
            groups.append(
                {
                    "targets": [parts.netloc],
                    "labels": {
                        "service": name,
                        "pagi_instance": seen.heartbeat.instance,
                        "__metrics_path__": parts.path or "/metrics",
                    },
                }
            )
    return web.json_response(groups)


def install(app: web.Application) -> None:
    """Add the middleware, routes and lifecycle; call after the bus lifecycle is registered."""
    app.middlewares.append(observe_requests)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        bus = app[BUS]
        registry = ServiceRegistry(bus, app[SETTINGS].required)
        await registry.start()
        heartbeat = Heartbeater(bus, "edge")
        await heartbeat.start()
        app[SERVICES], app[HEARTBEAT] = registry, heartbeat
        yield
        await heartbeat.stop()
        with contextlib.suppress(Exception):
            await registry.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/v1/metrics/targets", get_metric_targets)
