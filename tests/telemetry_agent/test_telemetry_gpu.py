"""GPU reading through NVML.

This machine has no GPU, so the absent case runs against the real pynvml. The present case
runs against a stand-in exposing pynvml's functions and its real exception classes, to check
the mapping of NVML's units and errors into the sample.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest

from bus_schemas.telemetry import GpuStats
from telemetry_agent.gpu import GpuProbe


@dataclass
class _Device:
    name: str
    util: tuple[int, int] = (37, 12)
    mem: tuple[int, int] = (2 * 2**30, 16 * 2**30)
    temp: int = 61
    power_mw: int | None = 123_456
    limit_mw: int = 300_000
    lost: bool = False


@dataclass
class StandInNvml:
    devices: list[_Device] = field(default_factory=list)
    init_error: int | None = None
    shutdowns: int = 0

    NVMLError = pynvml.NVMLError
    NVMLError_NotSupported = pynvml.NVMLError_NotSupported
    NVMLError_NoPermission = pynvml.NVMLError_NoPermission
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU

    def _dev(self, handle: int) -> _Device:
        dev = self.devices[handle]
        if dev.lost:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
        return dev

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlSystemGetDriverVersion(self) -> bytes:
        return b"550.54.15"

    def nvmlDeviceGetName(self, h: int) -> str:
        return self._dev(h).name

    def nvmlDeviceGetUUID(self, h: int) -> str:
        return f"GPU-{h:08d}"

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        gpu, memory = self._dev(h).util
        return SimpleNamespace(gpu=gpu, memory=memory)

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        used, total = self._dev(h).mem
        return SimpleNamespace(used=used, total=total, free=total - used)

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return self._dev(h).temp

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        mw = self._dev(h).power_mw
        if mw is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return mw

    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
        return self._dev(h).limit_mw


def test_real_nvml_absent_or_present_is_never_an_error() -> None:
    probe = GpuProbe()
    try:
        stats = probe.read()
    finally:
        probe.close()
    if stats.available:
        assert stats.devices and all(d.error is None for d in stats.devices)
    else:
        assert stats.reason and stats.reason.startswith("NVMLError_")
        assert stats.devices == []


def test_missing_library_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="telemetry_agent.gpu")
    probe = GpuProbe(StandInNvml(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND))

    reads = [probe.read() for _ in range(10)]
    probe.close()

    assert reads[0] == GpuStats(available=False, reason="NVMLError_LibraryNotFound: NVML Shared Library Not Found")
    assert len(caplog.records) == 1
    assert caplog.records[0].levelno == logging.INFO


def test_driver_without_devices_says_so() -> None:
    nvml = StandInNvml(devices=[])
    probe = GpuProbe(nvml)
    stats = probe.read()
    assert not stats.available and stats.reason == "NVML reports no GPU"
    assert nvml.shutdowns == 1


def test_devices_map_units_and_unsupported_fields() -> None:
    nvml = StandInNvml(devices=[_Device("NVIDIA A10"), _Device("Tesla T4", power_mw=None)])
    probe = GpuProbe(nvml)

    stats = probe.read()

    assert stats.available and stats.driver_version == "550.54.15"
    a10, t4 = stats.devices
    assert (a10.index, a10.name, a10.uuid) == (0, "NVIDIA A10", "GPU-00000000")
    assert a10.utilization_percent == 37.0
    assert a10.memory_utilization_percent == 12.0
    assert a10.memory_used_bytes == 2 * 2**30
    assert a10.memory_total_bytes == 16 * 2**30
    assert a10.temperature_c == 61.0
    assert a10.power_w == pytest.approx(123.456)
    assert a10.power_limit_w == 300.0
    assert a10.error is None
    # Power not supported on this board is a property of the device, not a failure.
    assert t4.power_w is None and t4.error is None and t4.temperature_c == 61.0
    probe.close()
    assert nvml.shutdowns == 1


def test_lost_gpu_is_marked_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="telemetry_agent.gpu")
    nvml = StandInNvml(devices=[_Device("NVIDIA A10"), _Device("NVIDIA A10")])
    probe = GpuProbe(nvml)
    assert probe.read().devices[1].error is None
    caplog.clear()
    nvml.devices[1].lost = True

    stats = [probe.read() for _ in range(5)][-1]

    healthy, lost = stats.devices
    assert healthy.error is None and healthy.utilization_percent == 37.0
    assert lost.error is not None and "GpuIsLost" in lost.error
    assert lost.utilization_percent is None and lost.power_w is None
    assert lost.name == "NVIDIA A10"
    # One line per failing field, not one per field per second.
    assert len(caplog.records) == 5
