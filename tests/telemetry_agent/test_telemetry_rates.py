"""Rate maths on real psutil counter readings."""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from bus_schemas.telemetry import NetRates
from telemetry_agent.rates import (
    counter_delta,
    counter_rate,
    cpu_busy_percent,
    cpu_busy_percent_sum,
    io_rates,
    net_rates,
    sum_net,
)


def _loopback_traffic(packets: int = 50, size: int = 1000) -> int:
    """Send UDP datagrams over loopback so its counters move; returns the payload bytes sent."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        for _ in range(packets):
            tx.sendto(b"x" * size, rx.getsockname())
            rx.recv(size)
    return packets * size


def _loopback_name() -> str:
    return next(n for n in psutil.net_io_counters(pernic=True) if n in ("lo", "lo0"))


def test_counter_delta_and_rate() -> None:
    assert counter_delta(100, 350) == 250
    assert counter_rate(100, 350, 0.5) == 500.0
    assert counter_rate(100, 350, 0.0) is None
    assert counter_rate(100, 350, -1.0) is None


def test_counter_reset_counts_from_zero_and_is_never_negative() -> None:
    assert counter_delta(2**32 - 10, 5) == 5
    assert counter_rate(1_000_000, 400, 2.0) == 200.0


def test_net_rate_from_two_real_snapshots() -> None:
    lo = _loopback_name()
    before = psutil.net_io_counters(pernic=True, nowrap=False)[lo]
    sent = _loopback_traffic()
    after = psutil.net_io_counters(pernic=True, nowrap=False)[lo]
    elapsed = 0.25

    rates = net_rates(before, after, elapsed)

    assert rates.rx_bytes_per_s == pytest.approx((after.bytes_recv - before.bytes_recv) / elapsed, abs=0.01)
    assert rates.tx_packets_per_s == pytest.approx((after.packets_sent - before.packets_sent) / elapsed, abs=0.01)
    # Headers come on top of the payload, so at least the payload went through.
    assert rates.rx_bytes_per_s is not None and rates.rx_bytes_per_s * elapsed >= sent
    assert rates.rx_packets_per_s is not None and rates.rx_packets_per_s * elapsed >= 50


def test_net_counter_reset_gives_no_negative_rate() -> None:
    lo = _loopback_name()
    _loopback_traffic()
    before = psutil.net_io_counters(pernic=True, nowrap=False)[lo]
    # The interface was re-created: its counters restart from a few packets.
    after = before._replace(bytes_recv=3000, bytes_sent=3000, packets_recv=3, packets_sent=3)
    assert before.bytes_recv > after.bytes_recv

    rates = net_rates(before, after, 1.5)

    assert rates.rx_bytes_per_s == 2000.0
    assert rates.tx_packets_per_s == 2.0
    assert all(v is not None and v >= 0 for v in rates.model_dump().values())


def test_no_previous_reading_gives_unknown_not_zero() -> None:
    lo = _loopback_name()
    now = psutil.net_io_counters(pernic=True)[lo]
    assert net_rates(None, now, 1.0).rx_bytes_per_s is None
    assert net_rates(now, now, 0.0).rx_bytes_per_s is None


def test_disk_rate_from_two_real_snapshots() -> None:
    counters = psutil.disk_io_counters(perdisk=True, nowrap=False)
    assert counters, "this host exposes no disk counters"
    before = counters
    # Beside this file, not in /tmp: /tmp may be a tmpfs with no block device behind it.
    with tempfile.NamedTemporaryFile(dir=Path(__file__).parent) as f:
        f.write(os.urandom(1 << 20))
        f.flush()
        os.fsync(f.fileno())
    after = psutil.disk_io_counters(perdisk=True, nowrap=False)
    name = max(after, key=lambda n: after[n].write_bytes - before[n].write_bytes if n in before else -1)
    elapsed = 0.5

    rates = io_rates(before[name], after[name], elapsed)

    written = after[name].write_bytes - before[name].write_bytes
    assert written > 0
    assert rates.write_bytes_per_s == pytest.approx(written / elapsed, abs=0.01)
    assert rates.write_ops_per_s == pytest.approx(
        (after[name].write_count - before[name].write_count) / elapsed, abs=0.01
    )

    reset = after[name]._replace(read_bytes=0, write_bytes=4096, read_count=0, write_count=1)
    after_reset = io_rates(after[name], reset, elapsed)
    assert after_reset.write_bytes_per_s == 8192.0
    assert after_reset.read_bytes_per_s == 0.0


def test_cpu_percent_from_real_times() -> None:
    before = psutil.cpu_times(percpu=True)
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    after = psutil.cpu_times(percpu=True)

    total = cpu_busy_percent_sum(before, after)
    per_core = [cpu_busy_percent(b, a) for b, a in zip(before, after, strict=True)]

    # 0.2 s of our own busy loop happened in the window, so the host was not idle.
    assert total is not None and 0 < total <= 100
    assert all(p is None or 0 <= p <= 100 for p in per_core)
    assert max(p or 0 for p in per_core) >= total


def test_cpu_times_going_backwards_are_clamped_or_unknown() -> None:
    now = psutil.cpu_times()
    assert cpu_busy_percent(now, now) is None
    # A hypervisor stepped the clock back: busy fell while idle grew.
    stepped = now._replace(user=max(0.0, now.user - 5), idle=now.idle + 10)
    percent = cpu_busy_percent(now, stepped)
    assert percent == 0.0


def test_total_skips_parts_without_history_but_not_when_all_unknown() -> None:
    known = NetRates(rx_bytes_per_s=10, tx_bytes_per_s=20, rx_packets_per_s=1, tx_packets_per_s=2)
    unknown = NetRates(rx_bytes_per_s=None, tx_bytes_per_s=None, rx_packets_per_s=None, tx_packets_per_s=None)
    assert sum_net({"eth0": known, "veth9": unknown, "eth1": known}).rx_bytes_per_s == 20
    assert sum_net({"veth9": unknown}).rx_bytes_per_s is None
    assert sum_net({}).rx_bytes_per_s == 0
