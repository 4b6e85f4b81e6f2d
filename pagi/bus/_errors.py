"""What can go wrong on the bus, sorted into "retry later" and "not there"."""

from __future__ import annotations

import asyncio

import nats.errors
import nats.js.errors

# Errors that mean "the bus is not reachable right now": worth a retry, not a dead letter.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.js.errors.ServiceUnavailableError,
    # No stream answered: in a cluster, while a stream elects a new leader.
    nats.js.errors.NoStreamResponseError,
    asyncio.TimeoutError,
)

# A lookup (a consumer, a stream) that found nothing, or could not ask: either way, nothing to show.
LOOKUP_ERRORS: tuple[type[BaseException], ...] = (nats.js.errors.NotFoundError, *TRANSIENT_ERRORS)


class BusUnavailable(RuntimeError):
    """Publishing did not succeed within its deadline; the caller may retry (ids are idempotent)."""


class PublishRefused(ValueError):
    """The server refused a message for what it is (JetStream's 400), e.g. a schedule it cannot fire."""
