"""The built-in tools: their argument schemas and the command each one runs in the sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bus_schemas.tool import BUILTIN_TOOL_NAMES, ToolRecord

from .fileops import FILEOPS
from .paths import workspace_relative

MAX_CODE_CHARS = 64_000
MAX_CONTENT_CHARS = 1_000_000


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommandExecArgs(Args):
    cmd: str = Field(min_length=1, max_length=MAX_CODE_CHARS, description="a shell command run by /bin/sh")


class PythonArgs(Args):
    code: str = Field(min_length=1, max_length=MAX_CODE_CHARS, description="a Python 3 snippet")


class FileWriteArgs(Args):
    path: str = Field(min_length=1, description="path relative to the workspace")
    content: str = Field(max_length=MAX_CONTENT_CHARS)

    _check = field_validator("path")(lambda v: workspace_relative(v))


class FileReadArgs(Args):
    path: str = Field(min_length=1, description="path relative to the workspace")

    _check = field_validator("path")(lambda v: workspace_relative(v))


class ListFilesArgs(Args):
    path: str = Field(default=".", description="directory relative to the workspace")

    _check = field_validator("path")(lambda v: workspace_relative(v, allow_root=True))


class VectorQueryArgs(Args):
    query: str = Field(min_length=1, max_length=4000)
    kb: str | None = Field(default=None, max_length=128, description="knowledge base; all when omitted")
    top_k: int = Field(default=5, ge=1, le=50)


@dataclass(frozen=True)
class Invocation:
    """What to run in the sandbox for one call."""

    command: list[str]
    stdin: bytes | None = None


@dataclass(frozen=True)
class Builtin:
    name: str
    description: str
    args_model: type[Args]
    # None: not a sandboxed command (vector_query goes to the memory worker).
    invocation: Callable[[Any, str], Invocation] | None

    def json_schema(self) -> dict[str, Any]:
        return self.args_model.model_json_schema()


def _fileop(op: str, args: FileWriteArgs | FileReadArgs | ListFilesArgs, python: str) -> Invocation:
    request: dict[str, str] = {"op": op, "path": args.path}
    if isinstance(args, FileWriteArgs):
        request["content"] = args.content
    return Invocation([python, "-I", "-S", "-c", FILEOPS], json.dumps(request).encode())


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin(
            "command_exec",
            "Run a shell command in the sandbox; the session workspace is the working directory.",
            CommandExecArgs,
            lambda a, py: Invocation(["/bin/sh", "-c", a.cmd]),
        ),
        Builtin(
            "python",
            "Run a Python 3 snippet in the sandbox; print what you want back.",
            PythonArgs,
            lambda a, py: Invocation([py, "-I", "-c", a.code]),
        ),
        Builtin(
            "file_write",
            "Write a text file in the session workspace (parents are created).",
            FileWriteArgs,
            lambda a, py: _fileop("write", a, py),
        ),
        Builtin(
            "file_read",
            "Read a text file from the session workspace.",
            FileReadArgs,
            lambda a, py: _fileop("read", a, py),
        ),
        Builtin(
            "list_files",
            "List files under a directory of the session workspace, with sizes.",
            ListFilesArgs,
            lambda a, py: _fileop("list", a, py),
        ),
        Builtin(
            "vector_query",
            "Search the twin's memory and knowledge bases (answered by the memory worker).",
            VectorQueryArgs,
            None,
        ),
    )
}

assert set(BUILTINS) == BUILTIN_TOOL_NAMES, "bus_schemas.tool.BUILTIN_TOOL_NAMES is out of date"

BUILTIN_RECORDS: dict[str, ToolRecord] = {
    name: ToolRecord(name=name, description=b.description, args_schema=b.json_schema(), kind="builtin")
    for name, b in BUILTINS.items()
}
