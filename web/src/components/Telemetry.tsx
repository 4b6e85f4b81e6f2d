import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { bytes, clock } from "../format";
import { addSample, emptySeries, last, type HostSeries } from "../telemetry";
import type { HostSeen, HostsFrame, MetricsFrame } from "../types";

type StreamState = "connecting" | "live" | "offline";

function Chart({ series, kind, width }: { series: HostSeries; kind: "percent" | "net"; width: number }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data = (): uPlot.AlignedData =>
    kind === "percent" ? [series.t, series.cpu, series.mem, series.gpu] : [series.t, series.rx, series.tx];
  useEffect(() => {
    if (!host.current) return;
    const axis = { stroke: "#94a3b8", grid: { stroke: "#1e2540" }, ticks: { stroke: "#1e2540" } };
    const opts: uPlot.Options = {
      width, height: 150, legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: kind === "percent" ? { y: { range: [0, 100] } } : {},
      axes: [
        { ...axis, values: (_u, ticks) => ticks.map((t) => clock(t * 1000)) },
        { ...axis, size: kind === "percent" ? 54 : 72, values: (_u, ticks) => ticks.map((t) => (kind === "percent" ? `${t}%` : `${bytes(t)}/s`)) },
      ],
      series: kind === "percent"
        ? [{}, { label: "CPU %", stroke: "#818cf8", width: 2, spanGaps: false }, { label: "Mem %", stroke: "#34d399", width: 2 }, { label: "GPU %", stroke: "#f472b6", width: 2 }]
        : [{}, { label: "rx", stroke: "#22d3ee", width: 2, value: (_u, v) => (v == null ? "–" : `${bytes(v)}/s`) }, { label: "tx", stroke: "#fbbf24", width: 2, value: (_u, v) => (v == null ? "–" : `${bytes(v)}/s`) }],
    };
    plot.current = new uPlot(opts, data(), host.current);
    return () => { plot.current?.destroy(); plot.current = null; };
  }, [kind, width]);
  useEffect(() => { plot.current?.setData(data()); });
  return <div class="chart" ref={host} data-testid={`chart-${kind}`} />;
}

export function BodyTab() {
  const [hosts, setHosts] = useState<HostSeen[]>([]);
  const [state, setState] = useState<StreamState>("connecting");
  const [, setTick] = useState(0);
  const series = useRef(new Map<string, HostSeries>());
  const box = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(300);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(Math.max(220, Math.floor(el.clientWidth - 4))));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    let frame = 0;
    const redraw = () => { if (!frame) frame = requestAnimationFrame(() => { frame = 0; setTick((n) => n + 1); }); };
    const source = new EventSource("/v1/telemetry/stream?since=600");
    source.onopen = () => setState("live");
    source.onerror = () => setState(source.readyState === EventSource.CLOSED ? "offline" : "connecting");
    source.addEventListener("hosts", (ev) => {
      setHosts((JSON.parse((ev as MessageEvent<string>).data) as HostsFrame).hosts);
    });
    source.addEventListener("metrics", (ev) => {
      const m = JSON.parse((ev as MessageEvent<string>).data) as MetricsFrame;
      let s = series.current.get(m.host_id);
      if (!s) { s = emptySeries(m.host_id); series.current.set(m.host_id, s); }
      if (addSample(s, m)) redraw();
    });
    source.addEventListener("closing", () => setState("connecting"));
    return () => { source.close(); cancelAnimationFrame(frame); };
  }, []);

  const known = new Map(hosts.map((h) => [h.host_id, h]));
  const ids = [...new Set([...hosts.map((h) => h.host_id), ...series.current.keys()])].sort();
  return (
    <div class="body-tab" ref={box} data-testid="body-tab">
      <div class="tab-head">
        <span>Host telemetry</span>
        <span class={`conn conn-${state === "live" ? "live" : state === "connecting" ? "reconnecting" : "offline"}`} data-testid="telemetry-state">{state === "live" ? "LIVE" : state === "connecting" ? "connecting" : "OFFLINE"}</span>
      </div>
      {ids.length === 0 && <p class="muted small">No host has sent telemetry in the last 10 minutes. Start one with <code>python -m telemetry_agent</code>.</p>}
      {ids.map((id) => {
        const s = series.current.get(id);
        const seen = known.get(id);
        const live = seen ? !seen.silent : false;
        return (
          <section class="host" key={id} data-testid={`host-${id}`}>
            <div class="host-head">
              <b>{id}</b>
              <span class={`badge ${live ? "ok" : "off"}`}>{live ? "LIVE" : "OFFLINE"}</span>
              {s && <span class="muted small">{s.cores} cores · {bytes(s.memTotal)} RAM · last {clock(s.lastTs)}</span>}
            </div>
            {s ? (
              <>
                <div class="figures small">
                  <span>CPU <b data-testid="cpu-value">{last(s.cpu) == null ? "n/a" : `${last(s.cpu)!.toFixed(1)}%`}</b></span>
                  <span>Mem <b>{last(s.mem)?.toFixed(1) ?? "n/a"}%</b></span>
                  <span>GPU <b>{last(s.gpu) == null ? (s.gpuReason ? "none" : "n/a") : `${last(s.gpu)!.toFixed(0)}%`}</b></span>
                  <span data-testid="sample-count">{s.t.length} samples</span>
                </div>
                <Chart series={s} kind="percent" width={width} />
                <Chart series={s} kind="net" width={width} />
                {s.gpuReason && <p class="muted small">GPU: {s.gpuReason}</p>}
              </>
            ) : <p class="muted small">No samples in the window yet.</p>}
          </section>
        );
      })}
    </div>
  );
}
