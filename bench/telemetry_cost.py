"""What one telemetry sample costs in CPU time, next to the cheapest possible psutil reading.

    python -m bench.telemetry_cost [--samples 60] [--interval-ms 1000]

Each tick takes one bare `psutil.cpu_percent()` reading and one full sample (plus its wire
encoding), each timed in process CPU time (not wall time), alternating which goes first so
neither always meets a cold cache. Both run paced at the agent's interval by default, because
a sampler woken once a second pays for cold caches that a tight loop would hide.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgpack
import psutil

from telemetry_agent.config import default_host_id
from telemetry_agent.sampler import Sampler


@dataclass
class Costs:
    name: str
    cpu_s: list[float]

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.cpu_s) * 1000

    def pct(self, q: float) -> float:
        ordered = sorted(self.cpu_s)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def core_share_at(self, hz: float) -> float:
        """Percent of one core spent at `hz` samples per second."""
        return statistics.fmean(self.cpu_s) * hz * 100


def _cpu_time(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def run(samples: int, interval_s: float) -> tuple[Costs, Costs, Costs, float, int]:
    psutil.cpu_percent()
    start = time.process_time()
    sampler = Sampler(default_host_id())
    startup_s = time.process_time() - start
    baseline = Costs("bare psutil.cpu_percent()", [])
    sample = Costs("telemetry sample", [])
    encode = Costs("telemetry sample + msgpack encode", [])
    size = 0
    next_tick = time.monotonic()
    try:
        for i in range(samples):
            next_tick += interval_s
            delay = next_tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if i % 2:
                baseline.cpu_s.append(_cpu_time(psutil.cpu_percent))
            t0 = time.process_time()
            s = sampler.sample()
            t1 = time.process_time()
            wire = msgpack.packb(s.model_dump(mode="json"))
            t2 = time.process_time()
            sample.cpu_s.append(t1 - t0)
            encode.cpu_s.append(t2 - t0)
            size = len(wire)
            if not i % 2:
                baseline.cpu_s.append(_cpu_time(psutil.cpu_percent))
    finally:
        sampler.close()
    return baseline, sample, encode, startup_s, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--interval-ms", type=int, default=1000, help="pacing; 0 runs back to back")
    args = parser.parse_args(argv)

    interval_s = args.interval_ms / 1000
    baseline, sample, encode, startup_s, size = run(args.samples, interval_s)

    print(
        f"machine: {platform.machine()}, {psutil.cpu_count()} cores, "
        f"Python {platform.python_version()}, psutil {psutil.__version__}"
    )
    print(f"samples: {args.samples} paced at {args.interval_ms} ms (process CPU time, not wall)")
    print(f"sampler start-up (once, incl. NVML probe): {startup_s * 1000:.2f} ms CPU")
    print(f"encoded sample size: {size} bytes msgpack")
    print(f"{'':36} {'mean ms':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'% core @1Hz':>12}")
    for c in (baseline, sample, encode):
        print(
            f"{c.name:36} {c.mean_ms:8.3f} {c.pct(0.5):8.3f} {c.pct(0.95):8.3f} "
            f"{max(c.cpu_s) * 1000:8.3f} {c.core_share_at(1.0):12.4f}"
        )
    ratio = encode.mean_ms / baseline.mean_ms if baseline.mean_ms else float("inf")
    print(f"ratio sample+encode / bare baseline: {ratio:.1f}x")
    goal = 0.5
    share = encode.core_share_at(1.0)
    print(f"goal <= {goal} % of one core at 1 Hz: {'met' if share <= goal else 'MISSED'} ({share:.4f} %)")
    return 0 if share <= goal else 1


if __name__ == "__main__":
    sys.exit(main())
