"""Every route's authorization rule, in one table: what the front door checks before the handler, and
what the handler then asks `records.access` about the object it touches.

- `public`: no key needed (the UI's files, `/health`'s up/down, the OpenAPI document).
- `user`: any authenticated user (in development mode, the one person at the machine); the handler
  checks the object with `records.access` (the `objects` column: whose session, twin, namespace).

(An `admin`-only gate will join when a route needs one; today every admin power is an object rule.)

A route missing from the table is refused (fail closed), and `tests/security/test_route_rules.py`
fails on it, so a new route cannot ship without a rule. docs/security.md shows this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from aiohttp import web

Gate = Literal["public", "user"]


@dataclass(frozen=True)
class Rule:
    gate: Gate
    objects: str  # what the handler checks with records.access, for the reader and docs/security.md


PUBLIC_FILE: Final = Rule("public", "static files of the web UI")
SESSION: Final = Rule("user", "the session's owner or an admin (records.access.check_session)")
TWIN_READ: Final = Rule("user", "shared twins, and private twins of the caller (records.access.may_see_twin)")
TWIN_WRITE: Final = Rule("user", "admins for shared twins, the owner for a private one (check_twin_change)")
MEMORY: Final = Rule("user", "namespaces the caller may read or write (records.access)")
SELF: Final = Rule("user", "the caller's own login session")
MCP_ADMIN: Final = Rule("user", "admins only: a stdio MCP server is a command run on a host (check_mcp_admin)")
MCP_DOOR: Final = Rule("user", "MCP: tools TWIN_READ, a session's history SESSION; an MCP session bound to its user")
A2A_RPC: Final = Rule("user", "A2A JSON-RPC: TWIN_READ on the twin, SESSION on the context and its tasks")
EVAL_READ: Final = Rule("user", "sets of TWIN_READ twins whose every case's session is the caller's (SESSION)")
EVAL_WRITE: Final = Rule("user", "EVAL_READ, and TWIN_WRITE on the set's twin (a run calls its model)")
METRICS: Final = Rule("user", "operational counters and scrape targets, no user data (Prometheus has a key)")

# Routes whose body is a file upload (multipart, streamed to disk under PAGI_MAX_UPLOAD_BYTES by the
# handler): the front door lets them through its JSON-only and whole-body limits.
UPLOAD_PATHS: Final = frozenset({"/v1/documents"})

# (method, route path as registered) -> rule. HEAD follows GET.
RULES: Final[dict[tuple[str, str], Rule]] = {
    ("GET", "/"): PUBLIC_FILE,
    ("GET", "/assets"): PUBLIC_FILE,
    ("GET", "/jobs/{rest}"): PUBLIC_FILE,
    ("GET", "/search"): PUBLIC_FILE,
    ("GET", "/twins/{rest}"): PUBLIC_FILE,
    ("GET", "/settings/{rest}"): PUBLIC_FILE,
    ("GET", "/usage"): PUBLIC_FILE,
    ("GET", "/schedules"): PUBLIC_FILE,
    ("GET", "/sessions/{rest}"): PUBLIC_FILE,
    ("GET", "/openapi.json"): Rule("public", "the API's description, no data"),
    ("GET", "/health"): Rule("public", "up/down for anyone; details with a key (or loopback in development mode)"),
    ("GET", "/metrics"): METRICS,
    ("GET", "/v1/metrics/targets"): METRICS,
    ("GET", "/api/v1/agi/dashboard-data"): Rule(
        "user", "the seed's dashboard: host telemetry and counts, no session data"
    ),
    ("POST", "/api/v1/echo"): Rule("user", "echoes the caller's own body"),
    ("POST", "/v1/auth/session"): SELF,
    ("GET", "/v1/auth/session"): SELF,
    ("DELETE", "/v1/auth/session"): SELF,
    ("POST", "/v1/chat"): SESSION,
    ("GET", "/ws/chat/{user_id}"): Rule("user", "the path's user is the caller; each session as SESSION"),
    ("GET", "/v1/events/stream"): SESSION,
    ("POST", "/plan"): SESSION,
    ("POST", "/run"): SESSION,
    # The seed's other documented entry points (edge/api/seed_api.py).
    ("POST", "/api/v1/plan"): SESSION,
    ("POST", "/api/v1/execute_tool"): Rule(
        "user", "SESSION (the run's session: a new one unless named); the tool runs only once approved, as any tool"
    ),
    ("GET", "/api/v1/execute_tool/{job_id}"): SESSION,
    ("GET", "/memory/latest"): Rule("user", "SESSION when one is named; else the caller's most recent session"),
    ("GET", "/api/health"): Rule("user", "up/down only, as the seed's gateway said it"),
    ("POST", "/v1/memory/query"): MEMORY,
    ("GET", "/v1/approvals"): Rule("user", "approvals of the caller's sessions (admins: all)"),
    ("POST", "/v1/approvals/{approval_id}"): Rule(
        "user",
        "SESSION; `always` also needs TWIN_WRITE on the twin; approving a budget: admins for global and user"
        " scopes, TWIN_WRITE for a twin's",
    ),
    ("GET", "/v1/jobs/{job_id}"): SESSION,
    ("POST", "/v1/jobs/{job_id}/cancel"): SESSION,
    ("GET", "/v1/sessions/{session_id}/history"): SESSION,
    ("GET", "/v1/audit"): Rule("user", "events of the caller's sessions (admins: all, recorded)"),
    ("GET", "/v1/search"): Rule("user", "hits from the caller's sessions (admins: all)"),
    ("GET", "/v1/memory/search"): MEMORY,
    ("GET", "/v1/memory/namespaces"): MEMORY,
    ("GET", "/v1/memory/{memory_id}"): MEMORY,
    ("DELETE", "/v1/memory/{memory_id}"): MEMORY,
    ("POST", "/v1/memory"): MEMORY,
    ("GET", "/v1/memory"): MEMORY,
    ("PATCH", "/v1/memory/{memory_id}"): MEMORY,
    ("POST", "/v1/documents"): Rule(
        "user", "SESSION on the named session (else a new one of the caller's); a namespace as check_namespace_write"
    ),
    ("GET", "/v1/twins"): TWIN_READ,
    ("POST", "/v1/twins"): Rule("user", "members create private twins; admins shared ones"),
    ("GET", "/v1/twins/blueprints"): Rule("user", "starter prompts, no data"),
    ("GET", "/v1/twins/{twin_id}"): TWIN_READ,
    ("PUT", "/v1/twins/{twin_id}"): TWIN_WRITE,
    ("DELETE", "/v1/twins/{twin_id}"): TWIN_WRITE,
    ("GET", "/v1/twins/{twin_id}/prompt/versions"): TWIN_READ,
    ("GET", "/v1/twins/{twin_id}/prompt/versions/{version}"): TWIN_READ,
    ("POST", "/v1/twins/{twin_id}/prompt/rollback"): TWIN_WRITE,
    ("GET", "/v1/tools"): Rule("user", "the registry; `?twin=` as TWIN_READ"),
    ("GET", "/v1/tools/{name}"): Rule("user", "the registry entry (no code, no secrets)"),
    ("GET", "/v1/mcp/servers"): Rule("user", "every registered MCP server; header names, never their values"),
    ("POST", "/v1/mcp/servers"): MCP_ADMIN,
    ("DELETE", "/v1/mcp/servers/{name}"): MCP_ADMIN,
    # The usage ledger (edge/api/usage_api.py).
    ("GET", "/v1/usage"): Rule("user", "a member's own usage (their user and sessions); an admin's, everyone's"),
    ("GET", "/v1/prices"): Rule("user", "the price table (no user data)"),
    ("PUT", "/v1/prices/{provider}/{model}"): Rule("user", "admins only: the operator's price table"),
    # Budgets (edge/api/budgets_api.py) and eval sets (edge/api/evals_api.py).
    ("GET", "/v1/budgets"): Rule(
        "user", "the install's, the caller's own user's, and TWIN_READ twins' budgets (admins: all)"
    ),
    ("PUT", "/v1/budgets/{scope}"): Rule("user", "admins only: a budget limits the one it names"),
    ("DELETE", "/v1/budgets/{scope}"): Rule("user", "admins only: a budget limits the one it names"),
    ("GET", "/v1/evals"): EVAL_READ,
    ("POST", "/v1/evals"): Rule("user", "TWIN_WRITE on the set's twin; SESSION on every session a case is taken from"),
    ("GET", "/v1/evals/{set_id}"): EVAL_READ,
    ("DELETE", "/v1/evals/{set_id}"): EVAL_WRITE,
    ("POST", "/v1/evals/{set_id}/runs"): EVAL_WRITE,
    ("GET", "/v1/evals/{set_id}/runs/{run_id}"): EVAL_READ,
    # Schedules (edge/api/schedules_api.py): a member's own; an admin's, every one.
    ("GET", "/v1/schedules"): Rule("user", "the caller's own schedules (admins: all)"),
    ("POST", "/v1/schedules"): Rule("user", "SESSION on the target session; TWIN_READ on the twin"),
    ("DELETE", "/v1/schedules/{schedule_id}"): Rule("user", "the schedule's owner, or an admin"),
    ("POST", "/v1/schedules/{schedule_id}/pause"): Rule("user", "the schedule's owner, or an admin"),
    ("POST", "/v1/schedules/{schedule_id}/resume"): Rule("user", "the schedule's owner, or an admin"),
    ("GET", "/v1/telemetry/stream"): Rule("user", "host telemetry, shared by everyone on the install"),
    ("GET", "/v1/telemetry/hosts"): Rule("user", "host telemetry, shared by everyone on the install"),
    # The A2A door (edge/doors/a2a.py): cards are public documents (shared twins only, anonymously); a task
    # is a job of the caller's sessions.
    ("GET", "/.well-known/agent-card.json"): Rule("public", "the install's A2A card: shared twins as skills"),
    ("GET", "/a2a/{twin_id}/.well-known/agent-card.json"): Rule("public", "a shared twin's A2A card (private: 404)"),
    ("POST", "/a2a"): A2A_RPC,
    ("POST", "/a2a/{twin_id}"): A2A_RPC,
    # The MCP server door (edge/doors/mcp_server.py): a tool is a twin; the key is needed on GET too.
    ("POST", "/mcp"): MCP_DOOR,
    ("GET", "/mcp"): MCP_DOOR,
    ("DELETE", "/mcp"): MCP_DOOR,
    # The OpenAI-compatible door (edge/doors/openai_api.py): a model is a twin.
    ("GET", "/v1/models"): TWIN_READ,
    ("GET", "/v1/models/{model}"): TWIN_READ,
    ("POST", "/v1/chat/completions"): Rule("user", "TWIN_READ on the model (the twin); SESSION on the conversation"),
}


def route_key(method: str, path: str) -> tuple[str, str]:
    return ("GET" if method == "HEAD" else method, path)


def rule_for(request: web.Request) -> Rule | None:
    """The matched route's rule; None when the route has none (the front door refuses it) or when
    nothing matched (the router's own 404/405)."""
    route = request.match_info.route
    resource = route.resource
    if resource is None:
        return None
    return RULES.get(route_key(request.method, resource.canonical))
