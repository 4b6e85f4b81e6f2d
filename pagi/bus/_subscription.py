"""A core subscription as callers hold it: something to stop, quietly, whatever state the bus is in."""

from __future__ import annotations

from dataclasses import dataclass

import nats.errors
from nats.aio.subscription import Subscription


async def unsubscribe_quietly(sub: Subscription | None) -> None:
    """Unsubscribe; a closed connection or an already-gone subscription is not an error here."""
    if sub is None:
        return
    try:
        await sub.unsubscribe()
    except (nats.errors.ConnectionClosedError, nats.errors.BadSubscriptionError):
        pass


@dataclass(frozen=True)
class Observer:
    _sub: Subscription

    async def stop(self) -> None:
        await unsubscribe_quietly(self._sub)
