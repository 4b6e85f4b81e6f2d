"""One `pagi up`, started as a user starts it (data in `./.pagi`), shared by the client tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from ..up import Up
from ..up_launch import launch_up
from .recipes import CLIENTS, Shell


@pytest.fixture(scope="package")
def js_client_installed() -> None:
    if not (CLIENTS / "node_modules" / "@nats-io" / "transport-node").is_dir():
        pytest.fail("the NATS JavaScript client is not installed: run `make setup` (npm ci in tests/clients)")


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def user_up(tmp_path_factory: pytest.TempPathFactory, js_client_installed: None) -> AsyncIterator[Up]:
    home: Path = tmp_path_factory.mktemp("operator")
    async with launch_up(home / ".pagi") as up:
        yield up


@pytest.fixture
def shell(user_up: Up) -> Shell:
    """bash where the user ran `pagi up`, so `source .pagi/pagi.env` finds its file."""
    return Shell(user_up.data_dir.parent)
