"""GPU figures through NVML (the `pynvml` module of nvidia-ml-py). No GPU is a normal case."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import pynvml

from bus_schemas.telemetry import GpuDevice, GpuStats

log = logging.getLogger(__name__)

T = TypeVar("T")


def _text(value: str | bytes) -> str:
    # Older NVML bindings return bytes, newer ones str.
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class GpuProbe:
    """Reads every NVIDIA GPU of the host once per sample.

    `nvml` is the pynvml module; a test may hand in another object with the same functions to
    exercise the GPU-present path on a machine without one.
    """

    def __init__(self, nvml: Any = pynvml) -> None:
        self._nvml = nvml
        self._handles: list[Any] = []
        self._started = False
        self._unavailable: GpuStats | None = None
        self._driver_version: str | None = None
        # (device index, field, error) already logged: a field failing every second logs once.
        self._logged: set[tuple[int, str, str]] = set()
        # Name and UUID never change while the agent runs: read once per device.
        self._identity: dict[int, tuple[str | None, str | None]] = {}

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        try:
            self._nvml.nvmlInit()
        except self._nvml.NVMLError as exc:
            self._unavailable = GpuStats(available=False, reason=_reason(exc))
            log.info("no GPU figures: NVML unavailable (%s)", _reason(exc))
            return
        try:
            count = int(self._nvml.nvmlDeviceGetCount())
            self._handles = [self._nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self._driver_version = _text(self._nvml.nvmlSystemGetDriverVersion())
        except self._nvml.NVMLError as exc:
            self._unavailable = GpuStats(available=False, reason=_reason(exc))
            log.warning("no GPU figures: NVML initialised but devices unreadable (%s)", _reason(exc))
            self._shutdown()
            return
        if not self._handles:
            self._unavailable = GpuStats(available=False, reason="NVML reports no GPU")
            log.info("no GPU figures: NVML reports no GPU")
            self._shutdown()
            return
        log.info("reading %d GPU(s), driver %s", len(self._handles), self._driver_version)

    def read(self) -> GpuStats:
        if not self._started:
            self.start()
        if self._unavailable is not None:
            return self._unavailable
        return GpuStats(
            available=True,
            driver_version=self._driver_version,
            devices=[self._read_device(i, h) for i, h in enumerate(self._handles)],
        )

    def close(self) -> None:
        if self._started and self._unavailable is None:
            self._shutdown()
        self._handles = []

    def _shutdown(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except self._nvml.NVMLError as exc:
            log.debug("NVML shutdown failed: %s", _reason(exc))

    def _read_device(self, index: int, handle: Any) -> GpuDevice:
        errors: list[str] = []
        nvml = self._nvml

        def field(name: str, read: Callable[[], T]) -> T | None:
            try:
                return read()
            except nvml.NVMLError as exc:
                # Not supported or not permitted is a property of the device, not a failure.
                if not isinstance(exc, nvml.NVMLError_NotSupported | nvml.NVMLError_NoPermission):
                    errors.append(f"{name}: {_reason(exc)}")
                key = (index, name, type(exc).__name__)
                if key not in self._logged:
                    self._logged.add(key)
                    log.info("GPU %d: %s unavailable (%s)", index, name, _reason(exc))
                return None

        if index not in self._identity:
            self._identity[index] = (
                field("name", lambda: _text(nvml.nvmlDeviceGetName(handle))),
                field("uuid", lambda: _text(nvml.nvmlDeviceGetUUID(handle))),
            )
        name, uuid = self._identity[index]
        util = field("utilization", lambda: nvml.nvmlDeviceGetUtilizationRates(handle))
        mem = field("memory", lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
        power_mw = field("power", lambda: nvml.nvmlDeviceGetPowerUsage(handle))
        limit_mw = field("power_limit", lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(handle))
        return GpuDevice(
            index=index,
            name=name,
            uuid=uuid,
            utilization_percent=None if util is None else float(util.gpu),
            memory_utilization_percent=None if util is None else float(util.memory),
            memory_used_bytes=None if mem is None else int(mem.used),
            memory_total_bytes=None if mem is None else int(mem.total),
            temperature_c=field(
                "temperature",
                lambda: float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)),
            ),
            power_w=None if power_mw is None else power_mw / 1000.0,
            power_limit_w=None if limit_mw is None else limit_mw / 1000.0,
            error="; ".join(errors) or None,
        )
