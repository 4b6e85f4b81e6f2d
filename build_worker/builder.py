"""One build from request to registry: name check, queue, sandboxed build, artifact, registry entry."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import jsonschema

from bus_schemas.tool import ToolRecord
from records.access import Caller, may_replace_tool
from records.stores import Blobs, digest_of
from records.tools import ToolRegistry, ToolTaken, taken_message
from sandbox import OutputCallback, Sandbox, Workspaces

from .build_queue import BuildQueue, QueueFull
from .names import name_problem
from .outcome import BuildOutcome
from .python_build import build_python
from .rust_build import build_rust

DEFAULT_ARGS_SCHEMA: dict[str, Any] = {"type": "object"}


@dataclass(frozen=True)
class BuildSpec:
    tool_name: str
    language: Literal["python", "rust"]
    code: str
    description: str = ""
    args_schema: dict[str, Any] | None = None
    entry_point: str = "main"
    # Who builds it (the session's owner; None: unknown, e.g. a session no edge opened) and for
    # which twin: recorded on the tool, and whether it may replace another's tool of the name.
    builder: Caller | None = None
    twin_id: str | None = None

    def may_replace(self, built_by: str | None) -> bool:
        return built_by is None or (self.builder is not None and may_replace_tool(self.builder, built_by))


class Builder:
    def __init__(
        self,
        sandbox: Sandbox,
        registry: ToolRegistry,
        artifacts: Blobs,
        queue: BuildQueue,
        timeout_s: float,
        rust_toolchain: Path | None,
    ) -> None:
        self.sandbox = sandbox
        self.registry = registry
        self.artifacts = artifacts
        self.queue = queue
        self.timeout_s = timeout_s
        self.rust_toolchain = rust_toolchain
        self.builds = Workspaces(sandbox.root / "builds", sandbox.config.host_user)

    async def build(self, spec: BuildSpec, on_output: OutputCallback | None = None) -> BuildOutcome:
        problem = name_problem(spec.tool_name)
        if problem:
            return BuildOutcome(success=False, reason="invalid_name", error=problem)
        if spec.args_schema is not None:
            try:
                jsonschema.validators.validator_for(spec.args_schema).check_schema(spec.args_schema)
            except jsonschema.SchemaError as exc:
                return BuildOutcome(success=False, reason="invalid_schema", error=f"invalid args_schema: {exc.message}")
        existing = await self.registry.get(spec.tool_name)
        if existing is not None and existing.kind == "built" and not spec.may_replace(existing.built_by):
            return BuildOutcome(success=False, reason="not_allowed", error=taken_message(spec.tool_name, existing))
        try:
            async with self.queue.slot():
                return await self._build(spec, on_output)
        except QueueFull as exc:
            return BuildOutcome(success=False, reason="queue_full", error=str(exc))

    async def _build(self, spec: BuildSpec, on_output: OutputCallback | None) -> BuildOutcome:
        limits = replace(
            self.sandbox.config.limits,
            timeout_s=self.timeout_s,
            # CPU time sums every thread; on a few cores a build uses more CPU than wall-clock time.
            cpu_s=int(self.timeout_s * 2) + 1,
        )
        workdir = self.builds.ensure(uuid.uuid4().hex)
        try:
            if spec.language == "python":
                outcome = await build_python(self.sandbox, workdir, spec.code, spec.entry_point, limits, on_output)
            else:
                outcome = await build_rust(
                    self.sandbox, workdir, spec.tool_name, spec.code, self.rust_toolchain, limits, on_output
                )
            if outcome.success and outcome.artifact is not None:
                try:
                    await self._register(spec, outcome)
                except ToolTaken as exc:  # another user registered the name while this one built
                    return BuildOutcome(success=False, reason="not_allowed", error=str(exc))
            return outcome
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    async def _register(self, spec: BuildSpec, outcome: BuildOutcome) -> None:
        """Artifact first, registry entry last: a build that fails half-way leaves no entry behind."""
        assert outcome.artifact is not None
        digest = digest_of(outcome.artifact)
        await self.artifacts.put(digest, outcome.artifact)
        registered = await self.registry.put_built(
            ToolRecord(
                name=spec.tool_name,
                description=spec.description,
                args_schema=spec.args_schema or DEFAULT_ARGS_SCHEMA,
                kind="built",
                artifact_digest=digest,
                language=spec.language,
                entry_point=spec.entry_point if spec.language == "python" else None,
                built_by=spec.builder.user_id if spec.builder else None,
                twin_id=spec.twin_id,
            ),
            spec.may_replace,
        )
        outcome.artifact_digest, outcome.version = digest, registered.version
