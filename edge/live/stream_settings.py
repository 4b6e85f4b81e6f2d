"""Settings of the live streams (SSE and resume), from the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StreamSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    # Frames queued for one SSE client before it counts as too slow and is disconnected.
    sse_queue_size: int = Field(default=256, ge=1, alias="PAGI_SSE_QUEUE_SIZE")
    sse_ping_s: float = Field(default=15.0, gt=0, alias="PAGI_SSE_PING_S")
    telemetry_since_s: float = Field(default=300.0, ge=0, le=3600, alias="PAGI_TELEMETRY_SINCE_S")
    host_silent_after_s: float = Field(default=10.0, gt=0, alias="PAGI_HOST_SILENT_S")
    # How long a replay waits for room in a client's queue before the client counts as too slow.
    replay_put_timeout_s: float = Field(default=10.0, gt=0, alias="PAGI_REPLAY_PUT_TIMEOUT_S")
