"""One telemetry sample of the host per call, from psutil and NVML."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

import psutil

from bus_schemas.telemetry import (
    CpuStats,
    DiskStats,
    DiskUsage,
    IoRates,
    MemoryStats,
    NetRates,
    NetStats,
    SwapStats,
    TelemetrySample,
)
from telemetry_agent.gpu import GpuProbe
from telemetry_agent.rates import cpu_busy_percent, cpu_busy_percent_sum, io_rates, net_rates, sum_io, sum_net

log = logging.getLogger(__name__)

# Block devices that are not disks: loop-mounted images and RAM disks only add noise.
_PSEUDO_DISK_PREFIXES = ("loop", "ram")
# Device-mapper and software RAID sit on top of disks already counted: left out of the total.
_STACKED_DISK_PREFIXES = ("dm-", "md")
_LOOPBACK = frozenset({"lo", "lo0"})


def _whole_disks() -> set[str] | None:
    """Names of whole block devices (partitions are counted in their disk), or None where unknown."""
    try:
        names = os.listdir("/sys/block")
    except OSError:
        return None
    return {n for n in names if not n.startswith(_PSEUDO_DISK_PREFIXES)}


class Sampler:
    def __init__(
        self,
        host_id: str,
        gpu: GpuProbe | None = None,
        partitions_refresh_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host_id = host_id
        self._gpu = gpu if gpu is not None else GpuProbe()
        self._clock = clock
        self._partitions_refresh_s = partitions_refresh_s
        self._partitions: list[Any] = []
        self._disks: set[str] | None = None
        self._partitions_at = float("-inf")
        self._boot_time = psutil.boot_time()
        self._gpu.start()
        # Counters read now so the first sample already has rates, over the time until it is taken.
        self._prev_at = clock()
        self._prev_cpu = psutil.cpu_times(percpu=True)
        self._prev_net = psutil.net_io_counters(pernic=True, nowrap=False)
        self._prev_disk = self._disk_counters()

    def close(self) -> None:
        self._gpu.close()

    def sample(self) -> TelemetrySample:
        now = self._clock()
        elapsed = now - self._prev_at
        self._prev_at = now
        if now - self._partitions_at >= self._partitions_refresh_s:
            self._refresh_partitions(now)
        return TelemetrySample(
            host_id=self.host_id,
            interval_s=round(elapsed, 4),
            uptime_s=max(0.0, round(time.time() - self._boot_time, 1)),
            process_count=len(psutil.pids()),
            cpu=self._cpu(),
            memory=self._memory(),
            swap=self._swap(),
            disk=self._disk(elapsed),
            network=self._network(elapsed),
            gpu=self._gpu.read(),
        )

    def _refresh_partitions(self, now: float) -> None:
        self._partitions_at = now
        seen: set[str] = set()
        partitions = []
        for part in psutil.disk_partitions(all=False):
            # A device mounted twice (bind mounts, containers) is one filesystem: report it once.
            if part.device in seen:
                continue
            seen.add(part.device)
            partitions.append(part)
        self._partitions = partitions
        self._disks = _whole_disks()

    def _cpu(self) -> CpuStats:
        times = psutil.cpu_times(percpu=True)
        prev, self._prev_cpu = self._prev_cpu, times
        if len(prev) != len(times):
            # CPUs hot-plugged since the last reading: no per-core pairing is possible this time.
            per_core: list[float | None] = [None] * len(times)
            total = None
        else:
            per_core = [cpu_busy_percent(b, a) for b, a in zip(prev, times, strict=True)]
            total = cpu_busy_percent_sum(prev, times)
        load = os.getloadavg() if hasattr(os, "getloadavg") else psutil.getloadavg()
        return CpuStats(
            count=len(times),
            percent=total,
            per_core=per_core,
            load_avg=(round(load[0], 2), round(load[1], 2), round(load[2], 2)),
        )

    def _memory(self) -> MemoryStats:
        vm = psutil.virtual_memory()
        return MemoryStats(total_bytes=vm.total, available_bytes=vm.available, used_bytes=vm.used, percent=vm.percent)

    def _swap(self) -> SwapStats:
        sw = psutil.swap_memory()
        return SwapStats(total_bytes=sw.total, used_bytes=sw.used, percent=sw.percent)

    def _disk_counters(self) -> dict[str, Any]:
        counters = psutil.disk_io_counters(perdisk=True, nowrap=False) or {}
        if self._disks is None:
            self._disks = _whole_disks()
        disks = self._disks
        if disks is None:
            return {n: c for n, c in counters.items() if not n.startswith(_PSEUDO_DISK_PREFIXES)}
        return {n: c for n, c in counters.items() if n in disks}

    def _disk(self, elapsed: float) -> DiskStats:
        usage: list[DiskUsage] = []
        for part in self._partitions:
            try:
                du = psutil.disk_usage(part.mountpoint)
            except OSError:
                # Unmounted since the partition list was read, or not ours to stat.
                continue
            usage.append(
                DiskUsage(
                    mountpoint=part.mountpoint,
                    device=part.device,
                    fstype=part.fstype,
                    total_bytes=du.total,
                    used_bytes=du.used,
                    free_bytes=du.free,
                    percent=du.percent,
                )
            )
        counters = self._disk_counters()
        prev, self._prev_disk = self._prev_disk, counters
        per_disk: dict[str, IoRates] = {name: io_rates(prev.get(name), c, elapsed) for name, c in counters.items()}
        total = sum_io({n: r for n, r in per_disk.items() if not n.startswith(_STACKED_DISK_PREFIXES)})
        return DiskStats(usage=usage, io=total, io_per_disk=per_disk)

    def _network(self, elapsed: float) -> NetStats:
        counters = psutil.net_io_counters(pernic=True, nowrap=False)
        prev, self._prev_net = self._prev_net, counters
        interfaces: dict[str, NetRates] = {name: net_rates(prev.get(name), c, elapsed) for name, c in counters.items()}
        total = sum_net({n: r for n, r in interfaces.items() if n not in _LOOPBACK})
        return NetStats(total=total, interfaces=interfaces)
