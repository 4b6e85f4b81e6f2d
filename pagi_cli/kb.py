"""`pagi kb ingest DIR [--namespace NS] [--kb KB]`: arguments, progress bar and summary.

Wire it into the `pagi` command with ``add_arguments(parser)`` and ``parser.set_defaults(run=run)``.
It talks to the running stack over the bus (``--nats-url`` and friends: ``pagi_cli.options``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TextIO

from memory_worker.errors import InvalidRequest
from memory_worker.ingest import Progress
from memory_worker.records import DEFAULT_NAMESPACE, KB_NAMES

from .ingest import IngestFailed, ingest_over_bus
from .options import add_bus_options, bus_unreachable, connect_bus


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="a folder (walked recursively) or one file")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="namespace to store into (default: default)")
    parser.add_argument(
        "--kb", choices=KB_NAMES, type=str.lower, help="knowledge base for every file (default: from folder names)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each batch's answer")
    add_bus_options(parser)


def progress_bar(out: TextIO, width: int = 30) -> Progress:
    def show(done: int, total: int) -> None:
        filled = width * done // max(total, 1)
        end = "\n" if done >= total else ""
        out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} chunks{end}")
        out.flush()

    return show


async def ingest_command(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        bus = await connect_bus(args, "pagi-kb-ingest")
    except Exception as exc:
        err.write(f"pagi kb ingest: {bus_unreachable(args, exc)}\n")
        return 1
    try:
        summary = await ingest_over_bus(
            bus, args.path, args.namespace, args.kb, progress=progress_bar(err), timeout_s=args.timeout
        )
    except (IngestFailed, InvalidRequest, FileNotFoundError) as exc:
        err.write(f"\npagi kb ingest: {exc}\n")
        return 1
    finally:
        await bus.close()
    first, *skipped = summary.lines()
    for line in skipped:
        err.write(f"warning: {line}\n")
    out.write(f"{first} (namespace {args.namespace})\n")
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(ingest_command(args))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pagi kb ingest", description="ingest files into a knowledge base")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
