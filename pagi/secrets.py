"""Sealing provider API keys at rest: KV values travel on the bus, so a key is never stored in clear.

The key comes from PAGI_SECRET_KEY (a Fernet key; `pagi up` generates one into the data dir).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from .settings import SecretSettings

SECRET_KEY_ENV = "PAGI_SECRET_KEY"


class SecretsUnavailable(RuntimeError):
    pass


def _fernet() -> Fernet:
    sealed_with = SecretSettings().secret_key
    key = sealed_with.get_secret_value() if sealed_with is not None else ""
    if not key:
        raise SecretsUnavailable(f"{SECRET_KEY_ENV} is not set, so API keys cannot be stored or read")
    try:
        return Fernet(key.encode())
    except ValueError as exc:
        raise SecretsUnavailable(f"{SECRET_KEY_ENV} is not a valid Fernet key") from exc


def new_secret_key() -> str:
    return Fernet.generate_key().decode()


def seal(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def unseal(sealed: str) -> str:
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken as exc:
        raise SecretsUnavailable(f"a stored API key cannot be opened with this {SECRET_KEY_ENV}") from exc
