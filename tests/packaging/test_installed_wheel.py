"""`pagi up` from a built wheel installed in a fresh virtual environment, away from the checkout:
the wheel must carry everything (the web UI, the embedding model, the personas, nats.conf's users)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from ..ports import free_port
from ..up import Up

REPO = Path(__file__).resolve().parents[2]


def build_and_install(tmp: Path) -> Path:
    wheels = tmp / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(wheels)],
        check=True, timeout=600,
    )  # fmt: skip
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    [wheel] = wheels.glob("pagi-*.whl")
    subprocess.run([venv / "bin" / "pip", "install", "-q", str(wheel)], check=True, timeout=900)
    return venv


# Building the wheel and installing its dependencies into a new venv takes a minute or two.
@pytest.mark.timeout(900)
async def test_pagi_up_runs_from_an_installed_wheel(tmp_path: Path) -> None:
    venv = await asyncio.to_thread(build_and_install, tmp_path)
    shown = await asyncio.create_subprocess_exec(venv / "bin" / "pagi", "--version", stdout=asyncio.subprocess.PIPE)
    output, _ = await shown.communicate()
    assert output.decode().startswith("pagi ")
    installed_version = output.decode().split()[1]

    web_port, nats_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "PYTHONPATH", "VIRTUAL_ENV")}
    proc = await asyncio.create_subprocess_exec(
        str(venv / "bin" / "pagi"), "up", "--data-dir", str(tmp_path / "data"),
        "--nats-port", str(nats_port), "--port", str(web_port),
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    up = Up(proc, web_port, nats_port, tmp_path / "data")
    try:
        await up.wait_line("PAGI is up at", timeout=120)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{up.url}/health") as health:
                body = await health.json()
                assert health.status == 200, body
                assert body["version"] == installed_version
            async with http.get(f"{up.url}/") as index:
                assert index.status == 200 and '<div id="app">' in await index.text()
            chat = {"message": "hello from the wheel", "session_id": "wheel"}
            async with http.post(f"{up.url}/v1/chat", json=chat) as answer:
                assert "hello from the wheel" in json.dumps(await answer.json())
        assert (tmp_path / "data" / "nats.conf").exists()  # rendered: no checkout to read it from
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
