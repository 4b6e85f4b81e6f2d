"""Subject names: every event subject ends in the session id (telemetry: the host id)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

TOKEN_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_SESSION: Final = "default"

CHAT_IN: Final = "chat.in"
CHAT_OUT: Final = "chat.out"
PLAN_ACTION: Final = "plan.action"
APPROVE_REQUEST: Final = "approve.request"
APPROVE_DECISION: Final = "approve.decision"
MEMORY_QUERY: Final = "memory.query"
MEMORY_STORE: Final = "memory.store"
MEMORY_RESULT: Final = "memory.result"
MEMORY_PARSE: Final = "memory.parse"
MEMORY_INGEST: Final = "memory.ingest"
MEMORY_CHANGED: Final = "memory.changed"
TOOL_RUN: Final = "tool.run"
TOOL_RESULT: Final = "tool.result"
BUILD_REQ: Final = "build.req"
BUILD_RESULT: Final = "build.result"
USAGE_LLM: Final = "usage.llm"
USAGE_RUN: Final = "usage.run"
EVAL_RUN: Final = "eval.run"
EVAL_RESULT: Final = "eval.result"
JOB_LOG: Final = "job.log"
JOB_CANCEL: Final = "job.cancel"
TELEMETRY_HOST: Final = "telemetry.host"
# Dead letters keep the original event type as their middle tokens: dlq.chat.in.<session>.
DEAD_LETTER_PREFIX: Final = "dlq"
DEAD_LETTER: Final = "dead_letter"

SESSION_EVENT_TYPES: Final = (
    CHAT_IN,
    CHAT_OUT,
    PLAN_ACTION,
    APPROVE_REQUEST,
    APPROVE_DECISION,
    MEMORY_QUERY,
    MEMORY_STORE,
    MEMORY_RESULT,
    MEMORY_PARSE,
    MEMORY_INGEST,
    MEMORY_CHANGED,
    TOOL_RUN,
    TOOL_RESULT,
    BUILD_REQ,
    BUILD_RESULT,
    USAGE_LLM,
    USAGE_RUN,
    EVAL_RUN,
    EVAL_RESULT,
    JOB_LOG,
    JOB_CANCEL,
)


class SubjectError(ValueError):
    pass


def check_token(value: str, what: str = "session id") -> str:
    if not TOKEN_RE.match(value):
        raise SubjectError(f"invalid {what} {value!r}: use 1-64 characters of A-Z a-z 0-9 _ -")
    return value


def session_subject(event_type: str, session_id: str) -> str:
    if event_type not in SESSION_EVENT_TYPES:
        raise SubjectError(f"unknown event type {event_type!r}")
    return f"{event_type}.{check_token(session_id)}"


def telemetry_subject(host_id: str) -> str:
    return f"{TELEMETRY_HOST}.{check_token(host_id, 'host id')}"


def dead_letter_subject(event_type: str, session_id: str) -> str:
    return f"{DEAD_LETTER_PREFIX}.{event_type}.{check_token(session_id)}"


def all_sessions(event_type: str) -> str:
    """The wildcard filter for one event type across every session."""
    return f"{event_type}.*"


def one_session(session_id: str) -> str:
    """The wildcard filter for every event of one session."""
    return f"*.*.{check_token(session_id)}"


@dataclass(frozen=True)
class ParsedSubject:
    event_type: str
    # None for the bare hand-typed form (`chat.in`), where the payload names the session.
    token: str | None


def parse_subject(subject: str) -> ParsedSubject:
    parts = subject.split(".")
    if len(parts) == 4 and parts[0] == DEAD_LETTER_PREFIX:
        return ParsedSubject(DEAD_LETTER, check_token(parts[3]))
    if len(parts) == 2:
        event_type = subject
        token = None
    elif len(parts) == 3:
        event_type, token = f"{parts[0]}.{parts[1]}", parts[2]
        check_token(token, "host id" if event_type == TELEMETRY_HOST else "session id")
    else:
        raise SubjectError(f"subject {subject!r} is not <family>.<kind>[.<session>]")
    if event_type not in SESSION_EVENT_TYPES and event_type != TELEMETRY_HOST:
        raise SubjectError(f"unknown event type {event_type!r} in subject {subject!r}")
    return ParsedSubject(event_type, token)
