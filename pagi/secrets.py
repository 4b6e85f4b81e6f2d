"""Sealing secrets at rest: KV values travel on the bus, so a key is never stored in clear.

Two Fernet keys, each held only by the processes that need it (pagi_cli/child_env.py):
- PAGI_SECRET_KEY seals provider API keys (the edge seals, the planner opens);
- PAGI_MCP_SECRET_KEY seals the header values of http MCP servers (the edge seals, the tool worker
  opens to call the server). A separate key, so the tool worker, which runs untrusted code, can open
  the credentials of the MCP servers it calls and nothing else.
`pagi up` generates both into the data dir.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from .settings import McpSecretSettings, SecretSettings

SECRET_KEY_ENV = "PAGI_SECRET_KEY"
MCP_SECRET_KEY_ENV = "PAGI_MCP_SECRET_KEY"


class SecretsUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Sealer:
    """One sealing key, read from its setting each time (a test or `pagi up` sets it late)."""

    env: str
    what: str  # what it seals, for the errors
    read_key: Callable[[], SecretStr | None]

    def _fernet(self) -> Fernet:
        sealed_with = self.read_key()
        key = sealed_with.get_secret_value() if sealed_with is not None else ""
        if not key:
            raise SecretsUnavailable(f"{self.env} is not set, so {self.what} cannot be stored or read")
        try:
            return Fernet(key.encode())
        except ValueError as exc:
            raise SecretsUnavailable(f"{self.env} is not a valid Fernet key") from exc

    def seal(self, plaintext: str) -> str:
        return self._fernet().encrypt(plaintext.encode()).decode()

    def unseal(self, sealed: str) -> str:
        try:
            return self._fernet().decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise SecretsUnavailable(f"a stored {self.what} value cannot be opened with this {self.env}") from exc


PROVIDER_KEYS = Sealer(SECRET_KEY_ENV, "API keys", lambda: SecretSettings().secret_key)
MCP_HEADERS = Sealer(MCP_SECRET_KEY_ENV, "MCP server headers", lambda: McpSecretSettings().mcp_secret_key)


def new_secret_key() -> str:
    return Fernet.generate_key().decode()


def seal(plaintext: str) -> str:
    return PROVIDER_KEYS.seal(plaintext)


def unseal(sealed: str) -> str:
    return PROVIDER_KEYS.unseal(sealed)
