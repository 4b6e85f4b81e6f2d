"""The dead letter: a message no handler could accept, and why."""

from __future__ import annotations

from pydantic import Field

from .envelope import Body


class DeadLetter(Body):
    reason: str = Field(max_length=4000)
    subject: str
    consumer: str
    stream_seq: int | None = None
    deliveries: int | None = None
    # The start of the rejected payload, for a human to look at; never executed or re-parsed.
    payload_preview: str = Field(default="", max_length=512)
