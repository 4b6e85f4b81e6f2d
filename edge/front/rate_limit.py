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
