"""Per-service NATS passwords: generated once into the data dir (mode 0600), read back on every start.

The file is `<data-dir>/nats-passwords.env`, `PAGI_NATS_<USER>_PASSWORD=...` lines, the same names
compose reads from `.env`, so one file format serves both. Passwords are letters and digits and
start with a letter: nats-server parses a variable's value as a config value (a leading digit makes
it a number, and the server refuses to start), and they sit unquoted in `nats://user:password@host`.
"""

from __future__ import annotations

import os
import secrets
import string
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .nats_users import password_env, users

PASSWORDS_FILE = "nats-passwords.env"
_ALPHABET = string.ascii_letters + string.digits


def new_password(length: int = 32) -> str:
    return secrets.choice(string.ascii_letters) + "".join(secrets.choice(_ALPHABET) for _ in range(length - 1))


def load_or_create(data_dir: Path) -> dict[str, str]:
    """Every user's password, by variable name; missing ones are generated and saved."""
    path = data_dir / PASSWORDS_FILE
    known: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and value.strip():
                known[key.strip()] = value.strip()
    wanted = [password_env(u.name) for u in users()]
    missing = [name for name in wanted if name not in known]
    if missing:
        for name in missing:
            known[name] = new_password()
        # Created private before anything is written into it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("".join(f"{name}={known[name]}\n" for name in wanted))
    path.chmod(0o600)
    return {name: known[name] for name in wanted}


def url_with_user(url: str, user: str, password: str) -> str:
    """`nats://host:port` (or several, comma-separated) with the user's credentials in each."""
    parts = []
    for one in url.split(","):
        split = urlsplit(one.strip())
        host = split.netloc.rsplit("@", 1)[-1]
        parts.append(urlunsplit((split.scheme, f"{user}:{password}@{host}", split.path, "", "")))
    return ",".join(parts)


def without_credentials(url: str) -> str:
    """A NATS URL with any user and password dropped, fit for a log line."""
    if "@" not in url:
        return url
    scheme, _, rest = url.rpartition("//")
    return f"{scheme}//***@{rest.split('@', 1)[1]}"


def url_user(url: str) -> str | None:
    """The user named in a NATS URL, if any (the first server's)."""
    return urlsplit(url.split(",", 1)[0].strip()).username


def fresh_env_lines() -> str:
    """New secrets for a compose `.env`: every NATS password, an API key, the Prometheus key, the
    two sealing keys and a Qdrant key."""
    from .secrets import MCP_SECRET_KEY_ENV, SECRET_KEY_ENV, new_secret_key

    lines = [f"{password_env(u.name)}={new_password()}" for u in users()]
    lines.append(f"PAGI_API_KEYS={secrets.token_urlsafe(32)}:admin")
    lines.append(f"PAGI_PROMETHEUS_API_KEY={secrets.token_urlsafe(32)}")
    lines.append(f"{SECRET_KEY_ENV}={new_secret_key()}")
    lines.append(f"{MCP_SECRET_KEY_ENV}={new_secret_key()}")
    lines.append(f"QDRANT_API_KEY={secrets.token_urlsafe(32)}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(fresh_env_lines())
