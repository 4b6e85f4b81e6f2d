"""Per-caller rate limits: a token bucket per caller, bounded in how many callers it remembers."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per caller (user, else address), bounded in how many callers it remembers."""

    def __init__(self, rate: float, burst: int, max_callers: int = 100_000) -> None:
        self.rate, self.burst, self.max_callers = rate, burst, max_callers
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, caller: str, now: float | None = None) -> float:
        """0 if the request may go ahead, else the seconds until it may."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.pop(caller, None) or _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[caller] = bucket
        while len(self._buckets) > self.max_callers:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


class FailureLimiter:
    """Wrong API keys per address: after `limit` in `window_s`, the address's key attempts wait until
    the oldest failure leaves the window. Only failures are counted, so any number of good requests
    from one proxy address never trips it."""

    def __init__(self, limit: int, window_s: float, max_addresses: int = 100_000) -> None:
        self.limit, self.window_s, self.max_addresses = limit, window_s, max_addresses
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def wait(self, address: str, now: float | None = None) -> float:
        """0 if `address` may try a key now, else the seconds until it may."""
        now = time.monotonic() if now is None else now
        recent = self._recent(address, now)
        return recent[0] + self.window_s - now if len(recent) >= self.limit else 0.0

    def fail(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        recent = self._recent(address, now)
        recent.append(now)
        del recent[: -self.limit]  # the oldest of the last `limit` is all `wait` needs
        self._failures[address] = recent
        self._failures.move_to_end(address)
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)

    def _recent(self, address: str, now: float) -> list[float]:
        return [t for t in self._failures.get(address, []) if t > now - self.window_s]
