"""The `pagi` command."""

from __future__ import annotations

import argparse
import sys

from . import up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pagi", description="PAGI: AI digital twins on NATS JetStream")
    commands = parser.add_subparsers(dest="command", required=True)
    up_cmd = commands.add_parser("up", help="start the whole stack on this machine")
    up.add_arguments(up_cmd)
    up_cmd.set_defaults(run=up.run)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
