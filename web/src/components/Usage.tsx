import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api } from "../api";
import { onLink } from "../router";
import { BudgetsPanel } from "./Budgets";
import type { UsageDay, UsageGrouping, UsageReport, UsageTotal } from "../types";
import { costNote, costText, dailySeries, ESTIMATED_WHY, estimatedNote, GROUPINGS, isEmpty, isoDay, lastDays, loadFailed, money, tokens, tokensText, usagePath, type Load, type Range } from "../usage";


function DailyChart({ days, currency }: { days: UsageDay[]; currency: string }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [width, setWidth] = useState(600);
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(Math.max(300, Math.floor(el.clientWidth - 4))));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  useEffect(() => {
    if (!host.current) return;
    const axis = { stroke: "#94a3b8", grid: { stroke: "#1e2540" }, ticks: { stroke: "#1e2540" } };
    const opts: uPlot.Options = {
      width, height: 200, legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, cost: { auto: true } },
      axes: [
        { ...axis, values: (_u, ticks) => ticks.map((t) => isoDay(t).slice(5)) },
        { ...axis, size: 64, values: (_u, ticks) => ticks.map((t) => tokens(t)) },
        { ...axis, scale: "cost", side: 1, size: 84, grid: { show: false }, values: (_u, ticks) => ticks.map((t) => money(t, currency)) },
      ],
      series: [
        {},
        { label: "input tokens", stroke: "#818cf8", width: 2, points: { show: true }, value: (_u, v) => (v == null ? "–" : tokens(v)) },
        { label: "output tokens", stroke: "#34d399", width: 2, points: { show: true }, value: (_u, v) => (v == null ? "–" : tokens(v)) },
        { label: "cost", scale: "cost", stroke: "#fbbf24", width: 2, dash: [4, 3], points: { show: true }, spanGaps: false, value: (_u, v) => money(v ?? null, currency) },
      ],
    };
    plot.current = new uPlot(opts, dailySeries(days) as uPlot.AlignedData, host.current);
    return () => { plot.current?.destroy(); plot.current = null; };
  }, [width, currency]);
  useEffect(() => { plot.current?.setData(dailySeries(days) as uPlot.AlignedData); }, [days]);
  return <div class="chart usage-chart" ref={host} data-testid="usage-chart" />;
}

function Totals({ total, currency }: { total: UsageTotal; currency: string }) {
  const estimated = estimatedNote(total);
  const unpriced = costNote(total);
  return (
    <div class="status-cards" data-testid="usage-totals">
      <div class="card"><div class="card-label">LLM calls</div><div class="card-value" data-testid="usage-calls">{tokens(total.calls)}</div>
        <div class="card-sub" data-testid="usage-estimated" title={estimated ? ESTIMATED_WHY : undefined}>{estimated ?? "all as reported by the provider"}</div></div>
      <div class="card"><div class="card-label">Tokens in</div><div class="card-value" data-testid="usage-input">{tokensText(total.input_tokens, total)}</div>
        <div class="card-sub">{total.estimated_calls > 0 ? "≈ partly estimated" : "reported"}</div></div>
      <div class="card"><div class="card-label">Tokens out</div><div class="card-value" data-testid="usage-output">{tokensText(total.output_tokens, total)}</div>
        <div class="card-sub">{total.estimated_calls > 0 ? "≈ partly estimated" : "reported"}</div></div>
      <div class={`card ${total.unpriced_calls > 0 || total.cost === null ? "warn" : ""}`}><div class="card-label">Cost</div>
        <div class={`card-value ${total.unpriced_calls > 0 || total.cost === null ? "cost-unknown" : ""}`} data-testid="usage-cost">{costText(total, currency)}</div>
        <div class="card-sub" data-testid="usage-cost-note">{unpriced ?? "every call priced"}</div></div>
    </div>
  );
}

