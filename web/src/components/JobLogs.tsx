import { useEffect, useRef, useState } from "preact/hooks";
import { api, errorText } from "../api";
import { clock, duration } from "../format";
import { navigate } from "../router";
import { store } from "../store";
import type { EventFrame, JobLogBody } from "../types";

interface Line { seq: number; ts: string; level: string; service: string; message: string; status: string | null; progress: number | null }
interface JobRecord { job_id: string; session_id: string; twin_id: string; message: string; status: string; created_at: string; updated_at: string; error: string | null; steps: unknown[] }

/** Terminal-style job log: the session's event stream over SSE (replay, then live), this job's log lines. */
export function JobLogs({ jobId, sessionId }: { jobId: string; sessionId: string | null }) {
  const [lines, setLines] = useState<Line[]>([]);
  const [job, setJob] = useState<JobRecord | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState(false);
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLDivElement>(null);
  const session = sessionId ?? job?.session_id ?? null;

  useEffect(() => {
    let alive = true;
    const load = () => api<JobRecord>(`/v1/jobs/${encodeURIComponent(jobId)}`).then((j) => alive && setJob(j), (e) => alive && setError(errorText(e)));
    void load();
    const t = window.setInterval(load, 2000);
    return () => { alive = false; window.clearInterval(t); };
  }, [jobId]);

  useEffect(() => {
    if (!session) return;
    setLines([]);
    const src = new EventSource(`/v1/events/stream?session=${encodeURIComponent(session)}&user=${encodeURIComponent(store.user)}`);
    src.onopen = () => setLive(true);
    src.onerror = () => setLive(false);
    src.onmessage = (ev: MessageEvent<string>) => {
      const frame = JSON.parse(ev.data) as EventFrame;
      if (frame.event_type !== "job.log" || frame.job_id !== jobId) return;
      const b = frame.body as unknown as JobLogBody;
      setLines((prev) => (prev.some((l) => l.seq === frame.seq) ? prev : [...prev, { seq: frame.seq, ts: frame.ts, level: b.level, service: b.service, message: b.message, status: b.status, progress: b.progress }]));
    };
    return () => src.close();
  }, [session, jobId]);

  useEffect(() => {
    const el = box.current;
    if (el && follow) el.scrollTop = el.scrollHeight;
  }, [lines, follow]);

  const progressLine = [...lines].reverse().find((l) => l.progress !== null);
  const progress = progressLine?.progress ?? null;
  const finished = job && ["completed", "failed", "cancelled"].includes(job.status);
  const took = job ? Date.parse(finished ? job.updated_at : new Date().toISOString()) - Date.parse(job.created_at) : 0;
  return (
    <main class="center logs-view" aria-label="Job logs">
      <header class="hub-head">
        <button class="btn small" onClick={() => history.length > 1 ? history.back() : navigate("/")}>← Back</button>
        <div class="hub-title">
          <h1>Job logs</h1>
          <span class="muted small"><code>{jobId}</code>{session ? <> · session <code>{session}</code></> : null}</span>
        </div>
        {job && <span class={`badge job-${job.status}`} data-testid="job-status">{job.status.replace("_", " ")}</span>}
        {job && <span class="muted small">{duration(Math.max(0, took))}{finished ? "" : " so far"}</span>}
        <span class={`conn conn-${live ? "live" : "reconnecting"}`}>{live ? "LIVE" : "connecting"}</span>
        {job && !finished && <button class="btn small danger" onClick={() => void api(`/v1/jobs/${jobId}/cancel`, { method: "POST", json: { requested_by: store.user } }).catch((e) => setError(errorText(e)))}>Cancel job</button>}
      </header>
      {job && <p class="muted small job-message">“{job.message}” · twin {job.twin_id}{job.error ? ` · error: ${job.error}` : ""}</p>}
      {progress !== null && (
        <div class="job-progress" data-testid="job-progress">
          <div class="progress" role="progressbar" aria-label="progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(progress * 100)}>
            <i style={{ width: `${Math.round(progress * 100)}%` }} /></div>
          <span class="muted small">{Math.round(progress * 100)}% · {progressLine?.message}</span>
        </div>
      )}
      {error && <p class="error-text">{error}</p>}
      <div class="terminal" ref={box} data-testid="terminal" tabIndex={0}
        onScroll={(e) => { const el = e.currentTarget; setFollow(el.scrollHeight - el.scrollTop - el.clientHeight < 30); }}>
        {lines.length === 0 && <div class="muted">Waiting for log lines…</div>}
        {lines.map((l) => (
          <div key={l.seq} class={`logline lvl-${l.level}`}>
            <span class="ts">{clock(l.ts)}</span> <span class="lvl">{l.level.toUpperCase().padEnd(6)}</span> <span class="svc">{l.service}</span> {l.message}{l.status ? ` [${l.status}]` : ""}
          </div>
        ))}
      </div>
      {!follow && <button class="btn small resume-tail" onClick={() => setFollow(true)}>Tail paused: jump to latest ↓</button>}
    </main>
  );
}
