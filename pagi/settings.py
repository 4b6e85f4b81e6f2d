"""Settings every service reads from the environment (see .env.example for the full list)."""

from __future__ import annotations

import ssl
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BusSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    nats_url: str = Field(default="nats://127.0.0.1:4222", alias="NATS_URL")
    connect_timeout_s: float = Field(default=30.0, alias="PAGI_CONNECT_TIMEOUT_S")
    data_dir: Path = Field(default=Path(".pagi"), alias="PAGI_DATA_DIR")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")

    # TLS to NATS (nats-tls.conf): the CA that signed the server's certificate, and this service's
    # own certificate and key for mutual TLS. None of them set: plain TCP.
    nats_tls_ca: Path | None = Field(default=None, alias="NATS_TLS_CA")
    nats_tls_cert: Path | None = Field(default=None, alias="NATS_TLS_CERT")
    nats_tls_key: Path | None = Field(default=None, alias="NATS_TLS_KEY")

    def tls_context(self) -> ssl.SSLContext | None:
        if not (self.nats_tls_ca or self.nats_tls_cert):
            return None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.nats_tls_ca)
        if self.nats_tls_cert:
            context.load_cert_chain(self.nats_tls_cert, self.nats_tls_key)
        return context
