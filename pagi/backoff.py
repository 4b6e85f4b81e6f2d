"""One backoff for every retry in PAGI: exponential, capped, optionally jittered.

`Backoff(base_s, cap_s).delay(n)` is the wait before the n-th retry (1-based):
`min(cap_s, base_s * 2 ** (n - 1))`; with `jitter=True` a random point between half of that and
all of it, so many processes hit by the same outage do not retry in step.

Why our own and not `tenacity` or `backoff` from PyPI: most of our sites are not a retry loop
around a call, which is what those libraries drive. The consume loop hands the delay to the server
(a nak with delay), the supervisor counts crashes in a window before it restarts a child, a publish
retries only within its deadline, and the LLM client prefers a server's Retry-After to our delay.
Each of them needs only "how long for the n-th retry", a one-line formula; and the libraries'
jitter (tenacity's full or additive jitter, backoff's full jitter) is not the half jitter the LLM
client has always used.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# 2**64 times any base is past every cap we use; it keeps a very late attempt from overflowing.
_MAX_DOUBLINGS = 64


@dataclass(frozen=True)
class Backoff:
    base_s: float
    cap_s: float
    jitter: bool = False

    def delay(self, attempt: int) -> float:
        """The wait in seconds before retry number `attempt` (1 for the first retry)."""
        doublings = min(max(attempt - 1, 0), _MAX_DOUBLINGS)
        ceiling = float(min(self.cap_s, self.base_s * 2**doublings))
        return random.uniform(ceiling / 2, ceiling) if self.jitter else ceiling
