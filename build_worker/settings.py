"""Build worker settings from the environment (the seed's names and defaults)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BuildSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    max_concurrent: int = Field(default=1, ge=1, alias="BUILD_MAX_CONCURRENT")
    max_pending: int = Field(default=4, ge=0, alias="BUILD_MAX_PENDING")
    timeout_ms: int = Field(default=120_000, ge=100, alias="BUILD_TIMEOUT_MS")
    # A toolchain directory holding bin/cargo and bin/rustc; found from `rustc --print sysroot` when unset.
    rust_toolchain: str | None = Field(default=None, alias="PAGI_RUST_TOOLCHAIN")
