"""Process helpers shared by the supervisor and the nats-server launcher."""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def parent_death_signal() -> None:
    """Run in the child before exec: the kernel sends it SIGTERM if its parent dies, so even a
    `kill -9` of `pagi up` leaves no orphan behind."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
