"""scripts/verify_e2e_audit.sh against a real `pagi up`: every link holds, and a broken one is named."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from .up import Up

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "verify_e2e_audit.sh"


async def run_script(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPT), *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_every_link_of_the_audit_trail_holds(pagi_up: Up) -> None:
    env = {**os.environ, "PAGI_DATA_DIR": str(pagi_up.data_dir), "PYTHON": sys.executable}
    env.pop("NATS_URL", None)
    code, out = await run_script(env)
    assert code == 0, out
    assert "the finished job's notification reached a subscriber on the bus" in out
    assert "reached every service that handled the job: edge, planner" in out
    assert out.rstrip().endswith("every link holds")

    # A stack that is not there: the first link breaks, and the script says which.
    env["PAGI_URL"] = "http://127.0.0.1:9"
    code, out = await run_script(env, "http://127.0.0.1:9")
    assert code == 1 and "BROKEN: POST http://127.0.0.1:9/v1/chat did not answer" in out
