"""The agent's two settings: which host it speaks for, and how often."""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping

from pydantic import Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

INTERVAL_ENV = "TELEMETRY_INTERVAL_MS"
DEFAULT_INTERVAL_MS = 1000
MIN_INTERVAL_MS = 100
MAX_TOKEN_LEN = 64

_INVALID = re.compile(r"[^A-Za-z0-9_-]+")
_VALID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def sanitise_host_id(name: str) -> str:
    """Turn a host name into one NATS subject token: `web-01.example.com` -> `web-01_example_com`."""
    token = _INVALID.sub("_", name.strip()).strip("_")[:MAX_TOKEN_LEN]
    return token or "host"


def default_host_id() -> str:
    return sanitise_host_id(socket.gethostname())


def check_host_id(value: str) -> str:
    """A host id given by hand must already be a valid token: silently renaming it would hide a typo."""
    if not _VALID.match(value):
        raise ValueError(f"invalid host id {value!r}: use 1-64 characters of A-Z a-z 0-9 _ -")
    return value


class TelemetrySettings(BaseSettings):
    """The interval, from `TELEMETRY_INTERVAL_MS` (empty means the default)."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    interval_ms: int = Field(default=DEFAULT_INTERVAL_MS, alias=INTERVAL_ENV)

    @field_validator("interval_ms", mode="before")
    @classmethod
    def _whole_milliseconds(cls, value: object) -> int:
        raw = str(value).strip()
        if not raw:
            return DEFAULT_INTERVAL_MS
        try:
            ms = int(raw)
        except ValueError:
            raise PydanticCustomError(
                "interval", f"{INTERVAL_ENV}={raw!r} is not a whole number of milliseconds"
            ) from None
        if ms < MIN_INTERVAL_MS:
            raise PydanticCustomError("interval", f"{INTERVAL_ENV}={ms} is below the minimum of {MIN_INTERVAL_MS} ms")
        return ms


def interval_s(env: Mapping[str, str] | None = None) -> float:
    """Seconds between samples, from the environment (or `env`); a ValueError that says what is wrong."""
    try:
        settings = TelemetrySettings() if env is None else TelemetrySettings.model_validate(dict(env))
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"]) from None
    return settings.interval_ms / 1000.0
