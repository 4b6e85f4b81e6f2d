"""Build worker settings from the environment: the sandbox's (`SandboxSettings`, shared with the tool
worker), and the builds' own (the seed's names and defaults)."""

from __future__ import annotations

from pydantic import Field

from sandbox.settings import SandboxSettings


class BuildSettings(SandboxSettings):
    max_concurrent: int = Field(default=1, ge=1, alias="BUILD_MAX_CONCURRENT")
    max_pending: int = Field(default=4, ge=0, alias="BUILD_MAX_PENDING")
    timeout_ms: int = Field(default=120_000, ge=100, alias="BUILD_TIMEOUT_MS")
    # A toolchain directory holding bin/cargo and bin/rustc; found from `rustc --print sysroot` when unset.
    rust_toolchain: str | None = Field(default=None, alias="PAGI_RUST_TOOLCHAIN")
    # The same switch as the tool worker's: a build's approval is re-checked in KV, not only in the planner.
    check_policy: bool = Field(default=True, alias="PAGI_TOOL_CHECK_POLICY")
