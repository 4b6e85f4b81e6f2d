"""What a twin may run, as the planner judges it before asking and as the worker re-checks it before
acting (defence in depth: the worker re-reads the twin's policy and the recorded approval).

A tool name is one of two kinds, each with its own rules (`tool_policy` picks it, by name):
a registry tool (built-in or built: `Twin.allowed_tools`, an always-allow pinned to the artifact) or
an MCP tool (`Twin.mcp_tools`, arguments checked against the server's schema, an always-allow pinned
to the `McpTool.digest` a human saw). A server's words (description, annotations) never enter here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import jsonschema
import referencing.exceptions

from bus_schemas.approval import ApprovalKind, ApprovalRecord, McpToolShown
from bus_schemas.mcp import McpTool
from bus_schemas.twin import Twin

from .approvals import approval_key
from .mcp_servers import mcp_tool_allowed
from .stores import KV
from .tools import McpToolCatalog, is_mcp_name
from .twins import DEFAULT_TWIN_ID, always_allowed, twin_key

# A request id keys the done-ledger (`<kind>.<request id>` in KV, records/done.py): one KV token.
REQUEST_ID_RE: Final = re.compile(r"^[A-Za-z0-9_=-]{1,64}$")


def malformed_request(request_id: str) -> str | None:
    """Why a worker request can never be carried out (so it is answered at once with an error
    result, not retried until it is dead-lettered), or None."""
    if not REQUEST_ID_RE.match(request_id):
        return "invalid request id: use 1-64 characters of A-Z a-z 0-9 _ = -"
    return None


PolicyReason = Literal["not_allowed", "not_approved"]

# A server's schema is untrusted input: bounded in size and depth, and only local references
# (`#/...`) resolve, so checking arguments never fetches anything.
MAX_SCHEMA_CHARS: Final = 64_000
MAX_SCHEMA_DEPTH: Final = 64
MAX_SCHEMA_ERRORS: Final = 5
_REF_KEYS: Final = ("$ref", "$dynamicRef", "$recursiveRef")


class PolicyError(PermissionError):
    def __init__(self, reason: PolicyReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def schema_problem(schema: Any) -> str | None:
    """Why a server's input schema cannot be used to check arguments, or None."""
    try:
        size = len(json.dumps(schema))
    except (TypeError, ValueError, RecursionError):
        return "it is not JSON"
    if size > MAX_SCHEMA_CHARS:
        return f"it is {size} characters, over the {MAX_SCHEMA_CHARS} limit"
    if not isinstance(schema, dict):
        return "it is not a JSON object"
    stack: list[tuple[Any, int]] = [(schema, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_SCHEMA_DEPTH:
            return f"it is nested deeper than {MAX_SCHEMA_DEPTH} levels"
        if isinstance(node, dict):
            for key in _REF_KEYS:
                ref = node.get(key)
                if ref is not None and (not isinstance(ref, str) or not ref.startswith("#")):
                    return f"{key} {str(ref)[:200]!r} is not a local reference (#/...): nothing is fetched"
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    try:
        jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"it is not a valid JSON schema ({exc.message[:300]})"
    return None


def arguments_problem(tool_name: str, schema: dict[str, Any], args: Any) -> str | None:
    """Why `args` may not be sent to the tool (its schema refused or the arguments do not match)."""
    bad_schema = schema_problem(schema)
    if bad_schema is not None:
        return f"the input schema of {tool_name} cannot be used: {bad_schema}; nothing was sent"
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)(schema)
    try:
        problems = []
        for error in validator.iter_errors(args):
            where = "/".join(str(p) for p in error.absolute_path) or "(the arguments)"
            problems.append(f"{where}: {error.message[:300]}")
            if len(problems) > MAX_SCHEMA_ERRORS:
                break
    except (referencing.exceptions.Unresolvable, RecursionError) as exc:
        return f"the input schema of {tool_name} cannot be used: {str(exc)[:300]}; nothing was sent"
    if not problems:
        return None
    more = " (and more)" if len(problems) > MAX_SCHEMA_ERRORS else ""
    listed = "; ".join(problems[:MAX_SCHEMA_ERRORS])
    return f"the arguments do not match the input schema of {tool_name}: {listed}{more}; nothing was sent"


class ToolPolicy(Protocol):
    """The rules for one kind of tool. `digest`: what the worker is about to run (an artifact, or
    the MCP tool as listed now); the planner passes None."""

    # The policy named when it refuses / asks (the job log and the approval say which).
    @property
    def name(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def asks(self) -> str: ...

    def refusal(self, twin: Twin) -> str | None:
        """Why the twin may not ask for this tool at all, or None."""

    def always_in_force(self, twin: Twin) -> bool:
        """The planner's check: `twin` as its jobs are judged (records.twins.in_force)."""

    def shown(self) -> McpToolShown | None:
        """What the approval shows of the tool beyond its name (an MCP server's words)."""

    def arguments_problem(self, args: Any) -> str | None: ...

    def always(self, twin: Twin, digest: str | None) -> bool:
        """The twin runs it without asking."""

    def stale(self, record: ApprovalRecord) -> str | None:
        """Why an approval no longer covers the tool as it is now, or None."""


@dataclass(frozen=True)
class RegistryTool:
    """A built-in or built tool (the tool registry): `allowed_tools`, artifact-pinned always-allow."""

    name: str
    label: str = "allowed-tools"
    asks: str = "tool-run"

    def refusal(self, twin: Twin) -> str | None:
        if self.name not in twin.allowed_tools:
            return f"tool {self.name!r} is not among {twin.id}'s allowed tools"
        return None

    def arguments_problem(self, args: Any) -> str | None:
        return None  # checked by the tool worker against the registry's schema

    def always(self, twin: Twin, digest: str | None) -> bool:
        return always_allowed(twin, self.name, digest)

    def always_in_force(self, twin: Twin) -> bool:
        return self.name in twin.always_allow  # in force: a built tool's pin already checked

    def shown(self) -> McpToolShown | None:
        return None

    def stale(self, record: ApprovalRecord) -> str | None:
        return None


@dataclass(frozen=True)
class McpToolUse:
    """A tool a registered MCP server lists: `mcp_tools`, its schema, an always-allow pinned to the
    digest of the server's registration and the tool's description and schemas."""

    tool: McpTool
    label: str = "mcp-tools"
    asks: str = "mcp-tool-run"

    @property
    def name(self) -> str:
        return self.tool.name

    def refusal(self, twin: Twin) -> str | None:
        if not mcp_tool_allowed(twin.mcp_tools, self.tool.server, self.tool.tool):
            ref = f"{self.tool.server}/{self.tool.tool}"
            return f"MCP tool {ref} is not in {twin.id}'s mcp_tools (add {ref} or {self.tool.server}/* to allow asking)"
        return None

    def arguments_problem(self, args: Any) -> str | None:
        return arguments_problem(self.tool.name, self.tool.input_schema, args)

    def always(self, twin: Twin, digest: str | None) -> bool:
        # The pin alone (pins are only written with their always-allow entry): the twin as the planner
        # judges it (records.twins.in_force) may not list an MCP tool in always_allow.
        pinned = twin.always_allow_pins.get(self.tool.name)
        return pinned == self.tool.digest and digest in (None, self.tool.digest)

    def always_in_force(self, twin: Twin) -> bool:
        return self.always(twin, None)

    def shown(self) -> McpToolShown | None:
        return McpToolShown.of(self.tool)

    def stale(self, record: ApprovalRecord) -> str | None:
        if record.mcp is None or record.mcp.digest != self.tool.digest:
            return (
                f"MCP tool {self.tool.server}/{self.tool.tool} changed since approval {record.approval_id} "
                "was asked (its server's registration or its description or schema): ask again"
            )
        return None


@dataclass(frozen=True)
class UnlistedMcpTool:
    """An MCP-shaped name no registered server lists (now): nothing to ask for."""

    name: str
    label: str = "mcp-tools"
    asks: str = "mcp-tool-run"

    def refusal(self, twin: Twin) -> str | None:
        return f"no registered MCP server lists a tool named {self.name!r} (is its server registered and running?)"

    def arguments_problem(self, args: Any) -> str | None:
        return None

    def always(self, twin: Twin, digest: str | None) -> bool:
        return False

    def always_in_force(self, twin: Twin) -> bool:
        return False

    def shown(self) -> McpToolShown | None:
        return None

    def stale(self, record: ApprovalRecord) -> str | None:
        return f"no registered MCP server lists a tool named {self.name!r} now: ask again once it does"


async def tool_policy(name: str, mcp_tools: McpToolCatalog | None) -> ToolPolicy:
    """The rules `name` is judged by. An MCP-shaped name is never a registry tool (a built tool's
    name may not contain `__`), so no built tool can stand in for a server's."""
    if not is_mcp_name(name):
        return RegistryTool(name)
    tool = await mcp_tools.get(name) if mcp_tools is not None else None
    return McpToolUse(tool) if tool is not None else UnlistedMcpTool(name)


async def load_twin(twins: KV, twin_id: str | None) -> Twin:
    found = await twins.get(twin_key(twin_id or DEFAULT_TWIN_ID))
    if found is None:
        raise PolicyError("not_allowed", f"unknown twin {twin_id or DEFAULT_TWIN_ID!r}: no policy to run under")
    return Twin.model_validate_json(found[0])


async def check_approval(
    approvals: KV,
    session_id: str,
    approval_id: str | None,
    request_id: str,
    kind: ApprovalKind,
    matches: Callable[[Any], bool],
) -> ApprovalRecord:
    """The approval must be recorded, approved, for this kind of action, for exactly this action, and
    for this request: one approval lets one request run (a second request naming it is refused; a
    redelivery of the same request is answered from the done-ledger, records/done.py)."""
    if not approval_id:
        raise PolicyError("not_approved", f"no approval id: a {kind} needs a human's approval")
    found = await approvals.get(approval_key(session_id, approval_id))
    if found is None:
        raise PolicyError("not_approved", f"approval {approval_id} is not recorded for this session")
    record = ApprovalRecord.model_validate_json(found[0])
    if record.state != "approved":
        raise PolicyError("not_approved", f"approval {approval_id} is {record.state}, not approved")
    if record.kind != kind or not matches(record.action):
        raise PolicyError("not_approved", f"approval {approval_id} was given for a different action")
    if record.request_id is None:
        raise PolicyError("not_approved", f"approval {approval_id} names no request to run; ask for a new approval")
    if record.request_id != request_id:
        raise PolicyError(
            "not_approved",
            f"approval {approval_id} was given for request {record.request_id}, not {request_id}: "
            "one approval runs one request",
        )
    return record


async def check_tool_run(
    twins: KV,
    approvals: KV,
    session_id: str,
    twin_id: str | None,
    approval_id: str | None,
    request_id: str,
    tool: str,
    args: Any,
    digest: str | None = None,
    mcp_tools: McpToolCatalog | None = None,
) -> None:
    """`digest`: the artifact the worker is about to run (None for a built-in), or for an MCP tool the
    `McpTool.digest` of the tool it is about to call. `mcp_tools`: the listed MCP tools (without it
    every MCP tool is refused)."""
    twin = await load_twin(twins, twin_id)
    policy = await tool_policy(tool, mcp_tools)
    refused = policy.refusal(twin)
    if refused is not None:
        raise PolicyError("not_allowed", refused)
    bad_args = policy.arguments_problem(args)
    if bad_args is not None:
        raise PolicyError("not_allowed", bad_args)  # the message says it is the arguments
    if not approval_id and policy.always(twin, digest):
        return

    def same(action: Any) -> bool:
        return getattr(action, "tool_name", None) == tool and getattr(action, "args", None) == args

    record = await check_approval(approvals, session_id, approval_id, request_id, "tool", same)
    stale = policy.stale(record)
    if stale is not None:
        raise PolicyError("not_approved", stale)


async def check_build(
    twins: KV,
    approvals: KV,
    session_id: str,
    twin_id: str | None,
    approval_id: str | None,
    request_id: str,
    tool: str,
    language: str,
    code: str,
) -> ApprovalRecord:
    """The build's recorded approval (whose `decided_by` says whether an admin approved it)."""
    twin = await load_twin(twins, twin_id)
    if not twin.code_generation:
        raise PolicyError("not_allowed", f"{twin.id}'s code-generation policy is off: it may not build tools")

    def same(action: Any) -> bool:
        fields = ("tool_name", "language", "code")
        return tuple(getattr(action, f, None) for f in fields) == (tool, language, code)

    return await check_approval(approvals, session_id, approval_id, request_id, "build", same)
