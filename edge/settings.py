"""The edge's settings: everything it reads from the environment, in one class.

Read once at start (`python -m edge`, or a test's `EdgeSettings(...)`) and kept in the app under
`appkeys.SETTINGS`; no other part of the edge reads the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The built single-page app (`npm run build` in web/); `make run` and `make test` build it. An
# installed wheel carries it as edge/ui (setup.py copies it there).
REPO_WEB_DIR = Path(__file__).resolve().parent.parent / "web" / "dist"
PACKAGED_WEB_DIR = Path(__file__).resolve().parent / "ui"


def default_web_dir() -> Path:
    return REPO_WEB_DIR if REPO_WEB_DIR.is_dir() or not PACKAGED_WEB_DIR.is_dir() else PACKAGED_WEB_DIR


class EdgeSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    # --- serving: where, and how much a request may carry
    host: str = Field(default="127.0.0.1", alias="PAGI_HOST")
    port: int = Field(default=8181, alias="PAGI_PORT")
    chat_timeout_s: float = Field(default=60.0, gt=0, alias="PAGI_CHAT_TIMEOUT_S")
    web_dir: Path = Field(default_factory=default_web_dir, alias="PAGI_WEB_DIR")
    max_request_bytes: int = Field(default=256 * 1024, alias="PAGI_MAX_REQUEST_BYTES")
    # Any request body at all (a twin with its avatar is the largest: 2 MB of image as base64).
    max_body_bytes: int = Field(default=4 * 1024 * 1024, alias="PAGI_MAX_BODY_BYTES")
    # An uploaded document (POST /v1/documents, a file in a chat message): streamed to disk, refused
    # with 413 as soon as it passes this; the only route whose body may exceed max_body_bytes.
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1, alias="PAGI_MAX_UPLOAD_BYTES")
    # How long an upload's answer waits for the job to read the file and ask its approval.
    upload_wait_s: float = Field(default=30.0, gt=0, le=300, alias="PAGI_UPLOAD_WAIT_S")
    # A connection that has not sent a complete request head this long after it opened (or after its
    # last answer, kept alive) is closed: slow-header clients (slowloris) cannot hold connections.
    header_timeout_s: float = Field(default=15.0, gt=0, le=300, alias="PAGI_HEADER_TIMEOUT_S")

    # --- the front door (edge/front/): API keys, origins, rate limits, browser sessions
    api_key: SecretStr | None = Field(default=None, alias="PAGI_API_KEY")
    api_user: str = Field(default="admin", min_length=1, max_length=128, alias="PAGI_API_USER")
    api_keys: SecretStr | None = Field(default=None, alias="PAGI_API_KEYS")
    # Origins (scheme://host[:port]) besides the edge's own that may open a WebSocket or send a write.
    allowed_origins: str = Field(default="", alias="PAGI_ALLOWED_ORIGINS")
    # Host headers the edge answers (`name` for any port, `name:port`), against DNS rebinding. Empty:
    # the loopback names on the edge's port when it listens on loopback, the address it listens on
    # otherwise, any Host when it listens on every address (0.0.0.0 or ::, which needs keys).
    allowed_hosts: str = Field(default="", alias="PAGI_ALLOWED_HOSTS")
    # Wrong API keys one address may send in a window before its key attempts get 429.
    auth_failures: int = Field(default=10, ge=1, alias="PAGI_AUTH_FAILURES")
    auth_failure_window_s: float = Field(default=60.0, gt=0, alias="PAGI_AUTH_FAILURE_WINDOW_S")
    rate_limit_rps: float = Field(default=20.0, gt=0, alias="PAGI_RATE_LIMIT_RPS")
    rate_limit_burst: int = Field(default=100, ge=1, alias="PAGI_RATE_LIMIT_BURST")
    # At most a day: a logged-out cookie is remembered as revoked for a day (bus_schemas.streams.REVOKED).
    session_hours: float = Field(default=12.0, gt=0, le=24, alias="PAGI_SESSION_HOURS")
    # Set the cookie's Secure flag (behind TLS); off for plain http on loopback.
    cookie_secure: bool = Field(default=False, alias="PAGI_COOKIE_SECURE")

    # --- observability: services that must have a live instance for /health to say ok, besides
    # every service seen since this edge started (`pagi up` lists the ones it runs)
    required_services: str = Field(default="", alias="PAGI_REQUIRED_SERVICES")

    # --- live streams (edge/live/): bounds of the WebSocket and SSE clients, and resume
    # Frames queued for one browser before it counts as too slow and is disconnected.
    ws_queue_size: int = Field(default=256, ge=1, alias="PAGI_WS_QUEUE_SIZE")
    # Frames queued for one SSE client before it counts as too slow and is disconnected.
    sse_queue_size: int = Field(default=256, ge=1, alias="PAGI_SSE_QUEUE_SIZE")
    sse_ping_s: float = Field(default=15.0, gt=0, alias="PAGI_SSE_PING_S")
    telemetry_since_s: float = Field(default=300.0, ge=0, le=3600, alias="PAGI_TELEMETRY_SINCE_S")
    host_silent_after_s: float = Field(default=10.0, gt=0, alias="PAGI_HOST_SILENT_S")
    # How long a replay waits for room in a client's queue before the client counts as too slow.
    replay_put_timeout_s: float = Field(default=10.0, gt=0, alias="PAGI_REPLAY_PUT_TIMEOUT_S")

    @property
    def required(self) -> list[str]:
        return [s.strip() for s in self.required_services.split(",") if s.strip()]

    @property
    def origins(self) -> set[str]:
        """The extra allowed origins, normalised (no trailing slash)."""
        return {o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip()}

    @property
    def hosts(self) -> set[str]:
        """The configured Host allow-list, lower case (empty: derive it from where the edge listens)."""
        return {h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()}
