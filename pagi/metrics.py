"""Prometheus metrics: every metric PAGI exports, defined once, so names stay consistent.

Each process serves its own registry: the edge at `GET /metrics`, every other service on
`PAGI_METRICS_HOST:PAGI_METRICS_PORT` (see `serve_metrics`), announced in its heartbeat.
Labels are bounded sets (event types, consumers, outcomes), never session or job ids.

Hooks for the workers (call them where the thing happens):
- `APPROVALS.labels(outcome="approved" | "denied" | "expired" | "always_allowed").inc()`
- `TOOL_RUNS.labels(isolation="bwrap" | "none", exit="ok" | "error" | "timeout" | "killed" | "refused").inc()`
  and `TOOL_RUN_SECONDS.labels(isolation=...).observe(seconds)`
- `BUILDS.labels(language="python" | "rust", outcome="ok" | "failed" | "rejected").inc()`
- `BUILD_QUEUE_DEPTH.set(n)` whenever the build queue changes
- `LLM_CALLS`, `LLM_TOKENS`, `LLM_COST` (planner/usage.py) and `RUN_SECONDS` (records/usage.py `run_event`) per call
"""

from __future__ import annotations

import functools
import logging
import socket
from dataclasses import dataclass
from typing import Final, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest, start_http_server

from .settings import MetricsSettings

log = logging.getLogger("pagi.metrics")

# Handler and publish latencies sit between a fraction of a millisecond and tens of seconds (tools).
_LATENCY_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

MESSAGES_HANDLED: Final = Counter(
    "pagi_messages_handled_total",
    "Messages handled by a consume loop by consumer, event type, outcome (acked, retried, dead_lettered, terminated)",
    ["consumer", "event_type", "outcome"],
)
HANDLER_SECONDS: Final = Histogram(
    "pagi_handler_duration_seconds",
    "Time a handler took for one message, by consumer and event type",
    ["consumer", "event_type"],
    buckets=_LATENCY_BUCKETS,
)
MESSAGES_PUBLISHED: Final = Counter(
    "pagi_messages_published_total",
    "Events published to JetStream and acknowledged by the stream, by event type",
    ["event_type"],
)
PUBLISH_SECONDS: Final = Histogram(
    "pagi_publish_duration_seconds",
    "Time from publish to the stream's ack, by event type",
    ["event_type"],
    buckets=_LATENCY_BUCKETS,
)
CONSUMER_PENDING: Final = Gauge(
    "pagi_consumer_pending_messages",
    "Messages in the stream not yet delivered to the consumer (lag), sampled with each heartbeat",
    ["consumer"],
)
CONSUMER_ACK_PENDING: Final = Gauge(
    "pagi_consumer_ack_pending_messages",
    "Messages delivered to the consumer and not yet acknowledged, sampled with each heartbeat",
    ["consumer"],
)
HTTP_REQUESTS: Final = Counter(
    "pagi_http_requests_total", "HTTP requests served by the edge", ["method", "route", "status"]
)
HTTP_SECONDS: Final = Histogram(
    "pagi_http_request_duration_seconds",
    "Edge HTTP request latency (WebSocket upgrades excluded)",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
)
WEBSOCKET_CLIENTS: Final = Gauge("pagi_websocket_clients", "Open chat WebSockets on this edge")
SSE_CLIENTS: Final = Gauge("pagi_sse_clients", "Open SSE streams on this edge")
SERVICE_INSTANCES: Final = Gauge(
    "pagi_service_instances", "Live instances of each service, from heartbeats seen by this edge", ["service"]
)
APPROVALS: Final = Counter("pagi_approvals_total", "Approval decisions, by outcome", ["outcome"])
TOOL_RUNS: Final = Counter("pagi_tool_runs_total", "Tool runs, by sandbox isolation and exit", ["isolation", "exit"])
TOOL_RUN_SECONDS: Final = Histogram(
    "pagi_tool_run_duration_seconds", "Tool run wall time, by isolation", ["isolation"], buckets=_LATENCY_BUCKETS
)
BUILDS: Final = Counter("pagi_builds_total", "Tool builds, by language and outcome", ["language", "outcome"])
BUILD_QUEUE_DEPTH: Final = Gauge("pagi_build_queue_depth", "Builds waiting or running in this build worker")
# The edge's doors (edge/doors/): OpenAI API, MCP, A2A, agents on NATS, and POST /v1/chat itself.
DOOR_REQUESTS: Final = Counter(
    "pagi_edge_door_requests_total", "Jobs asked for through each door of the edge, by outcome", ["door", "outcome"]
)
DOOR_SECONDS: Final = Histogram(
    "pagi_edge_door_job_seconds",
    "From a door's request to the job's answer (or its question asking for approval), by door",
    ["door"],
    buckets=_LATENCY_BUCKETS,
)

