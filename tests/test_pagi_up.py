"""`pagi up` as a user runs it: real processes, a real nats-server, answers, crash restart, clean stop."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import uuid
from pathlib import Path

import aiohttp
import nats
import psutil
import pytest

from pagi_cli.up import UpError, _check_port_free

from .ports import port_is_free
from .up import Up


async def post_chat(url: str, message: str, session_id: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as http:
        payload = {"message": message, "twin_id": "orchestrator", "session_id": session_id}
        async with http.post(f"{url}/v1/chat", json=payload, timeout=aiohttp.ClientTimeout(total=30)) as response:
            assert response.status == 200, await response.text()
            body: dict[str, object] = await response.json()
            return body


async def test_pagi_up_answers_restarts_a_crashed_child_and_stops_cleanly(pagi_up: Up) -> None:
    env_file = (pagi_up.data_dir / "pagi.env").read_text()
    # The operator's credentials (nats.conf has one user per service; `pagi up` generated them).
    nats_url = next(line.split("=", 1)[1] for line in env_file.splitlines() if line.startswith("NATS_URL="))
    assert nats_url.startswith("nats://operator:") and nats_url.endswith(f"@127.0.0.1:{pagi_up.nats_port}")
    assert f"PAGI_URL={pagi_up.url}" in env_file
    descendants = psutil.Process(pagi_up.proc.pid).children(recursive=True)
    assert len(descendants) >= 7  # nats-server, five workers, the edge

    async with aiohttp.ClientSession() as http, http.get(f"{pagi_up.url}/health") as health:
        assert health.status == 200
        assert (await health.json())["bus"]["connected"] is True
    assert "hello" in str((await post_chat(pagi_up.url, "hello", "up-http"))["response"])

    # Any NATS client joining with pagi.env gets answers to hand-typed JSON.
    nc = await nats.connect(nats_url)
    session = f"demo-{uuid.uuid4().hex[:6]}"
    answers = await nc.subscribe(f"chat.out.{session}")
    await nc.publish(f"chat.in.{session}", json.dumps({"message": "from the CLI"}).encode())
    answer = await answers.next_msg(timeout=20)
    await nc.close()
    assert answer.headers and answer.headers["Content-Type"] == "application/json"
    assert json.loads(answer.data)["body"]["is_final"] is True  # readable as it is, by anyone

    planner = next(p for p in descendants if "planner" in " ".join(p.cmdline()))
    mark = len(pagi_up.lines)
    planner.kill()
    await pagi_up.wait_line("planner exited with code -9; restarting", timeout=20, after=mark)
    await pagi_up.wait_line("planner         | ", timeout=30, after=mark + 1)
    assert "again" in str((await post_chat(pagi_up.url, "again", "up-http"))["response"])

    pagi_up.proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(pagi_up.proc.wait(), 60) == 0
    survivors = [p for p in psutil.Process().children(recursive=True) if p.is_running() and p.status() != "zombie"]
    survivors = [p for p in survivors if p.pid in {d.pid for d in descendants}]
    assert survivors == []
    assert port_is_free(pagi_up.web_port) and port_is_free(pagi_up.nats_port)
    assert any("nats-server stopped" in line for line in pagi_up.lines)


async def test_pagi_up_refuses_a_taken_port_clearly(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pagi_cli", "up", "--data-dir", str(tmp_path), "--nats-port", str(port),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert f"127.0.0.1:{port} is taken" in out.decode() and "--nats-port" in out.decode()


def test_a_port_left_in_time_wait_by_an_earlier_run_counts_as_free() -> None:
    """Ctrl-C and `pagi up` again, with a browser still connected: the old server closed its side
    first, so its port holds a TIME_WAIT connection, which the real servers' SO_REUSEADDR binds over."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp and nats-server bind
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server's side closes first: TIME_WAIT stays on the server's port
        client.recv(1)
        client.close()
    _check_port_free("127.0.0.1", port, "--port")
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        taken = listening.getsockname()[1]
        with pytest.raises(UpError, match=f"127.0.0.1:{taken} is taken"):
            _check_port_free("127.0.0.1", taken, "--port")
