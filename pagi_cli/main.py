"""The `pagi` command."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import version

from . import budgets, docs, init, kb, mcp, personas, replay, schedules, tail, up, usage
from . import evals as evals_cli
from . import memory as memory_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pagi", description="PAGI: AI digital twins on NATS JetStream")
    parser.add_argument("--version", action="version", version=f"pagi {version('pagi')}")
    commands = parser.add_subparsers(dest="command", required=True)
    up_cmd = commands.add_parser("up", help="start the whole stack on this machine")
    up.add_arguments(up_cmd)
    up_cmd.set_defaults(run=up.run)
    init_cmd = commands.add_parser(
        "init", help="create or update the streams and buckets once (the operator's NATS_URL), then exit"
    )
    init.add_arguments(init_cmd)
    init_cmd.set_defaults(run=init.run)
    replay_cmd = commands.add_parser("replay", help="print a session's timeline from the events stream, or --rerun it")
    replay.add_arguments(replay_cmd)
    replay_cmd.set_defaults(run=replay.run)
    tail_cmd = commands.add_parser("tail", help="show live events, decoded")
    tail.add_arguments(tail_cmd)
    tail_cmd.set_defaults(run=tail.run)
    kb_cmd = commands.add_parser("kb", help="knowledge bases").add_subparsers(dest="kb_command", required=True)
    ingest_cmd = kb_cmd.add_parser("ingest", help="ingest files into memory over the bus")
    kb.add_arguments(ingest_cmd)
    ingest_cmd.set_defaults(run=kb.run)
    twins_cmd = commands.add_parser("twins", help="twins").add_subparsers(dest="twins_command", required=True)
    import_cmd = twins_cmd.add_parser("import", help="create twins from persona folders, with their knowledge")
    personas.add_arguments(import_cmd)
    import_cmd.set_defaults(run=personas.run)
    memory_cli.add_commands(commands)
    mcp.add_commands(commands)
    docs.add_commands(commands)
    usage.add_commands(commands)
    evals_cli.add_commands(commands)
    budgets.add_commands(commands)
    schedules.add_commands(commands)
    given = sys.argv[1:] if argv is None else argv
    given, server_command = mcp.split_command(given)
    args = parser.parse_args(given)
    if server_command is not None:
        args.argv = server_command
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
