"""`python -m tool_worker`: runs approved tools from tool.run in the bubblewrap sandbox."""

from __future__ import annotations

from pagi.service import run_service

from .service import tool_routes

if __name__ == "__main__":
    # asyncio's own loop: uvloop's subprocesses take no user, group or extra_groups, which the sandbox
    # drops privileges with (sandbox/process.py).
    run_service("tool_worker", tool_routes, loop="asyncio")
