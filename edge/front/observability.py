"""The edge's observability: a span and metrics per HTTP request with `X-Trace-ID` on the response,
`GET /metrics`, `GET /v1/metrics/targets` (every worker's metrics endpoint, for Prometheus HTTP
service discovery), the service registry behind `/health`, and the edge's own heartbeat."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web

from pagi import metrics, tracing
from pagi.heartbeat import Heartbeater, ServiceRegistry
from pagi.tracecontext import TRACEPARENT, current_traceparent, new_traceparent, trace_id

from ..appkeys import BUS, HEARTBEAT, SERVICES, SETTINGS, SOCKETS, STREAMS

TRACE_HEADER: Final = "X-Trace-ID"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _fallback_traceparent(request: web.Request) -> str:
    """Without an SDK tracer: the caller's trace when it named one, else a new one."""
    incoming = request.headers.get(TRACEPARENT)
    if trace_id(incoming):
        return incoming or new_traceparent()
    given = request.headers.get(TRACE_HEADER, "").lower()
    if len(given) == 32 and all(c in "0123456789abcdef" for c in given) and given.strip("0"):
        return f"00-{given}-{new_traceparent()[36:52]}-01"
    return new_traceparent()


@web.middleware
async def observe_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.headers.get("Upgrade", "").lower() == "websocket" or "text/event-stream" in request.headers.get(
        "Accept", ""
    ):
        # A socket or an event stream lives for hours: not one request's span or latency. Each chat
        # message a socket carries starts its own trace (edge.chat_in).
        return await handler(request)
    route, method = _route_of(request), request.method
    parent = tracing.remote_parent(request.headers.get(TRACEPARENT), request.headers.get(TRACE_HEADER))
    started = time.perf_counter()
    status = 500
    with tracing.server_span(method, route, parent) as span:
        token = None if span is not None else current_traceparent.set(_fallback_traceparent(request))
        trace = trace_id(current_traceparent.get()) or ""
        try:
            response = await handler(request)
            status = response.status
            response.headers[TRACE_HEADER] = trace
            return response
        except web.HTTPException as exc:
            status = exc.status
            exc.headers[TRACE_HEADER] = trace
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
