"""Tool worker settings from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from sandbox.limits import Limits


class ToolSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    data_dir: Path = Field(default=Path(".pagi"), alias="PAGI_DATA_DIR")
    require_sandbox: bool = Field(default=False, alias="PAGI_REQUIRE_SANDBOX")
    bwrap: str | None = Field(default=None, alias="PAGI_BWRAP")
    # Host uid the sandbox runs as when the worker is root (default nobody).
    sandbox_uid: int = Field(default=65534, alias="PAGI_SANDBOX_UID")
    python: str = Field(default="/usr/bin/python3", alias="PAGI_SANDBOX_PYTHON")
    timeout_s: float = Field(default=10.0, gt=0, le=600, alias="TOOL_TIMEOUT_S")
    # A tool.run may ask for a longer wall clock than the default, up to this.
    max_timeout_s: float = Field(default=60.0, gt=0, le=600, alias="TOOL_MAX_TIMEOUT_S")
    cpu_s: int = Field(default=10, ge=1, alias="TOOL_CPU_S")
    memory_bytes: int = Field(default=1024**3, ge=64 * 1024**2, alias="TOOL_MEMORY_BYTES")
    nproc: int = Field(default=64, ge=8, alias="TOOL_MAX_PROCESSES")
    file_size_bytes: int = Field(default=64 * 1024**2, ge=1024, alias="TOOL_MAX_FILE_BYTES")
    output_bytes: int = Field(default=1024**2, ge=1024, alias="TOOL_MAX_OUTPUT_BYTES")
    workspace_quota_bytes: int = Field(default=256 * 1024**2, ge=1024**2, alias="TOOL_WORKSPACE_QUOTA_BYTES")
    # Re-check the twin's allowed tools and the approval in KV, not only in the planner.
    check_policy: bool = Field(default=True, alias="PAGI_TOOL_CHECK_POLICY")
    max_concurrent: int = Field(default=4, ge=1, alias="TOOL_MAX_CONCURRENT")
    # Sandboxes built ahead for the next run in recently used sessions (0: always start cold).
    warm_slots: int = Field(default=4, ge=0, le=64, alias="TOOL_WARM_SLOTS")

    @property
    def state_dir(self) -> Path:
        return (self.data_dir / "tool_worker").resolve()

    def limits(self) -> Limits:
        return Limits(
            timeout_s=self.timeout_s,
            cpu_s=self.cpu_s,
            address_space_bytes=self.memory_bytes,
            nproc=self.nproc,
            file_size_bytes=self.file_size_bytes,
            output_bytes=self.output_bytes,
            workspace_quota_bytes=self.workspace_quota_bytes,
        )
