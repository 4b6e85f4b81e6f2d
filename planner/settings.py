"""The planner's settings, from the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PlannerSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    sweep_interval_s: float = Field(default=1.0, gt=0, alias="PAGI_SWEEP_INTERVAL_S")
    # A worker that has not answered by then gets a warning in the job log (the request still waits).
    worker_warn_s: float = Field(default=30.0, gt=0, alias="PAGI_WORKER_WARN_S")
    # ... and by then the step fails and the planner decides what to do without the answer.
    worker_timeout_s: float = Field(default=600.0, gt=0, alias="PAGI_WORKER_TIMEOUT_S")
