"""One real nats-server and one real edge process (keys mode: root is an admin, bob a member) shared by
a test module: the MCP registry needs no worker. The edge's log file is kept, so a test can read
every line it wrote."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from pagi.service import READY_LINE
from tests.security_bus.conftest import bare_secure_server, connect_as, secure_server

from ..ports import free_port
from ..stack import UNTHROTTLED, Service, Stack

__all__ = ["bare_secure_server", "connect_as", "secure_server"]

ROOT_KEY = "root-key-0123456789abcdef0"
BOB_KEY = "bob-key-0123456789abcdef00"


@dataclass
class Registry:
    stack: Stack
    secret_key: str

    @property
    def url(self) -> str:
        return self.stack.edge_url

    @property
    def edge_log(self) -> Path:
        return self.stack.services["edge"].log_path


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    root = Path(tempfile.mkdtemp(prefix="pagi-mcp-"))
    secret_key = Fernet.generate_key().decode()
    env = {
        **UNTHROTTLED,
        "PAGI_API_KEYS": f"{ROOT_KEY}:root:admin,{BOB_KEY}:bob",
        "PAGI_MCP_SECRET_KEY": secret_key,
        "PAGI_MCP_ALLOW_PRIVATE": "",
        "PAGI_MCP_ALLOWED_URLS": "",
        "LOG_LEVEL": "DEBUG",
    }
    stack = Stack(root / "stack", extra_env=env)
    try:
        # Not Stack.start: its readiness probe asks /v1/tools without a key, which keys mode refuses.
        stack.nats.start()
        stack.bootstrap()
        stack.edge_port = free_port()
        edge = Service("edge", [sys.executable, "-m", "edge"], stack.env(), stack.root / "edge.log")
        stack.services["edge"] = edge
        edge.start()
        edge.wait_line(READY_LINE, 60)
        yield Registry(stack, secret_key)
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)
