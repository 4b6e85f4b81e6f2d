"""`python -m build_worker`: builds tools from build.req in the sandbox and registers them."""

from __future__ import annotations

from pagi.service import run_service

from .service import build_routes

if __name__ == "__main__":
    # asyncio's own loop: uvloop's subprocesses take no user, group or extra_groups, which the sandbox
    # drops privileges with (sandbox/process.py).
    run_service("build_worker", build_routes, loop="asyncio")
