import { useEffect, useState } from "preact/hooks";
import { api, errorText } from "../api";
import { onLink } from "../router";
import { describeSpec, formProblem, isCron, loadFailed, relative, schedulePath, sortSchedules, SPEC_EXAMPLES, specProblem, timeZoneProblem, writeBody, type Load } from "../schedules";
import { store, useStore } from "../store";
import type { Schedule, ScheduleList } from "../types";

type Form = { twin_id: string; session_id: string; message: string; spec: string; time_zone: string };

function AddForm({ onAdded }: { onAdded: () => void }) {
  const s = useStore();
  const localZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const [form, setForm] = useState<Form>({ twin_id: "", session_id: "", message: "", spec: "@every 1m", time_zone: "" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [touched, setTouched] = useState(false);
  const set = (f: Partial<Form>) => setForm((prev) => {
    const next = { ...prev, ...f };
    // A twin picked: its session in this browser, unless the person named another.
    if (f.twin_id !== undefined && (!prev.session_id || prev.session_id === (prev.twin_id ? store.sessionIdFor(prev.twin_id) : ""))) {
      next.session_id = f.twin_id ? store.sessionIdFor(f.twin_id) : "";
    }
    return next;
  });
  const problem = formProblem(form);
  const submit = async (e: Event) => {
    e.preventDefault();
    setTouched(true);
    if (problem) return;
    setBusy(true);
    setError(null);
    try {
      const made = await api<Schedule>("/v1/schedules", { method: "POST", json: writeBody(form) });
      store.notify(`Schedule ${made.id} added`);
      setForm({ ...form, message: "" });
      setTouched(false);
      onAdded();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const specWrong = form.spec ? specProblem(form.spec) : null;
  const zoneWrong = timeZoneProblem(form.time_zone);
  return (
    <form class="schedule-form" data-testid="schedule-form" onSubmit={(e) => void submit(e)}>
      <h3>New schedule</h3>
      <div class="row wrap">
        <label class="small">Twin{" "}
          <select data-testid="schedule-twin" value={form.twin_id} onChange={(e) => set({ twin_id: e.currentTarget.value })} required>
            <option value="">choose…</option>
            {s.twins.map((t) => <option key={t.id} value={t.id}>{t.codename} ({t.id})</option>)}
          </select></label>
        <label class="small">Session <input data-testid="schedule-session" value={form.session_id} maxLength={128} onInput={(e) => set({ session_id: e.currentTarget.value })}
          placeholder="the session the message goes to" /></label>
      </div>
      <label class="small block">Message
        <textarea data-testid="schedule-message" rows={2} maxLength={32000} value={form.message} placeholder="e.g. Summarise the overnight alerts"
          onInput={(e) => set({ message: e.currentTarget.value })} /></label>
      <div class="row wrap">
        <label class="small">When <input data-testid="schedule-spec" class="mono" value={form.spec} list="schedule-specs" onInput={(e) => set({ spec: e.currentTarget.value })}
          aria-invalid={specWrong ? "true" : "false"} /></label>
        <datalist id="schedule-specs">{SPEC_EXAMPLES.map(([v, why]) => <option key={v} value={v}>{why}</option>)}</datalist>
        <label class="small">Time zone <input data-testid="schedule-tz" value={form.time_zone} placeholder={isCron(form.spec) ? `UTC (yours: ${localZone})` : "cron only"} list="schedule-zones"
          title="the zone a cron expression's hours are in (UTC when left empty)"
          onInput={(e) => set({ time_zone: e.currentTarget.value })} aria-invalid={zoneWrong ? "true" : "false"} /></label>
        <datalist id="schedule-zones"><option value={localZone} /><option value="UTC" /><option value="Europe/Berlin" /><option value="America/New_York" /></datalist>
        <button class="btn primary" type="submit" data-testid="schedule-add" disabled={busy}>Add schedule</button>
      </div>
      <p class="muted small">{SPEC_EXAMPLES.map(([v, why]) => <span key={v} class="spec-example"><code>{v}</code>: {why}. </span>)}
        A time zone applies to cron expressions. A scheduled job asks for approvals like any other; while its last job still waits, a firing is skipped, not piled up.</p>
      {(touched || specWrong || zoneWrong) && problem && <p class="warn-text small" data-testid="schedule-problem">{problem}</p>}
      {error && <p class="error-text small" role="alert" data-testid="schedule-error">{error}</p>}
    </form>
  );
}

function Row({ sc, onChanged }: { sc: Schedule; onChanged: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const act = async (op: "pause" | "resume" | "delete") => {
    if (op === "delete" && !window.confirm(`Remove schedule ${sc.id}? Its past jobs stay in the session.`)) return;
    setBusy(true);
    setError(null);
    try {
      await api(op === "delete" ? schedulePath(sc.id) : schedulePath(sc.id, op), { method: op === "delete" ? "DELETE" : "POST" });
      onChanged();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const session = `/sessions/${encodeURIComponent(sc.session_id)}`;
  return (
    <tr data-testid="schedule-row" data-id={sc.id} data-paused={sc.paused ? "true" : "false"}>
      <td><code>{sc.twin_id}</code><div class="muted small"><a href={session} onClick={(e) => onLink(e, session)} title="replay this session">{sc.session_id}</a></div></td>
      <td class="schedule-message">{sc.message}</td>
      <td><span data-testid="schedule-when">{describeSpec(sc.spec, sc.time_zone)}</span></td>
      <td data-testid="schedule-next">{sc.paused ? <span class="badge off">paused</span> : sc.done ? <span class="badge">done</span>
        : <span title={sc.next_run ?? ""}>{relative(sc.next_run)}</span>}</td>
      <td data-testid="schedule-last">
        <span title={sc.last_run ?? ""}>{relative(sc.last_run)}</span>
        {sc.last_job_id && <div class="small"><a data-testid="schedule-last-job" href={`/jobs/${sc.last_job_id}?session=${encodeURIComponent(sc.session_id)}`}
          onClick={(e) => onLink(e, `/jobs/${sc.last_job_id}?session=${encodeURIComponent(sc.session_id)}`)}>job {sc.last_job_id.slice(0, 12)}</a></div>}
        {(sc.runs ?? 0) > 0 && <div class="muted small" data-testid="schedule-runs">{sc.runs} run{sc.runs === 1 ? "" : "s"}</div>}
        {(sc.skipped ?? 0) > 0 && <div class="warn-text small" data-testid="schedule-skipped"
          title={`the last job had not finished (waiting for an approval?)${sc.last_skipped_at ? `; last skipped ${sc.last_skipped_at}` : ""}`}>{sc.skipped} skipped, the last job still unfinished</div>}
      </td>
      <td class="row-actions">
        {sc.done ? null : sc.paused
          ? <button class="btn small" data-testid="schedule-resume" disabled={busy} onClick={() => void act("resume")}>Resume</button>
          : <button class="btn small" data-testid="schedule-pause" disabled={busy} onClick={() => void act("pause")}>Pause</button>}
        <button class="btn small danger" data-testid="schedule-remove" disabled={busy} onClick={() => void act("delete")}>Remove</button>
        {error && <div class="error-text small" role="alert">{error}</div>}
      </td>
    </tr>
  );
}

export function SchedulesView() {
  const [load, setLoad] = useState<Load>({ state: "loading" });
  const [tick, setTick] = useState(0);
  const [, setNow] = useState(0);
  useEffect(() => {
    let alive = true;
    const run = () => api<ScheduleList>("/v1/schedules").then((d) => alive && setLoad({ state: "ok", schedules: d.schedules }), (err) => alive && setLoad(loadFailed(err)));
    void run();
    // Firings change last run and next run: read again while the view is open.
    const every = window.setInterval(() => void run(), 3000);
    const clock = window.setInterval(() => setNow((n) => n + 1), 1000);
    return () => { alive = false; window.clearInterval(every); window.clearInterval(clock); };
  }, [tick]);
  const reload = () => setTick((n) => n + 1);
  return (
    <main class="center schedules-view" aria-label="Schedules">
      <header class="hub-head">
        <div class="hub-title">
          <h1>Schedules</h1>
          <span class="muted small">Messages sent to a twin on a schedule, fired by NATS JetStream itself (<code>GET /v1/schedules</code>)</span>
        </div>
      </header>
      {load.state === "unavailable"
        ? <p class="unavailable" data-testid="schedules-unavailable">Schedules are unavailable: this edge does not serve <code>GET /v1/schedules</code> yet ({load.why}).</p>
        : <AddForm onAdded={reload} />}
      {load.state === "loading" && <p class="muted small">Loading schedules…</p>}
      {load.state === "error" && <p class="error-text" data-testid="schedules-error">Schedules could not be read: {load.why} <button class="btn small" onClick={reload}>Retry</button></p>}
      {load.state === "ok" && (load.schedules.length === 0
        ? <p class="muted" data-testid="schedules-empty">No schedules yet.</p>
        : (
          <table class="usage-table schedules-table" data-testid="schedules">
            <thead><tr><th>twin · session</th><th>message</th><th>when</th><th>next run</th><th>last run</th><th /></tr></thead>
            <tbody>{sortSchedules(load.schedules).map((sc) => <Row key={sc.id} sc={sc} onChanged={reload} />)}</tbody>
          </table>
        ))}
    </main>
  );
}
