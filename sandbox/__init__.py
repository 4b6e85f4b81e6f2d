"""The sandbox both workers run untrusted code in: bubblewrap (or, loudly, none), hard limits,
per-session workspaces, warm slots. Workers import from here, not from the modules below.

`Sandbox.run` runs one command in a workspace and says what happened in a `RunResult`. How a worker
sets one up from its environment (`SandboxSettings`, `start_sandbox`) is `sandbox.settings`, kept
out of this import: it reports to the heartbeat, so it loads the bus runtime, which the sandbox
itself does not need (and a process that only runs sandboxes, like `bench.sandbox`, should not pay).
"""

from .bwrap import Bind
from .limits import GIB, MIB, Limits
from .process import OutputCallback
from .result import Isolation, Reason, RunResult
from .sandbox import Sandbox, SandboxConfig, SandboxUnavailable
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
    "SandboxUnavailable",
    "WorkspaceError",
    "Workspaces",
    "traversable_by_others",
]
