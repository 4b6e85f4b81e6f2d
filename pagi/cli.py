"""The `pagi` command."""

from __future__ import annotations

import argparse
import sys

from . import replay, tail, up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pagi", description="PAGI: AI digital twins on NATS JetStream")
    commands = parser.add_subparsers(dest="command", required=True)
    up_cmd = commands.add_parser("up", help="start the whole stack on this machine")
    up.add_arguments(up_cmd)
    up_cmd.set_defaults(run=up.run)
    replay_cmd = commands.add_parser("replay", help="print a session's timeline from the events stream, or --rerun it")
    replay.add_arguments(replay_cmd)
    replay_cmd.set_defaults(run=replay.run)
    tail_cmd = commands.add_parser("tail", help="show live events, decoded")
    tail.add_arguments(tail_cmd)
    tail_cmd.set_defaults(run=tail.run)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
