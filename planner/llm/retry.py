"""Bounded retries with exponential backoff, honouring Retry-After."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from pagi.backoff import Backoff

from .config import ProviderConfig
from .errors import LLMError

log = logging.getLogger("planner.llm")

T = TypeVar("T")


class RetryableError(LLMError):
    """A failure worth another attempt (429, 5xx, connection or timeout), possibly with a server-given wait."""

    def __init__(self, provider: str, model: str, reason: str, *, status: int | None, retry_after_s: float | None):
        self.retry_after_s = retry_after_s
        super().__init__(provider, model, reason, status=status, retryable=True)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def backoff_s(config: ProviderConfig, attempt: int) -> float:
    """Exponential backoff after the `attempt`-th failure (1-based), jittered between half and all of it
    so that many planners hit by the same outage do not retry in step."""
    return Backoff(config.backoff_base_s, config.backoff_max_s, jitter=True).delay(attempt)


async def with_retries(config: ProviderConfig, attempt_once: Callable[[], Awaitable[T]]) -> T:
    attempt = 0
    while True:
        attempt += 1
        try:
            return await attempt_once()
        except RetryableError as error:
            if attempt >= config.max_attempts:
                raise error.with_attempts(attempt) from None
            if error.retry_after_s is not None and error.retry_after_s > config.retry_after_max_s:
                reason = f"{error.reason}; server asks to wait {error.retry_after_s:.0f} s, more than allowed"
                raise LLMError(config.provider, config.model, reason, status=error.status, attempts=attempt) from None
            wait = error.retry_after_s if error.retry_after_s is not None else backoff_s(config, attempt)
            log.warning("%s; attempt %d of %d, retrying in %.2f s", error, attempt, config.max_attempts, wait)
            await asyncio.sleep(wait)
        except LLMError as error:
            raise error.with_attempts(attempt) from None
