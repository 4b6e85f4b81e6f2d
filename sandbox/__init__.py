"""The sandbox both workers run untrusted code in: bubblewrap (or, loudly, none), hard limits,
per-session workspaces, warm slots. Workers import from here, not from the modules below.

`start_sandbox(SandboxSettings(), "tool_worker")` is the sandbox as a worker runs it; `Sandbox.run`
runs one command in a workspace and says what happened in a `RunResult`.
"""

from .bwrap import Bind
from .limits import GIB, MIB, Limits
from .process import OutputCallback
from .result import Isolation, Reason, RunResult
from .sandbox import Sandbox, SandboxConfig, SandboxUnavailable
from .settings import SandboxSettings, start_sandbox
from .workspace import WorkspaceError, Workspaces, traversable_by_others

__all__ = [
    "GIB",
    "MIB",
    "Bind",
    "Isolation",
    "Limits",
    "OutputCallback",
    "Reason",
    "RunResult",
    "Sandbox",
    "SandboxConfig",
    "SandboxSettings",
    "SandboxUnavailable",
    "WorkspaceError",
    "Workspaces",
    "start_sandbox",
    "traversable_by_others",
]
