"""`pagi mcp add|ls|rm`: the MCP server registry of a running stack, over its HTTP API.

    pagi mcp add time -- uvx mcp-server-time           a stdio server: one program and its arguments
    pagi mcp add docs --url https://example.com/mcp --header "Authorization=Bearer ..."
    pagi mcp ls
    pagi mcp rm time

It talks to the edge (`--edge`, else `PAGI_URL`, else the `PAGI_URL` in `<data-dir>/pagi.env` that
`pagi up` writes), with `PAGI_API_KEY` when the edge has keys (an admin's,
to add or remove). The edge validates, seals header values and checks who may: the CLI holds no
rule of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path
from typing import Any, Final, TextIO

import aiohttp
from dotenv import dotenv_values

from .options import PAGI_ENV_FILE, add_data_dir_option, data_dir

DEFAULT_EDGE_URL: Final = "http://127.0.0.1:8181"
URL_ENV: Final = "PAGI_URL"
KEY_ENV: Final = "PAGI_API_KEY"
SERVERS_PATH: Final = "/v1/mcp/servers"


class CommandError(Exception):
    """What the person who ran the command is told, on one line."""


def edge_url(args: argparse.Namespace) -> str:
    """`--edge`, else `PAGI_URL`, else the one `pagi up` wrote into `<data-dir>/pagi.env`. (Not a
    settings class: those are the services' own, each given to the service that reads it.)"""
    if args.edge:
        return str(args.edge).rstrip("/")
    env_file: Path = data_dir(args) / PAGI_ENV_FILE
    written = dotenv_values(env_file).get(URL_ENV) if env_file.is_file() else None
    return (os.environ.get(URL_ENV) or written or DEFAULT_EDGE_URL).rstrip("/")


def _auth_headers() -> dict[str, str]:
    key = os.environ.get(KEY_ENV)
    if key:
        return {"Authorization": f"Bearer {key}"}
    # Development mode (no keys): the one person at the machine, recorded under their login name.
    return {"X-User-Id": getpass.getuser()}


def parse_headers(pairs: list[str], from_env: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CommandError(f"--header {name or pair!r}: give it as NAME=VALUE")
        headers[name] = value
    for pair in from_env:
        name, sep, variable = pair.partition("=")
        if not sep or not name or not variable:
            raise CommandError(f"--header-env {pair!r}: give it as NAME=ENV_VARIABLE")
        if variable not in os.environ:
            raise CommandError(f"--header-env {name}: the environment variable {variable} is not set")
        headers[name] = os.environ[variable]
    return headers


def split_command(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """`pagi mcp add NAME [OPTIONS] -- COMMAND ARGS...`: the arguments for argparse, and the stdio
    server's command line (None when there is no `--`)."""
    if argv[:2] != ["mcp", "add"] or "--" not in argv:
        return argv, None
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1 :]


def registration(args: argparse.Namespace) -> dict[str, Any]:
    """The POST body from `pagi mcp add`'s arguments (the edge validates it)."""
    argv: list[str] = list(args.argv)
    if args.url is not None:
        if argv:
            raise CommandError("give either --url (an http server) or `-- COMMAND ARGS...` (a stdio server), not both")
        if args.network:
            raise CommandError("--network is for stdio servers (an http server is reached over the network)")
        if args.path:
            raise CommandError("--path is for stdio servers (a host folder the sandboxed server may use)")
        body: dict[str, Any] = {"transport": "http", "url": args.url}
        headers = parse_headers(args.header, args.header_env)
        if headers:
            body["headers"] = headers
    else:
        if not argv:
            raise CommandError("give the server's command after `--` (pagi mcp add NAME -- COMMAND ARGS...) or --url")
        if args.header or args.header_env:
            raise CommandError("--header is for http servers (--url)")
        body = {"transport": "stdio", "command": argv[0], "args": argv[1:], "network": args.network}
        if args.path:
            # Absolute here, where the operator's working directory means something.
            body["paths"] = [os.path.abspath(os.path.expanduser(p)) for p in args.path]
    body["name"] = args.name
    if args.description:
        body["description"] = args.description
    return body


async def _call(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    url = edge_url(args) + path
    timeout = aiohttp.ClientTimeout(total=float(args.timeout))
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout, headers=_auth_headers()) as http,
            http.request(method, url, json=body) as reply,
        ):
            answer: Any = await reply.json(content_type=None) if reply.status != 204 else None
            if reply.status >= 400:
                raise CommandError(_refusal(reply.status, answer))
            return answer
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        raise CommandError(
            f"cannot reach the edge at {edge_url(args)} ({exc or type(exc).__name__}); is `pagi up` running? "
            "(set PAGI_URL or --edge for another address)"
        ) from None
    except aiohttp.ContentTypeError as exc:
        raise CommandError(f"the edge at {edge_url(args)} answered something that is not JSON ({exc})") from None


def _refusal(status: int, answer: Any) -> str:
    if not isinstance(answer, dict):
        return f"refused ({status})"
    problems = [f"{d.get('field')}: {d.get('problem')}" for d in answer.get("details") or [] if isinstance(d, dict)]
    text = str(answer.get("error", f"refused ({status})"))
    return f"{text} ({'; '.join(problems)})" if problems else text


def _show(servers: list[dict[str, Any]], out: TextIO) -> None:
    if not servers:
        out.write("no MCP servers registered (add one: pagi mcp add NAME -- COMMAND ARGS...)\n")
        return
    for s in servers:
        if s["transport"] == "stdio":
            target = " ".join([s["command"], *s["args"]])
            where = "network" if s["network"] else "no network"
            if s.get("paths"):
                where += ", paths: " + ", ".join(s["paths"])
        else:
            target = s["url"]
            where = "headers: " + (", ".join(s["header_names"]) or "none")
        out.write(f"{s['name']}\t{s['transport']}\t{where}\t{target}\n")
        if s.get("description"):
            out.write(f"\t{s['description']}\n")


async def mcp_command(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        if args.mcp_command == "add":
            added = await _call(args, "POST", SERVERS_PATH, registration(args))
            out.write(f"registered MCP server {added['name']} ({added['transport']})\n")
        elif args.mcp_command == "ls":
            _show((await _call(args, "GET", SERVERS_PATH))["servers"], out)
        else:
            await _call(args, "DELETE", f"{SERVERS_PATH}/{args.name}")
            out.write(f"removed MCP server {args.name}\n")
    except CommandError as exc:
        err.write(f"pagi mcp {args.mcp_command}: {exc}\n")
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(mcp_command(args))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--edge", help=f"the edge's URL (default: $PAGI_URL, else pagi.env's, else {DEFAULT_EDGE_URL})")
    add_data_dir_option(parser)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the edge")
    parser.set_defaults(run=run)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mcp = commands.add_parser("mcp", help="MCP servers: register, list, remove (the edge's API)")
    sub = mcp.add_subparsers(dest="mcp_command", required=True)
    add = sub.add_parser(
        "add",
        help="register an MCP server: NAME -- COMMAND ARGS... (stdio) or NAME --url URL (Streamable HTTP)",
    )
    add.add_argument("name", help="lowercase letter, then up to 31 of a-z 0-9 _ -")
    # `-- COMMAND ARGS...` is taken off before argparse sees it (`split_command`), so a server's own
    # options (`--repository`, even a `--`) are never read as ours.
    add.set_defaults(argv=[])
    add.add_argument("--url", help="a Streamable HTTP server's endpoint")
    add.add_argument("--header", action="append", default=[], metavar="NAME=VALUE", help="an http header (sealed)")
    add.add_argument(
        "--header-env",
        action="append",
        default=[],
        metavar="NAME=ENV_VARIABLE",
        help="an http header whose value is read from an environment variable (kept off the command line)",
    )
    add.add_argument("--network", action="store_true", help="a stdio server that needs the network")
    add.add_argument(
        "--path", action="append", default=[], metavar="DIR",
        help="a host folder the stdio server may use (bound read-write in its sandbox); repeatable",
    )  # fmt: skip
    add.add_argument("--description", default="", help="what the server is for")
    _common(add)
    ls = sub.add_parser("ls", help="list the registered MCP servers")
    _common(ls)
    rm = sub.add_parser("rm", help="remove an MCP server")
    rm.add_argument("name")
    _common(rm)
