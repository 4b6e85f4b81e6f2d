"""One host's telemetry sample, published on `telemetry.host.<host>` by the telemetry agent.

The envelope's `ts` is the moment the sample was taken, and its `session_id` is the host id.
Rates are averages over `interval_s`; a rate is None where no earlier reading exists (the
first reading of a new interface or disk), never a guess.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .envelope import Body


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CpuStats(_Part):
    count: int = Field(ge=1)
    # None on the first sample after start, when there is no earlier reading to diff against.
    percent: float | None = Field(ge=0, le=100)
    per_core: list[float | None]
    load_avg: tuple[float, float, float]


class MemoryStats(_Part):
    total_bytes: int = Field(ge=0)
    available_bytes: int = Field(ge=0)
    used_bytes: int = Field(ge=0)
    percent: float = Field(ge=0, le=100)


class SwapStats(_Part):
    total_bytes: int = Field(ge=0)
    used_bytes: int = Field(ge=0)
    percent: float = Field(ge=0, le=100)


class DiskUsage(_Part):
    mountpoint: str
    device: str
    fstype: str
    total_bytes: int = Field(ge=0)
    used_bytes: int = Field(ge=0)
    free_bytes: int = Field(ge=0)
    percent: float = Field(ge=0, le=100)


class IoRates(_Part):
    """Disk I/O over the sample interval; None where no earlier reading exists (first sample, new disk)."""

    read_bytes_per_s: float | None = Field(ge=0)
    write_bytes_per_s: float | None = Field(ge=0)
    read_ops_per_s: float | None = Field(ge=0)
    write_ops_per_s: float | None = Field(ge=0)


class DiskStats(_Part):
    usage: list[DiskUsage]
    io: IoRates
    io_per_disk: dict[str, IoRates]


class NetRates(_Part):
    """Network traffic over the sample interval; None where no earlier reading exists."""

    rx_bytes_per_s: float | None = Field(ge=0)
    tx_bytes_per_s: float | None = Field(ge=0)
    rx_packets_per_s: float | None = Field(ge=0)
    tx_packets_per_s: float | None = Field(ge=0)


class NetStats(_Part):
    # Sum over every interface except loopback: the host's traffic with the outside.
    total: NetRates
    interfaces: dict[str, NetRates]


class GpuDevice(_Part):
    """One GPU. A field NVML cannot report on this device (not supported, no permission) is None."""

    index: int = Field(ge=0)
    name: str | None
    uuid: str | None
    utilization_percent: float | None = Field(ge=0, le=100)
    memory_utilization_percent: float | None = Field(ge=0, le=100)
    memory_used_bytes: int | None = Field(ge=0)
    memory_total_bytes: int | None = Field(ge=0)
    temperature_c: float | None
    power_w: float | None = Field(ge=0)
    power_limit_w: float | None = Field(ge=0)
    # Set when the device itself failed this sample (for example the GPU fell off the bus).
    error: str | None = None


class GpuStats(_Part):
    available: bool
    # Why no GPU figures are reported: no NVML library, no driver, no device.
    reason: str | None = None
    driver_version: str | None = None
    devices: list[GpuDevice] = Field(default_factory=list)


class TelemetrySample(Body):
    host_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # Seconds since the previous sample: the window every rate in this sample is averaged over.
    interval_s: float | None = Field(ge=0)
    uptime_s: float = Field(ge=0)
    process_count: int = Field(ge=0)
    cpu: CpuStats
    memory: MemoryStats
    swap: SwapStats
    disk: DiskStats
    network: NetStats
    gpu: GpuStats


class SeedMetrics(BaseModel):
    """The seed console's flat telemetry fields (its Rust telemetry service's payload), sent beside
    `sample` in each SSE `metrics` event so that console reads PAGI's stream as it read its own.

    `mem_*` are bytes; `mem_free` is total minus used, as the seed computed it. `cpu_percent` is None
    on a host's first sample (no earlier reading to diff against), never a guessed 0.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ts_ms: int = Field(ge=0)
    cpu_percent: float | None = Field(ge=0, le=100)
    mem_total: int = Field(ge=0)
    mem_used: int = Field(ge=0)
    mem_free: int = Field(ge=0)
    process_count: int = Field(ge=0)

    @classmethod
    def of(cls, sample: TelemetrySample, ts_ms: int) -> SeedMetrics:
        memory = sample.memory
        return cls(
            ts_ms=ts_ms,
            cpu_percent=sample.cpu.percent,
            mem_total=memory.total_bytes,
            mem_used=memory.used_bytes,
            mem_free=max(0, memory.total_bytes - memory.used_bytes),
            process_count=sample.process_count,
        )
