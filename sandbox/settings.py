"""The sandbox's settings from the environment, and the started sandbox a worker runs its commands in.

Both workers that run untrusted code (tools, builds) read the same variables, so one install has one
sandbox policy; each keeps its own state directory under `PAGI_DATA_DIR`.
"""

from __future__ import annotations

import os
import shutil
from functools import partial
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus_schemas.heartbeat import (
    SANDBOX,
    SANDBOX_CGROUP,
    SANDBOX_FREE_BYTES,
    SANDBOX_MIN_FREE_BYTES,
    SANDBOX_PIDS_SCOPE,
    SANDBOX_REQUIRED,
    SANDBOX_SECCOMP,
    SANDBOX_USERNS_DISABLED,
    SANDBOX_WORKSPACES,
)
from pagi import heartbeat

from .cgroups import cgroup_v2_status
from .limits import Limits
from .sandbox import DEFAULT_UID_BASE, DEFAULT_UID_COUNT, Sandbox, SandboxConfig


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    data_dir: Path = Field(default=Path(".pagi"), alias="PAGI_DATA_DIR")
    require_sandbox: bool = Field(default=False, alias="PAGI_REQUIRE_SANDBOX")
    bwrap: str | None = Field(default=None, alias="PAGI_BWRAP")
    # Host uid the sandbox runs as when the worker is root (default nobody).
    sandbox_uid: int = Field(default=65534, alias="PAGI_SANDBOX_UID")
    # A host uid per session from base .. base+count-1 (0: every session runs as PAGI_SANDBOX_UID).
    # Every worker of a host using one range shares its table; two installs on a host take two ranges.
    sandbox_uid_base: int = Field(default=DEFAULT_UID_BASE, ge=1000, alias="PAGI_SANDBOX_UID_BASE")
    sandbox_uid_count: int = Field(default=DEFAULT_UID_COUNT, ge=0, le=1_000_000, alias="PAGI_SANDBOX_UID_COUNT")
    sandbox_uid_table: Path | None = Field(default=None, alias="PAGI_SANDBOX_UID_TABLE")
    seccomp: bool = Field(default=True, alias="PAGI_SANDBOX_SECCOMP")
    # The session workspaces' directory: best a filesystem of its own, so tools cannot fill the bus's disk.
    workspaces_dir: Path | None = Field(default=None, alias="PAGI_WORKSPACES_DIR")
    # No run starts below this many free bytes there (default: 1 GiB or 5 % of it, whichever is smaller).
    min_free_bytes: int | None = Field(default=None, ge=0, alias="PAGI_SANDBOX_MIN_FREE_BYTES")
    python: str = Field(default="/usr/bin/python3", alias="PAGI_SANDBOX_PYTHON")
    timeout_s: float = Field(default=10.0, gt=0, le=600, alias="TOOL_TIMEOUT_S")
    cpu_s: int = Field(default=10, ge=1, alias="TOOL_CPU_S")
    memory_bytes: int = Field(default=1024**3, ge=64 * 1024**2, alias="TOOL_MEMORY_BYTES")
    nproc: int = Field(default=64, ge=8, alias="TOOL_MAX_PROCESSES")
    file_size_bytes: int = Field(default=64 * 1024**2, ge=1024, alias="TOOL_MAX_FILE_BYTES")
    output_bytes: int = Field(default=1024**2, ge=1024, alias="TOOL_MAX_OUTPUT_BYTES")
    workspace_quota_bytes: int = Field(default=256 * 1024**2, ge=1024**2, alias="TOOL_WORKSPACE_QUOTA_BYTES")
    # Sandboxes built ahead for the next run in recently used sessions (0: always start cold).
    warm_slots: int = Field(default=4, ge=0, le=64, alias="TOOL_WARM_SLOTS")

    def state_dir(self, worker: str) -> Path:
        return (self.data_dir / worker).resolve()

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

    def config(self, worker: str) -> SandboxConfig:
        return SandboxConfig(
            state_dir=self.state_dir(worker),
            require_sandbox=self.require_sandbox,
            bwrap=self.bwrap or shutil.which("bwrap"),
            host_user=(self.sandbox_uid, self.sandbox_uid) if os.geteuid() == 0 else None,
            limits=self.limits(),
            python=self.python,
            warm_slots=self.warm_slots,
            session_uids=(self.sandbox_uid_base, self.sandbox_uid_count) if self.sandbox_uid_count else None,
            uid_table=self.sandbox_uid_table,
            seccomp=self.seccomp,
            workspaces_dir=self.workspaces_dir.resolve() if self.workspaces_dir else None,
            min_free_bytes=self.min_free_bytes,
        )


def start_sandbox(settings: SandboxSettings, worker: str) -> Sandbox:
    """The worker's sandbox, state under `PAGI_DATA_DIR/<worker>`, started (isolation found by trying)
    and announced in the worker's heartbeat, so `/health` shows what isolation its commands get."""
    sandbox = Sandbox(settings.config(worker))
    sandbox.start()
    heartbeat.report(SANDBOX, sandbox.isolation)
    heartbeat.report(SANDBOX_REQUIRED, settings.require_sandbox)
    heartbeat.report(SANDBOX_USERNS_DISABLED, sandbox.userns_disabled)
    heartbeat.report(SANDBOX_SECCOMP, sandbox.seccomp_on)
    heartbeat.report(SANDBOX_PIDS_SCOPE, sandbox.pids_scope)
    heartbeat.report(SANDBOX_CGROUP, cgroup_v2_status())
    heartbeat.report(SANDBOX_WORKSPACES, str(sandbox.workspaces.root))
    heartbeat.report(SANDBOX_MIN_FREE_BYTES, sandbox.disk_floor)
    sandbox.on_free_bytes = partial(heartbeat.report, SANDBOX_FREE_BYTES)
    sandbox.free_bytes()
    return sandbox
