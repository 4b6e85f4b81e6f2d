"""What a stdio server's program needs to be readable inside the sandbox, and the folders it may use.

The sandbox sees the host's /usr (and /bin, /lib… links) read-only; anything else the server runs
from is bound read-only at the same path: a virtualenv (the folder holding `pyvenv.cfg`), a
package's whole `node_modules` (its dependencies sit beside it), or else the program's own folder.
An argument that is a path counts when it lies in an installed package (`node …/dist/index.js`: the
package is bound) or is a file (`python /srv/one_file_server.py`: that file alone is bound); a
folder named in the arguments is the server's to serve, and the sandbox gives it only when it is
also one of the registration's `paths`. Nothing bound may overlap PAGI's data directory (its
passwords and keys).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bus_schemas.mcp import McpServer
from sandbox import Bind

# Already in every sandbox (read-only).
SYSTEM = (Path("/usr"), Path("/bin"), Path("/sbin"), Path("/lib"), Path("/lib64"))


class ProgramError(ValueError):
    """The server cannot be started as registered; the message says why."""


def resolve_command(command: str) -> Path:
    found = shutil.which(command) if "/" not in command else command
    if found is None:
        raise ProgramError(f"command {command!r} is not on the tool worker's PATH")
    path = Path(found)
    if not path.is_absolute():
        raise ProgramError(f"command {command!r} must be a name on PATH or an absolute path")
    if not path.exists():
        raise ProgramError(f"command {command!r} does not exist on this host")
    return path


def _in_system(path: Path) -> bool:
    return any(path == s or s in path.parents for s in SYSTEM)


def _package(path: Path) -> Path | None:
    """The installed package `path` lies in (a virtualenv, a `node_modules`), or None."""
    top_modules = None
    for parent in path.parents:
        if parent.name == "node_modules":
            top_modules = parent
        if (parent / "pyvenv.cfg").is_file():
            return parent
    return top_modules


def _prefix(path: Path) -> Path | None:
    package = _package(path)
    if package is not None:
        return package
    if _in_system(path):
        return None
    if path.is_dir():
        return path
    # An interpreter's install (`<prefix>/bin/python3`) needs its `<prefix>/lib` too.
    return path.parent.parent if path.parent.name == "bin" else path.parent


def install_prefixes(path: Path) -> list[Path]:
    """The folders to bind for `path` to work inside the sandbox: for the path as named (a venv's
    `bin/python` link) and for what it resolves to (the interpreter it links to)."""
    found = [_prefix(path), _prefix(path.resolve())]
    return [p for p in found if p is not None]


def interpreter(program: Path) -> Path | None:
    """The interpreter a script's `#!` line names (`/usr/bin/env NAME` looked up on PATH), if any."""
    try:
        with program.open("rb") as f:
            first = f.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if not words:
        return None
    if Path(words[0]).name == "env" and len(words) > 1:
        found = shutil.which(words[-1])
        return Path(found) if found else None
    return Path(words[0])


def program_binds(server: McpServer, command: Path, data_dir: Path | None) -> list[Bind]:
    """Read-only binds for the program (and the interpreter its `#!` names) and for arguments inside
    an installed package, and read-write ones for `paths`."""
    wanted: list[Path] = []
    script_runner = interpreter(command.resolve())
    for program in [command, *([script_runner] if script_runner is not None else [])]:
        if program.exists():
            wanted += install_prefixes(program)
    for argument in (Path(a) for a in server.args if a.startswith("/")):
        for named in (argument, argument.resolve()):
            if named.exists() and (package := _package(named)) is not None:
                wanted.append(package)
            elif named.is_file():
                wanted.append(named)
    binds: list[Bind] = []
    for prefix in sorted(set(wanted), key=lambda p: len(p.parts)):
        _check_apart_from_data(prefix, data_dir, f"the program's folder {prefix}")
        # A folder inside one already bound is there too.
        if not any(b.source == prefix or b.source in prefix.parents for b in binds):
            binds.append(Bind(prefix, str(prefix)))
    binds += folder_binds(server.paths, data_dir)
    return binds


def _check_apart_from_data(folder: Path, data_dir: Path | None, what: str) -> None:
    if data_dir is None:
        return
    data, real = data_dir.resolve(), folder.resolve()
    if real == data or data in real.parents or real in data.parents:
        raise ProgramError(f"{what} overlaps PAGI's data directory {data}")


def folder_binds(paths: list[str], data_dir: Path | None) -> list[Bind]:
    binds = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            raise ProgramError(f"path {raw!r} is not an existing folder on this host")
        real = path.resolve()
        if real == Path("/"):
            raise ProgramError(f"path {raw!r} is the root folder: name a folder the server may use")
        _check_apart_from_data(real, data_dir, f"path {raw!r}")
        binds.append(Bind(real, str(real), writable=True))
    return binds
