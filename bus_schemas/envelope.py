"""The one envelope every PAGI event travels in."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

B = TypeVar("B", bound=BaseModel)


def new_id() -> str:
    """`uuid.uuid4().hex`, as uuid4 makes it (16 random bytes, version and variant set), without a
    UUID object."""
    random = bytearray(os.urandom(16))
    random[6] = (random[6] & 0x0F) | 0x40  # version 4
    random[8] = (random[8] & 0x3F) | 0x80  # RFC 4122 variant
    return random.hex()


_URL_NAMESPACE = uuid.NAMESPACE_URL.bytes


def derived_id(parent_id: str, purpose: str) -> str:
    """A stable id for an event caused by another, so a redelivered input yields the same output id
    and JetStream's duplicate window drops the second copy.

    It is `uuid.uuid5(uuid.NAMESPACE_URL, f"pagi:{parent_id}:{purpose}").hex` (tests/test_codec.py
    holds them equal), without building a UUID object: it is made several times per chat message."""
    digest = bytearray(hashlib.sha1(_URL_NAMESPACE + f"pagi:{parent_id}:{purpose}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return digest.hex()


class Body(BaseModel):
    """Base of every event body: unknown fields are an error, so typos are caught at the edge."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Envelope(BaseModel, Generic[B]):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=new_id, min_length=1, max_length=64)
    type: str
    schema_version: int = SCHEMA_VERSION
    ts: datetime = Field(default_factory=lambda: datetime.now(UTC))
    session_id: str
    job_id: str | None = None
    causation_id: str | None = None
    twin_id: str | None = None
    # A caller's own trace id as they gave it (`X-Trace-ID: test-trace-123`), when it is not a W3C
    # one: the job's trace id (in the message headers) is derived from it (pagi.tracecontext).
    trace_label: str | None = Field(default=None, max_length=128)
    body: B

    def caused(self, purpose: str, type_: str, body: BaseModel, **fields: Any) -> Envelope[Any]:
        """A follow-up event in the same session and job, with a stable derived id."""
        base: dict[str, Any] = {
            "id": derived_id(self.id, purpose),
            "type": type_,
            "session_id": self.session_id,
            "job_id": self.job_id,
            "causation_id": self.id,
            "twin_id": self.twin_id,
            "trace_label": self.trace_label,
        }
        base.update(fields)
        return Envelope[Any](body=body, **base)
