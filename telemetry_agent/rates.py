"""Rates from monotonic counters: the difference of two readings over the time between them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

from bus_schemas.telemetry import IoRates, NetRates


def counter_delta(previous: int, current: int) -> int:
    """How much a counter grew between two readings.

    A counter that went backwards was reset (interface re-created, driver reloaded, a 32-bit
    counter wrapped): it restarted from zero, so it grew by at least `current`. Whether it was a
    wrap or a reset cannot be told apart, and `current` is never an overestimate.
    """
    return current - previous if current >= previous else current


def counter_rate(previous: int, current: int, elapsed_s: float) -> float | None:
    """Growth per second, or None when no time passed (a rate would be meaningless)."""
    if elapsed_s <= 0:
        return None
    # Two decimals: finer digits are noise in a one-second window and only lengthen JSON readers' view.
    return round(counter_delta(previous, current) / elapsed_s, 2)


class CpuTimes(Protocol):
    """The fields of psutil's scputimes this module needs (Linux adds iowait, guest, guest_nice)."""

    @property
    def idle(self) -> float: ...

    def __iter__(self) -> Iterator[float]: ...


def _total_and_busy(times: CpuTimes) -> tuple[float, float]:
    total = float(sum(times))
    # guest time is already counted in user and nice on Linux.
    total -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    # iowait is time the CPU was idle waiting for I/O, not work.
    busy = total - times.idle - getattr(times, "iowait", 0.0)
    return total, busy


def cpu_busy_percent(previous: CpuTimes, current: CpuTimes) -> float | None:
    """Share of time a CPU was busy between two readings of its cumulative times, 0-100."""
    return cpu_busy_percent_sum([previous], [current])


def cpu_busy_percent_sum(previous: Sequence[CpuTimes], current: Sequence[CpuTimes]) -> float | None:
    """Busy share over several CPUs together: the host total from the per-core readings."""
    total_delta = 0.0
    busy_delta = 0.0
    for before, after in zip(previous, current, strict=True):
        total_before, busy_before = _total_and_busy(before)
        total_after, busy_after = _total_and_busy(after)
        total_delta += total_after - total_before
        busy_delta += busy_after - busy_before
    if total_delta <= 0:
        return None
    # CPU times can step backwards on some hypervisors; clamp instead of reporting nonsense.
    return round(min(100.0, max(0.0, busy_delta / total_delta * 100.0)), 1)


class NetCounters(Protocol):
    @property
    def bytes_recv(self) -> int: ...
    @property
    def bytes_sent(self) -> int: ...
    @property
    def packets_recv(self) -> int: ...
    @property
    def packets_sent(self) -> int: ...


class DiskCounters(Protocol):
    @property
    def read_bytes(self) -> int: ...
    @property
    def write_bytes(self) -> int: ...
    @property
    def read_count(self) -> int: ...
    @property
    def write_count(self) -> int: ...


NO_NET = NetRates(rx_bytes_per_s=None, tx_bytes_per_s=None, rx_packets_per_s=None, tx_packets_per_s=None)
NO_IO = IoRates(read_bytes_per_s=None, write_bytes_per_s=None, read_ops_per_s=None, write_ops_per_s=None)


def net_rates(previous: NetCounters | None, current: NetCounters, elapsed_s: float) -> NetRates:
    if previous is None or elapsed_s <= 0:
        return NO_NET
    return NetRates(
        rx_bytes_per_s=counter_rate(previous.bytes_recv, current.bytes_recv, elapsed_s),
        tx_bytes_per_s=counter_rate(previous.bytes_sent, current.bytes_sent, elapsed_s),
        rx_packets_per_s=counter_rate(previous.packets_recv, current.packets_recv, elapsed_s),
        tx_packets_per_s=counter_rate(previous.packets_sent, current.packets_sent, elapsed_s),
    )


def io_rates(previous: DiskCounters | None, current: DiskCounters, elapsed_s: float) -> IoRates:
    if previous is None or elapsed_s <= 0:
        return NO_IO
    return IoRates(
        read_bytes_per_s=counter_rate(previous.read_bytes, current.read_bytes, elapsed_s),
        write_bytes_per_s=counter_rate(previous.write_bytes, current.write_bytes, elapsed_s),
        read_ops_per_s=counter_rate(previous.read_count, current.read_count, elapsed_s),
        write_ops_per_s=counter_rate(previous.write_count, current.write_count, elapsed_s),
    )


def _sum(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    # A part seen for the first time (a container's new veth) has no rate yet; the total of the
    # rest still holds. Only when nothing is known yet is the total unknown.
    if values and not known:
        return None
    return sum(known)


def sum_net(parts: Mapping[str, NetRates]) -> NetRates:
    rates = list(parts.values())
    return NetRates(
        rx_bytes_per_s=_sum([r.rx_bytes_per_s for r in rates]),
        tx_bytes_per_s=_sum([r.tx_bytes_per_s for r in rates]),
        rx_packets_per_s=_sum([r.rx_packets_per_s for r in rates]),
        tx_packets_per_s=_sum([r.tx_packets_per_s for r in rates]),
    )


def sum_io(parts: Mapping[str, IoRates]) -> IoRates:
    rates = list(parts.values())
    return IoRates(
        read_bytes_per_s=_sum([r.read_bytes_per_s for r in rates]),
        write_bytes_per_s=_sum([r.write_bytes_per_s for r in rates]),
        read_ops_per_s=_sum([r.read_ops_per_s for r in rates]),
        write_ops_per_s=_sum([r.write_ops_per_s for r in rates]),
    )
