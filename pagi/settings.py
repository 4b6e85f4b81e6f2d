"""Settings every service reads from the environment (see .env.example for the full list)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BusSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    nats_url: str = Field(default="nats://127.0.0.1:4222", alias="NATS_URL")
    connect_timeout_s: float = Field(default=30.0, alias="PAGI_CONNECT_TIMEOUT_S")
    data_dir: Path = Field(default=Path(".pagi"), alias="PAGI_DATA_DIR")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
