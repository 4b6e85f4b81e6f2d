// Per-host telemetry series, fed by the SSE stream; pure and unit-tested.
import type { MetricsFrame } from "./types";

export const MAX_POINTS = 3600;

export interface HostSeries {
  hostId: string;
  lastSeq: number;
  t: number[];
  cpu: (number | null)[];
  mem: (number | null)[];
  rx: (number | null)[];
  tx: (number | null)[];
  gpu: (number | null)[];
  gpuReason: string | null;
  gpuName: string | null;
  cores: number;
  memTotal: number;
  lastTs: string;
}

export function emptySeries(hostId: string): HostSeries {
  return { hostId, lastSeq: 0, t: [], cpu: [], mem: [], rx: [], tx: [], gpu: [], gpuReason: null, gpuName: null, cores: 0, memTotal: 0, lastTs: "" };
}

/** Add one sample; a sequence already seen (replay overlap) is ignored. */
export function addSample(series: HostSeries, frame: MetricsFrame): boolean {
  if (frame.seq <= series.lastSeq) return false;
  series.lastSeq = frame.seq;
  const s = frame.sample;
  series.t.push(Date.parse(frame.ts) / 1000);
  series.cpu.push(s.cpu.percent);
  series.mem.push(s.memory.percent);
  series.rx.push(s.network.total.rx_bytes_per_s);
  series.tx.push(s.network.total.tx_bytes_per_s);
  const gpus = s.gpu.devices.filter((d) => d.utilization_percent !== null);
  series.gpu.push(s.gpu.available && gpus.length ? gpus.reduce((a, d) => a + (d.utilization_percent ?? 0), 0) / gpus.length : null);
  series.gpuReason = s.gpu.available ? null : s.gpu.reason ?? "no GPU reported";
  series.gpuName = s.gpu.devices[0]?.name ?? null;
  series.cores = s.cpu.count;
  series.memTotal = s.memory.total_bytes;
  series.lastTs = frame.ts;
  if (series.t.length > MAX_POINTS) {
    for (const key of ["t", "cpu", "mem", "rx", "tx", "gpu"] as const) series[key].splice(0, series.t.length - MAX_POINTS);
  }
  return true;
}

export function last<T>(values: T[]): T | undefined {
  return values[values.length - 1];
}