function TotalsTable({ rows, by, currency, testid }: { rows: UsageTotal[]; by: UsageGrouping | "session"; currency: string; testid: string }) {
  return (
    <table class="usage-table" data-testid={testid}>
      <thead><tr><th>{by}</th><th>calls</th><th>tokens in</th><th>tokens out</th><th>cost</th><th>run time</th></tr></thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.key}>
            <td>{by === "session"
              ? <a href={`/sessions/${encodeURIComponent(r.key)}`} onClick={(e) => onLink(e, `/sessions/${encodeURIComponent(r.key)}`)} title="replay this session"><code>{r.key}</code></a>
              : <code>{r.key}</code>}</td>
            <td>{tokens(r.calls)}{r.estimated_calls > 0 && <span class="estimated" title={`${estimatedNote(r) ?? ""}: ${ESTIMATED_WHY}`}> · {r.estimated_calls} est.</span>}</td>
            <td>{tokensText(r.input_tokens, r)}</td>
            <td>{tokensText(r.output_tokens, r)}</td>
            <td class={r.unpriced_calls > 0 || r.cost === null ? "cost-unknown" : ""} title={costNote(r) ?? ""}>{costText(r, currency)}</td>
            <td title={r.cpu_measured_runs > 0 ? `sandboxed CPU of ${r.cpu_measured_runs} measured run(s)` : ""}>{r.run_wall_ms > 0 ? `${(r.run_wall_ms / 1000).toFixed(1)} s` : "–"}{r.cpu_measured_runs > 0 && <span class="muted"> · cpu {(r.run_cpu_ms / 1000).toFixed(1)} s</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function UsageView() {
  const [by, setBy] = useState<UsageGrouping>("twin");
  const [range, setRange] = useState<Range>(() => lastDays(30));
  const [load, setLoad] = useState<Load>({ state: "loading" });
  const [tick, setTick] = useState(0);
  const path = usagePath(by, range);
  useEffect(() => {
    let alive = true;
    const run = (first: boolean) => {
      if (first) setLoad({ state: "loading" });
      api<UsageReport>(path).then((report) => alive && setLoad({ state: "ok", report }), (err) => alive && setLoad(loadFailed(err)));
    };
    run(true);
    // The ledger counts as calls happen: refresh while the view is open.
    const every = window.setInterval(() => run(false), 5000);
    return () => { alive = false; window.clearInterval(every); };
  }, [path, tick]);
  const preset = (days: number) => setRange(lastDays(days));
  return (
    <main class="center usage-view" aria-label="Usage">
      <header class="hub-head">
        <div class="hub-title">
          <h1>Usage</h1>
          <span class="muted small">What the twins' LLM calls cost, from the usage ledger (<code>GET /v1/usage</code>)</span>
        </div>
      </header>
      <div class="row usage-controls">
        <label class="small">Group by{" "}
          <select aria-label="Group by" data-testid="usage-by" value={by} onChange={(e) => setBy(e.currentTarget.value as UsageGrouping)}>
            {GROUPINGS.map((g) => <option key={g} value={g}>{g}</option>)}
          </select>
        </label>
        <label class="small">From <input type="date" aria-label="From" value={range.since} max={range.until} onChange={(e) => setRange({ ...range, since: e.currentTarget.value })} /></label>
        <label class="small">to <input type="date" aria-label="To" value={range.until} min={range.since} onChange={(e) => setRange({ ...range, until: e.currentTarget.value })} /></label>
        <button class="btn small" onClick={() => preset(1)}>Today</button>
        <button class="btn small" onClick={() => preset(7)}>7 days</button>
        <button class="btn small" onClick={() => preset(30)}>30 days</button>
      </div>
      <BudgetsPanel />
      {load.state === "loading" && <p class="muted small">Loading usage…</p>}
      {load.state === "unavailable" && (
        <p class="unavailable" data-testid="usage-unavailable">Usage is unavailable: this edge does not serve <code>GET /v1/usage</code> yet ({load.why}).</p>
      )}
      {load.state === "down" && (
        <p class="unavailable" data-testid="usage-down">The usage ledger is not answering: {load.why}. No figures are shown rather than stale or made-up ones.
          {" "}<button class="btn small" onClick={() => setTick((n) => n + 1)}>Retry</button></p>
      )}
      {load.state === "error" && <p class="error-text" data-testid="usage-error">Usage could not be read: {load.why} <button class="btn small" onClick={() => setTick((n) => n + 1)}>Retry</button></p>}
      {load.state === "ok" && <Report report={load.report} />}
    </main>
  );
}

function Report({ report }: { report: UsageReport }) {
  if (isEmpty(report.total)) {
    return <p class="muted" data-testid="usage-empty">No LLM calls recorded between {report.since ? isoDay(report.since) : "the start"} and {report.until ? isoDay(report.until - 1) : "now"}.</p>;
  }
  return (
    <div class="usage-report" data-testid="usage-report">
      <Totals total={report.total} currency={report.currency} />
      <h3>Per day</h3>
      {report.days.length ? <DailyChart days={report.days} currency={report.currency} /> : <p class="muted small">No day-by-day figures in this report.</p>}
      <h3>By {report.by}</h3>
      {report.groups.length ? <TotalsTable rows={report.groups} by={report.by} currency={report.currency} testid="usage-groups" /> : <p class="muted small">No groups in this report.</p>}
      <h3>Most expensive sessions</h3>
      {report.top_sessions.length
        ? <TotalsTable rows={report.top_sessions} by="session" currency={report.currency} testid="usage-top-sessions" />
        : <p class="muted small">No sessions in this range.</p>}
    </div>
  );
}
