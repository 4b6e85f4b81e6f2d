"""The sampler on this host's real psutil data."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator

import psutil
import pytest

from bus_schemas.telemetry import TelemetrySample
from telemetry_agent.sampler import Sampler


@pytest.fixture
def sampler() -> Iterator[Sampler]:
    s = Sampler("test-host")
    yield s
    s.close()


def test_sample_matches_schema_and_host(sampler: Sampler) -> None:
    sample = sampler.sample()

    again = TelemetrySample.model_validate(json.loads(sample.model_dump_json()))
    assert again == sample
    assert sample.host_id == "test-host"
    assert sample.cpu.count == psutil.cpu_count() == len(sample.cpu.per_core)
    assert len(sample.cpu.load_avg) == 3
    assert sample.memory.total_bytes == psutil.virtual_memory().total
    assert sample.swap.total_bytes == psutil.swap_memory().total
    assert set(sample.network.interfaces) == set(psutil.net_io_counters(pernic=True))
    assert sample.process_count > 0
    assert sample.uptime_s > 0
    mounts = {p.mountpoint for p in psutil.disk_partitions(all=False)}
    assert {u.mountpoint for u in sample.disk.usage} <= mounts
    assert sample.disk.usage, "no mounted filesystem reported"


def test_first_sample_already_has_rates(sampler: Sampler) -> None:
    sample = sampler.sample()
    assert sample.interval_s is not None and sample.interval_s > 0
    lo = next(n for n in sample.network.interfaces if n in ("lo", "lo0"))
    assert sample.network.interfaces[lo].rx_bytes_per_s is not None


def test_loopback_traffic_shows_in_the_next_sample(sampler: Sampler) -> None:
    sampler.sample()
    payload = 200 * 1000
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        for _ in range(200):
            tx.sendto(b"y" * 1000, rx.getsockname())
            rx.recv(1000)
    sample = sampler.sample()

    lo = next(n for n in sample.network.interfaces if n in ("lo", "lo0"))
    rate = sample.network.interfaces[lo].rx_bytes_per_s
    assert sample.interval_s is not None
    assert rate is not None and rate * sample.interval_s >= payload * 0.99
    # Loopback is not traffic with the outside world: the host total leaves it out.
    total = sample.network.total.rx_bytes_per_s
    assert total is not None and total < rate


def test_no_elapsed_time_gives_unknown_rates_not_errors() -> None:
    frozen = Sampler("frozen", clock=lambda: 100.0)
    try:
        sample = frozen.sample()
    finally:
        frozen.close()
    assert sample.interval_s == 0.0
    assert all(r.rx_bytes_per_s is None for r in sample.network.interfaces.values())
    assert sample.disk.io.read_bytes_per_s is None


def test_gpu_absence_is_a_normal_sample_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="telemetry_agent")
    s = Sampler("no-gpu-host")
    try:
        samples = [s.sample() for _ in range(5)]
    finally:
        s.close()
    gpu = samples[-1].gpu
    if gpu.available:
        # A host with an NVIDIA GPU and driver: every device is reported instead.
        assert gpu.devices and gpu.reason is None
        return
    assert gpu.reason and "NVML" in gpu.reason
    assert gpu.devices == []
    assert all(x.gpu == gpu for x in samples)
    gpu_logs = [r for r in caplog.records if r.name == "telemetry_agent.gpu"]
    assert len(gpu_logs) == 1
    assert gpu_logs[0].levelno < logging.WARNING
