"""Run one registered tool for a session: validate its arguments, then run it in the sandbox."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import jsonschema
from pydantic import ValidationError

from bus_schemas.tool import ToolRecord
from records.tools import ToolRegistry
from sandbox import Bind, Limits, OutputCallback, Reason, RunResult, Sandbox

from .artifacts import ARTIFACT_FILE, ArtifactCache, ArtifactError
from .builtins import BUILTINS, Invocation, VectorQueryArgs
from .fileops import EXIT_ESCAPE
from .paths import PathEscape

TOOL_DIR = "/opt/pagi-tool"
# Answers vector_query; gets the triggering event (opaque here) to address its question to the session.
VectorQuery = Callable[[VectorQueryArgs, Any], Awaitable[RunResult]]

# Imports a built Python tool from its file, calls the entry point with the JSON arguments from stdin,
# and prints the return value (strings as they are, anything else as JSON).
PY_TOOL_RUNNER = r"""
import importlib.machinery, importlib.util, json, sys
path, entry = sys.argv[1], sys.argv[2]
loader = importlib.machinery.SourceFileLoader("pagi_tool", path)
module = importlib.util.module_from_spec(importlib.util.spec_from_loader("pagi_tool", loader))
loader.exec_module(module)
args = json.loads(sys.stdin.read() or "{}")
out = getattr(module, entry)(args)
if out is not None:
    sys.stdout.write(out if isinstance(out, str) else json.dumps(out))
"""


class ToolRunner:
    def __init__(
        self,
        sandbox: Sandbox,
        registry: ToolRegistry,
        artifacts: ArtifactCache,
        vector_query: VectorQuery | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.registry = registry
        self.artifacts = artifacts
        self.vector_query = vector_query

    def _refuse(self, reason: Reason, error: str) -> RunResult:
        return RunResult.refused(self.sandbox.isolation, reason, error)

    async def run(
        self,
        session_id: str,
        tool_name: str,
        args: dict[str, Any],
        *,
        timeout_s: float | None = None,
        on_output: OutputCallback | None = None,
        trigger: Any = None,
        record: ToolRecord | None = None,
    ) -> RunResult:
        """`record`: the registry entry the policy was checked against, so the artifact that runs is
        the one checked (else it is read now)."""
        record = record if record is not None and record.name == tool_name else await self.registry.get(tool_name)
        if record is None:
            return self._refuse("unknown_tool", f"unknown tool {tool_name!r}")
        limits = self.sandbox.config.limits.with_timeout(timeout_s)
        if record.kind == "builtin":
            return await self._run_builtin(session_id, tool_name, args, limits, on_output, trigger)
        return await self._run_built(session_id, record, args, limits, on_output)

    async def _run_builtin(
        self,
        session_id: str,
        name: str,
        args: dict[str, Any],
        limits: Limits,
        on_output: OutputCallback | None,
        trigger: Any,
    ) -> RunResult:
        builtin = BUILTINS[name]
        try:
            parsed = builtin.args_model.model_validate(args)
        except ValidationError as exc:
            escapes = [e for e in exc.errors() if isinstance((e.get("ctx") or {}).get("error"), PathEscape)]
            if escapes:
                return self._refuse("path_escape", str(escapes[0]["ctx"]["error"]))
            return self._refuse("invalid_arguments", f"invalid arguments for {name}: {_brief(exc)}")
        if builtin.invocation is None:
            if self.vector_query is None or not isinstance(parsed, VectorQueryArgs):
                return self._refuse("unavailable", "vector_query needs the memory worker, which is not connected")
            return await self.vector_query(parsed, trigger)
        invocation: Invocation = builtin.invocation(parsed, self.sandbox.config.python)
        workspace = self.sandbox.workspaces.ensure(session_id)
        result = await self.sandbox.run(
            invocation.command, workspace, stdin=invocation.stdin, limits=limits, on_output=on_output
        )
        if name in ("file_write", "file_read", "list_files") and result.exit_code == EXIT_ESCAPE and not result.reason:
            result.reason = "path_escape"
            result.error = result.stderr.strip().removeprefix("pagi: ")
        return result

    async def _run_built(
        self,
        session_id: str,
        record: ToolRecord,
        args: dict[str, Any],
        limits: Limits,
        on_output: OutputCallback | None,
    ) -> RunResult:
        try:
            jsonschema.validate(args, record.args_schema)
        except jsonschema.ValidationError as exc:
            return self._refuse("invalid_arguments", f"invalid arguments for {record.name}: {exc.message}")
        except jsonschema.SchemaError as exc:
            return self._refuse("invalid_arguments", f"{record.name} has an invalid argument schema: {exc.message}")
        if record.artifact_digest is None:
            return self._refuse("unavailable", f"{record.name} has no artifact")
        try:
            directory = await self.artifacts.directory(record.artifact_digest)
        except ArtifactError as exc:
            return self._refuse("unavailable", str(exc))
        bind = Bind(directory, TOOL_DIR)
        tool_path = f"{self.sandbox.visible_path(bind)}/{ARTIFACT_FILE}"
        if record.language == "python":
            command = [self.sandbox.config.python, "-I", "-c", PY_TOOL_RUNNER, tool_path, record.entry_point or "main"]
        else:
            command = [tool_path]
        workspace = self.sandbox.workspaces.ensure(session_id)
        stdin = _json_bytes(args)
        return await self.sandbox.run(command, workspace, stdin=stdin, limits=limits, binds=[bind], on_output=on_output)


def _json_bytes(args: dict[str, Any]) -> bytes:
    return json.dumps(args).encode()


def _brief(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}" for e in exc.errors())
