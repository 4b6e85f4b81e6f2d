"""The edge's settings, from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The built single-page app (`npm run build` in web/); `make run` and `make test` build it. An
# installed wheel carries it as edge/ui (setup.py copies it there).
REPO_WEB_DIR = Path(__file__).resolve().parent.parent / "web" / "dist"
PACKAGED_WEB_DIR = Path(__file__).resolve().parent / "ui"


def default_web_dir() -> Path:
    return REPO_WEB_DIR if REPO_WEB_DIR.is_dir() or not PACKAGED_WEB_DIR.is_dir() else PACKAGED_WEB_DIR


class EdgeSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    host: str = Field(default="127.0.0.1", alias="PAGI_HOST")
    port: int = Field(default=8181, alias="PAGI_PORT")
    chat_timeout_s: float = Field(default=60.0, gt=0, alias="PAGI_CHAT_TIMEOUT_S")
    web_dir: Path = Field(default_factory=default_web_dir, alias="PAGI_WEB_DIR")
    # Frames queued for one browser before it counts as too slow and is disconnected.
    ws_queue_size: int = Field(default=256, ge=1, alias="PAGI_WS_QUEUE_SIZE")
    max_request_bytes: int = Field(default=256 * 1024, alias="PAGI_MAX_REQUEST_BYTES")
    # Any request body at all (a twin with its avatar is the largest: 2 MB of image as base64).
    max_body_bytes: int = Field(default=4 * 1024 * 1024, alias="PAGI_MAX_BODY_BYTES")
