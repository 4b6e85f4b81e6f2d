"""JetStream streams, durable consumers, KV buckets and the object store PAGI runs on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pydantic import Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import subjects as s
from .schedules import SCHEDULE_DEF, SCHEDULE_FIRED, SCHEDULES_STREAM


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age_s: float
    max_msgs_per_subject: int = -1
    duplicate_window_s: float = 120.0
    max_msg_size: int = 1024 * 1024
    # JetStream message schedules (`Nats-Schedule`) and per-message TTLs (`Nats-TTL`).
    allow_msg_schedules: bool = False
    allow_msg_ttl: bool = False


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer: every copy of a service shares it and splits the work."""

    stream: str
    durable: str
    filter_subjects: tuple[str, ...]
    ack_wait_s: float = 30.0
    max_ack_pending: int = 1000
    # The consume loop terminates a message with a dead letter after this many attempts.
    max_attempts: int = 8


@dataclass(frozen=True)
class KVSpec:
    bucket: str
    description: str
    history: int = 1
    ttl_s: float | None = None


@dataclass(frozen=True)
class ObjectStoreSpec:
    bucket: str
    description: str


EVENTS_MAX_AGE_S: Final = 7 * 24 * 3600.0
# Copies of every stream, bucket and object store: 1 on one server, 3 on a 3-node NATS cluster.
REPLICAS_ENV: Final = "PAGI_STREAM_REPLICAS"