# The usage ledger (planner/usage.py, issue 21). `user` is bounded by the key table (PAGI_API_KEYS,
# edge/front/auth.py: the users an operator issued keys to; "" for a job without one); twin and model
# by the twin table. Never session or job ids: those are in the events and KV USAGE.
LLM_CALLS: Final = Counter(
    "pagi_llm_calls_total",
    "LLM calls the planner made, by twin, user, provider, model",
    ["twin", "user", "provider", "model"],
)
LLM_TOKENS: Final = Counter(
    "pagi_llm_tokens_total",
    "LLM tokens as reported (or estimated), by twin, user, provider, model and direction (input, output)",
    ["twin", "user", "provider", "model", "direction"],
)
LLM_COST: Final = Counter(
    "pagi_llm_cost_usd_total",
    "LLM cost in USD of the priced calls (an unpriced call adds nothing here), by twin, user, provider, model",
    ["twin", "user", "provider", "model"],
)
RUN_SECONDS: Final = Counter(
    "pagi_run_seconds_total",
    "Wall time of tool runs, builds and MCP calls, by kind and clock (wall, cpu)",
    ["kind", "clock"],
)

METRICS_PORT_ENV: Final = "PAGI_METRICS_PORT"


def exposition() -> tuple[bytes, str]:
    """This process's metrics in the Prometheus text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


@dataclass(frozen=True)
class MetricsEndpoint:
    url: str


def serve_metrics() -> MetricsEndpoint | None:
    """Start this process's /metrics listener (a daemon thread, off the event loop).

    `PAGI_METRICS_PORT`: a port, `0` (the default) for any free one, or `off`. `PAGI_METRICS_HOST`
    defaults to 127.0.0.1; the chosen address goes into the service's heartbeats, and the edge lists
    every worker's in Prometheus HTTP service discovery format at `/v1/metrics/targets`."""
    settings = MetricsSettings()
    if settings.off:
        return None
    port_text, host = settings.port.strip().lower(), settings.host
    try:
        server, _thread = start_http_server(int(port_text), addr=host)
    except (OSError, ValueError) as exc:
        log.warning("metrics endpoint not started (%s=%s): %s", METRICS_PORT_ENV, port_text, exc)
        return None
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    return MetricsEndpoint(url=f"http://{shown}:{server.server_port}/metrics")


MetricT = TypeVar("MetricT", Counter, Histogram, Gauge)


@functools.lru_cache(maxsize=4096)
def child(metric: MetricT, *labels: str) -> MetricT:
    """`metric.labels(*labels)`, kept: `labels()` takes a lock and builds its key on every call, and
    the bus runtime calls it for every message. Only for bounded label values (types, consumers)."""
    return metric.labels(*labels)


def event_type_label(subject: str) -> str:
    """The event type of a subject (`chat.in.s1` -> `chat.in`, `dlq.chat.in.s1` -> `dead_letter`):
    a bounded label, unlike the subject itself."""
    parts = subject.split(".", 3)
    if parts[0] == "dlq":
        return "dead_letter"
    return ".".join(parts[:2])
