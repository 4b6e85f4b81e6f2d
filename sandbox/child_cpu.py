"""The CPU time one sandboxed run used, from what this process's reaped children used.

`RUSAGE_CHILDREN` grows when a child is reaped, by the CPU of that child and of every descendant it
reaped (bwrap and the sandbox's pid 1 reap theirs). It is process-wide, so a run's delta is exact
only when no other run was reaped meanwhile: a run that overlapped another reports None instead of
a figure that would hold someone else's share. A worker running one tool at a time always measures;
a busy one measures the runs that happened to be alone.
"""

from __future__ import annotations

import resource
from typing import ClassVar


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class ChildCpu:
    _running: ClassVar[set[ChildCpu]] = set()

    def __init__(self) -> None:
        self.overlapped = bool(self._running)
        for other in self._running:
            other.overlapped = True
        self._running.add(self)
        self._started = _children_cpu_s()

    def stop(self) -> float | None:
        """The run's CPU in milliseconds (None: another run overlapped it); call once its process was reaped."""
        self._running.discard(self)
        return None if self.overlapped else round((_children_cpu_s() - self._started) * 1000.0, 3)