class ReplicaSettings(BaseSettings):
    """`PAGI_STREAM_REPLICAS` (empty means 1). A settings class of its own: the contract may import
    no runtime of ours, so not `pagi.settings`."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    replicas: int = Field(default=1, alias=REPLICAS_ENV)

    @field_validator("replicas", mode="before")
    @classmethod
    def _one_to_five(cls, value: object) -> int:
        raw = str(value).strip() or "1"
        if not raw.isdigit() or not 1 <= int(raw) <= 5:
            raise PydanticCustomError("replicas", f"{REPLICAS_ENV}={raw!r}: use a whole number from 1 to 5")
        return int(raw)


def replicas() -> int:
    """Read at every topology call, not once at import, so one process can create for a cluster."""
    try:
        return ReplicaSettings().replicas
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"]) from None


EVENT_FAMILIES: Final = (
    "chat",
    "plan",
    "approve",
    "memory",
    "tool",
    "build",
    "job",
    "usage",
    "eval",
    s.DEAD_LETTER_PREFIX,
)
EVENTS: Final = StreamSpec(
    name="PAGI_EVENTS",
    subjects=tuple(f"{family}.>" for family in EVENT_FAMILIES),
    max_age_s=EVENTS_MAX_AGE_S,
)

TELEMETRY: Final = StreamSpec(
    name="PAGI_TELEMETRY",
    subjects=(f"{s.TELEMETRY_HOST}.*",),
    max_age_s=3600.0,
    max_msgs_per_subject=3600,
    duplicate_window_s=10.0,
)

# Schedule definitions and their firings (bus_schemas/schedules.py says why not PAGI_EVENTS). No
# max age: a definition lives until removed. One message per subject: a definition is one per
# subject anyway, and of a schedule's firings only the newest waits while no planner runs, so a
# planner back after hours starts one job, not one per missed period.
SCHEDULES: Final = StreamSpec(
    name=SCHEDULES_STREAM,
    subjects=(f"{SCHEDULE_DEF}.*", f"{SCHEDULE_FIRED}.*"),
    max_age_s=0.0,
    max_msgs_per_subject=1,
    allow_msg_schedules=True,
    allow_msg_ttl=True,
)

STREAMS: Final = (EVENTS, TELEMETRY, SCHEDULES)


def _consumer(durable: str, *event_types: str, **options: float | int) -> ConsumerSpec:
    filters = tuple(s.all_sessions(t) for t in event_types)
    return ConsumerSpec(stream=EVENTS.name, durable=durable, filter_subjects=filters, **options)  # type: ignore[arg-type]


PLANNER_CHAT_IN: Final = ConsumerSpec(
    stream=EVENTS.name,
    durable="planner-chat-in",
    # The bare `chat.in` is accepted for hand-typed commands.
    filter_subjects=(s.CHAT_IN, s.all_sessions(s.CHAT_IN)),
)
# Human decisions about running jobs: approvals and cancellations.
PLANNER_CONTROL: Final = _consumer("planner-control", s.APPROVE_DECISION, s.JOB_CANCEL)
PLANNER_RESULTS: Final = _consumer("planner-results", s.MEMORY_RESULT, s.TOOL_RESULT, s.BUILD_RESULT)
MEMORY_WORKER: Final = _consumer("memory-worker", s.MEMORY_QUERY, s.MEMORY_STORE)
# Documents: converting and embedding a large file takes minutes, so they have their own consumer
# (a 200-page PDF never holds up a memory search) with a long ack wait (the worker keeps it alive).
MEMORY_DOCUMENTS: Final = _consumer(
    "memory-documents", s.MEMORY_PARSE, s.MEMORY_INGEST, ack_wait_s=120.0, max_ack_pending=4
)
# Global search: every message and job log line is indexed as it happens.
MEMORY_INDEX: Final = ConsumerSpec(
    stream=EVENTS.name,
    durable="memory-index",
    filter_subjects=(s.CHAT_IN, s.all_sessions(s.CHAT_IN), s.all_sessions(s.CHAT_OUT), s.all_sessions(s.JOB_LOG)),
)
# The usage ledger's totals (KV USAGE), one event at a time in stream order: a total records the last
# stream sequence it counted, so a redelivered event is never counted twice.
USAGE_LEDGER: Final = _consumer("usage-ledger", s.USAGE_LLM, s.USAGE_RUN, max_ack_pending=1)
# Eval runs (planner/evals): a run re-plans every case of a set, calling a model where the prompt
# changed what it saw, so it may take minutes (the runner keeps the message alive); two at a time.
PLANNER_EVALS: Final = _consumer("planner-evals", s.EVAL_RUN, ack_wait_s=120.0, max_ack_pending=2)
# The eval gate: every approval request is looked at; a self-improvement of a twin with an eval gate
# is run against its set and the result written onto the approval (or the approval denied).
PLANNER_EVAL_GATE: Final = _consumer("planner-eval-gate", s.APPROVE_REQUEST, max_ack_pending=16)
# Schedule firings (planner/schedules.py): each starts one job as its owner's message.
PLANNER_SCHEDULES: Final = ConsumerSpec(
    stream=SCHEDULES_STREAM, durable="planner-schedules", filter_subjects=(f"{SCHEDULE_FIRED}.*",), max_ack_pending=64
)
TOOL_WORKER: Final = _consumer("tool-worker", s.TOOL_RUN, ack_wait_s=60.0)
BUILD_WORKER: Final = _consumer("build-worker", s.BUILD_REQ, ack_wait_s=60.0, max_ack_pending=16)

TWINS: Final = KVSpec("pagi_twins", "twin profiles: prompt, provider, policy")
APPROVALS: Final = KVSpec("pagi_approvals", "pending and decided approvals", history=5)
PROMPTS: Final = KVSpec("pagi_prompts", "system prompt versions per twin", history=64)
TOOLS: Final = KVSpec("pagi_tools", "tool registry: schema, kind, version, artifact digest")
SESSIONS: Final = KVSpec("pagi_sessions", "session owner and metadata")
JOBS: Final = KVSpec("pagi_jobs", "job state: status, steps, what it waits for", ttl_s=30 * 24 * 3600.0)
DONE: Final = KVSpec("pagi_done", "side effects already performed, by request id", ttl_s=7 * 24 * 3600.0)
# Browser session cookies ended by logout, by digest; kept as long as a cookie may live (a day).
REVOKED: Final = KVSpec("pagi_revoked", "logged-out session cookies, until they would expire", ttl_s=24 * 3600.0)
# Registered MCP servers, key = the server's name (bus_schemas/mcp.py; header values sealed).
MCP_SERVERS: Final = KVSpec("pagi_mcp_servers", "registered MCP servers: transport, command or url, sealed headers")

MCP_TOOLS: Final = KVSpec("pagi_mcp_tools", "the tools registered MCP servers list: schema, annotations, digest")
# Who uploaded which document (`<user>.<document_id>` -> DocumentRef): a chat message may attach only
# the caller's own uploads.
UPLOADS: Final = KVSpec("pagi_uploads", "uploaded documents by uploader", ttl_s=30 * 24 * 3600.0)
# Usage totals per day and grouping (`<day>.<by>.<key>` -> UsageTotal), kept long after the events'
# seven days; the operator's price table (`<provider>.<model>` -> Price).
USAGE: Final = KVSpec("pagi_usage", "usage totals per day: twin, user, session, model", ttl_s=400 * 24 * 3600.0)
PRICES: Final = KVSpec("pagi_prices", "price per million tokens, per provider and model")
# Budgets (`<global|user|twin>.<token>.<day|month>` -> Budget, bus_schemas/budgets.py).
BUDGETS: Final = KVSpec("pagi_budgets", "token and money budgets per user, twin and install", history=16)
# Eval sets and their runs (`set.<set>`, `run.<set>.<run>`), and the model replies evals kept, by the
# digest of what the model saw (bus_schemas/evals.py).
EVALS: Final = KVSpec("pagi_evals", "eval sets and eval run results", history=4)
EVAL_REPLIES: Final = KVSpec("pagi_eval_replies", "model replies eval runs recorded", ttl_s=90 * 24 * 3600.0)
# Schedules by id (`<schedule id>` -> Schedule, bus_schemas/schedules.py): owner, paused, last run.
SCHEDULES_KV: Final = KVSpec("pagi_schedules", "schedules: spec, target session and twin, owner, last run", history=4)
KV_BUCKETS: Final = (
    TWINS, APPROVALS, PROMPTS, TOOLS, SESSIONS, JOBS, DONE, REVOKED, MCP_SERVERS, MCP_TOOLS, UPLOADS, USAGE, PRICES,
    BUDGETS, EVALS, EVAL_REPLIES, SCHEDULES_KV,
)  # fmt: skip

ARTIFACTS: Final = ObjectStoreSpec("pagi_artifacts", "built tool artifacts, addressed by digest")
# Uploaded files, named by their SHA-256 (bus_schemas/documents.py): the same file is kept once.
DOCUMENTS: Final = ObjectStoreSpec("pagi_documents", "uploaded documents, addressed by digest")
OBJECT_STORES: Final = (ARTIFACTS, DOCUMENTS)

__all__ = [
    "ARTIFACTS",
    "DOCUMENTS",
    "KV_BUCKETS",
    "OBJECT_STORES",
    "STREAMS",
    "ConsumerSpec",
    "KVSpec",
    "ObjectStoreSpec",
    "StreamSpec",
]
