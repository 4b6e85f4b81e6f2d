import { useEffect, useState } from "preact/hooks";
import { clock } from "../format";
import { navigate, onLink } from "../router";
import { store } from "../store";
import type { EventFrame } from "../types";

interface Row { seq: number; ts: string; type: string; jobId: string | null; text: string }

function summary(frame: EventFrame): string {
  const body = frame.body as Record<string, unknown>;
  for (const key of ["message", "text", "summary", "name", "model"]) {
    const v = body[key];
    if (typeof v === "string" && v) return v.slice(0, 160);
  }
  return "";
}

/** One session's recorded events, replayed from the start over SSE (then live); its Heart tab beside it. */
export function SessionReplay({ sessionId }: { sessionId: string }) {
  const [rows, setRows] = useState<Row[]>([]);
  const [state, setState] = useState<"connecting" | "replaying" | "caught_up" | "offline">("connecting");
  useEffect(() => {
    setRows([]);
    setState("connecting");
    const src = new EventSource(`/v1/events/stream?session=${encodeURIComponent(sessionId)}&user=${encodeURIComponent(store.user)}`);
    src.onopen = () => setState((s) => (s === "caught_up" ? s : "replaying"));
    src.onerror = () => setState(src.readyState === EventSource.CLOSED ? "offline" : "connecting");
    src.addEventListener("caught_up", () => setState("caught_up"));
    src.onmessage = (ev: MessageEvent<string>) => {
      const frame = JSON.parse(ev.data) as EventFrame;
      setRows((prev) => (prev.some((r) => r.seq === frame.seq) ? prev
        : [...prev, { seq: frame.seq, ts: frame.ts, type: frame.event_type, jobId: frame.job_id ?? null, text: summary(frame) }]));
    };
    return () => src.close();
  }, [sessionId]);
  return (
    <main class="center logs-view" aria-label="Session replay">
      <header class="hub-head">
        <button class="btn small" onClick={() => (history.length > 1 ? history.back() : navigate("/usage"))}>← Back</button>
        <div class="hub-title">
          <h1>Session replay</h1>
          <span class="muted small">session <code>{sessionId}</code> · {rows.length} event{rows.length === 1 ? "" : "s"} · the Heart tab shows what it remembered</span>
        </div>
        <span class={`conn conn-${state === "caught_up" ? "live" : state === "offline" ? "offline" : "reconnecting"}`} data-testid="replay-state">
          {state === "caught_up" ? "REPLAYED" : state === "offline" ? "OFFLINE" : "replaying"}</span>
      </header>
      <div class="terminal" data-testid="replay-events" tabIndex={0}>
        {rows.length === 0 && <div class="muted">{state === "caught_up" ? "No events recorded for this session." : "Waiting for events…"}</div>}
        {rows.map((r) => (
          <div key={r.seq} class="logline">
            <span class="ts">#{r.seq} {clock(r.ts)}</span> <span class="svc">{r.type}</span> {r.text}
            {r.jobId && <> · <a href={`/jobs/${r.jobId}?session=${encodeURIComponent(sessionId)}`} onClick={(e) => onLink(e, `/jobs/${r.jobId}?session=${encodeURIComponent(sessionId)}`)}>job</a></>}
          </div>
        ))}
      </div>
    </main>
  );
}
