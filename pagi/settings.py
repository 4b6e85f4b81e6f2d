"""Settings every service reads from the environment (see .env.example for the full list)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus_schemas.codec import DEFAULT_FORMAT, FORMATS, Format

from .eventloop import EventLoop

S = TypeVar("S", bound=BaseSettings)


class BusSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    nats_url: str = Field(default="nats://127.0.0.1:4222", alias="NATS_URL")
    connect_timeout_s: float = Field(default=30.0, alias="PAGI_CONNECT_TIMEOUT_S")
    data_dir: Path = Field(default=Path(".pagi"), alias="PAGI_DATA_DIR")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    # What this service publishes in; every service reads both (docs/architecture.md, "Wire format").
    wire_format: Format = Field(default=DEFAULT_FORMAT, alias="PAGI_WIRE_FORMAT")
    event_loop: EventLoop = Field(default="uvloop", alias="PAGI_EVENT_LOOP")

    # TLS to NATS (nats-tls.conf): the CA that signed the server's certificate, and this service's
    # own certificate and key for mutual TLS. None of them set: plain TCP.
    nats_tls_ca: Path | None = Field(default=None, alias="NATS_TLS_CA")
    nats_tls_cert: Path | None = Field(default=None, alias="NATS_TLS_CERT")
    nats_tls_key: Path | None = Field(default=None, alias="NATS_TLS_KEY")

    @field_validator("wire_format", mode="before")
    @classmethod
    def _known_format(cls, value: Any) -> Any:
        # pydantic alone says "Input should be 'msgpack' or 'json'" under the alias, without saying
        # what the setting is for; a deployment typo should read as one sentence.
        text = value.strip().lower() if isinstance(value, str) else value
        if text not in FORMATS:
            allowed = " or ".join(FORMATS)
            raise ValueError(
                f"PAGI_WIRE_FORMAT={value!r} is not a wire format: set {allowed} (what this service "
                f"publishes on the bus; {DEFAULT_FORMAT} is the default, and every service reads both)"
            )
        return text

    def tls_context(self) -> ssl.SSLContext | None:
        if not (self.nats_tls_ca or self.nats_tls_cert):
            return None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.nats_tls_ca)
        if self.nats_tls_cert:
            context.load_cert_chain(self.nats_tls_cert, self.nats_tls_key)
        return context


def load_or_exit(settings_class: type[S], who: str) -> S:
    """The settings from the environment, or exit with one line saying which variable is wrong."""
    try:
        return settings_class()
    except ValidationError as exc:
        raise SystemExit(f"{who}: {settings_problem(exc)}") from None


def settings_problem(exc: ValidationError) -> str:
    """A settings failure as one line per wrong variable, for a service to print at start instead of
    a traceback: `PAGI_WIRE_FORMAT: PAGI_WIRE_FORMAT='yaml' is not a wire format: ...`."""
    lines = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or exc.title
        message = err["msg"].removeprefix("Value error, ")
        lines.append(message if message.startswith(where) else f"{where}: {message}")
    return "; ".join(lines)


class TracingSettings(BaseSettings):
    """The OpenTelemetry SDK's own variables, read the way the SDK reads them (`pagi.tracing`)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    otlp_endpoint: str | None = Field(default=None, alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    otlp_traces_endpoint: str | None = Field(default=None, alias="OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    # Kept as text: one of the words in `sdk_disabled` switches tracing off; anything else, even a
    # typo, leaves it on rather than failing the service's start.
    sdk_disabled_text: str = Field(default="", alias="OTEL_SDK_DISABLED")
    service_name: str | None = Field(default=None, alias="OTEL_SERVICE_NAME")

    @property
    def endpoint(self) -> str | None:
        """Where spans go: the general OTLP endpoint, else the traces-only one."""
        return self.otlp_endpoint or self.otlp_traces_endpoint or None

    @property
    def sdk_disabled(self) -> bool:
        return self.sdk_disabled_text.strip().lower() in ("1", "true", "yes", "on")


class MetricsSettings(BaseSettings):
    """Where this process serves /metrics (`pagi.metrics.serve_metrics`)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    # A port, `0` for any free one, or `off` (also `none`, `-1`, `false`).
    port: str = Field(default="0", alias="PAGI_METRICS_PORT")
    host: str = Field(default="127.0.0.1", alias="PAGI_METRICS_HOST")

    @property
    def off(self) -> bool:
        return self.port.strip().lower() in ("off", "none", "-1", "false")


class SecretSettings(BaseSettings):
    """The Fernet key that seals provider API keys at rest (`pagi.secrets`)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    secret_key: SecretStr | None = Field(default=None, alias="PAGI_SECRET_KEY")


class McpSecretSettings(BaseSettings):
    """The Fernet key that seals http MCP servers' header values (`pagi.secrets.MCP_HEADERS`)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    mcp_secret_key: SecretStr | None = Field(default=None, alias="PAGI_MCP_SECRET_KEY")
