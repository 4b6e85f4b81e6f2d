"""The MCP host: registered stdio servers run in the sandbox, their tools listed, their calls made.

`host` (the registry watched, one runner per server), `supervisor` (a server's process and session,
restarted with backoff), `listing` (its tools into KV), `call` (one `tools/call`), `program` (what
its program needs bound), `transport` (MCP over the sandboxed process's pipes).
"""

from .host import McpHost
from .supervisor import HostLimits, ServerRunner, ServerUnavailable

__all__ = ["HostLimits", "McpHost", "ServerRunner", "ServerUnavailable"]
