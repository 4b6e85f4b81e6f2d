"""The options every `pagi` command that talks to a stack shares, defined once, and where the bus is.

`--nats-url`, `--data-dir` and `--connect-timeout`. Without `--nats-url` the bus is `NATS_URL`, else
the `NATS_URL` in `<data-dir>/pagi.env` that `pagi up` writes (the operator's credentials), else the
local default; the data dir is `--data-dir`, else `PAGI_DATA_DIR`, else `.pagi`.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Final

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pagi.bus import Bus

DEFAULT_NATS_URL: Final = "nats://127.0.0.1:4222"
PAGI_ENV_FILE: Final = "pagi.env"


class StackEnv(BaseSettings):
    """What the command line reads from the environment. An empty variable counts as unset."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    nats_url: str | None = Field(default=None, alias="NATS_URL")
    data_dir: Path = Field(default=Path(".pagi"), alias="PAGI_DATA_DIR")


def add_data_dir_option(parser: argparse.ArgumentParser, purpose: str = "where `pagi up` wrote pagi.env") -> None:
    parser.add_argument("--data-dir", type=Path, help=f"{purpose} (default: $PAGI_DATA_DIR, else .pagi)")


def add_bus_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--nats-url",
        help=f"the bus (default: $NATS_URL, else the NATS_URL in <data-dir>/{PAGI_ENV_FILE} that `pagi up` "
        f"writes, else {DEFAULT_NATS_URL})",
    )
    add_data_dir_option(parser)
    parser.add_argument("--connect-timeout", type=float, default=5.0, help="seconds to try reaching the bus")


def data_dir(args: argparse.Namespace) -> Path:
    given: Path | None = args.data_dir
    return given if given is not None else StackEnv().data_dir


def bus_url(args: argparse.Namespace) -> str:
    if args.nats_url:
        return str(args.nats_url)
    # The environment wins over the file (pydantic-settings reads a dotenv file below the environment).
    from_env_or_file = StackEnv(_env_file=data_dir(args) / PAGI_ENV_FILE).nats_url
    return from_env_or_file or DEFAULT_NATS_URL


def bus_unreachable(args: argparse.Namespace, exc: BaseException) -> str:
    """What every bus command says when `connect_bus` failed."""
    return f"cannot reach the bus at {bus_url(args)} ({exc}); is `pagi up` running?"


async def connect_bus(args: argparse.Namespace, client_name: str) -> Bus:
    """The bus at `bus_url(args)`, within `--connect-timeout` (plus a little for the handshake)."""
    timeout = float(args.connect_timeout)
    # Bounded here too: nats-py can keep retrying a refused first connection forever.
    return await asyncio.wait_for(Bus.connect(bus_url(args), client_name, connect_timeout_s=timeout), timeout + 2)
