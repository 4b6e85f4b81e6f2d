import { useEffect, useRef, useState } from "preact/hooks";
import { api, errorText, isUnavailable } from "../api";
import { clock } from "../format";
import { navigate } from "../router";
import { normaliseSearch, type LogHit, type MessageHit } from "../search";
import { store } from "../store";

type State = { kind: "idle" } | { kind: "loading" } | { kind: "ok"; messages: MessageHit[]; logs: LogHit[] } | { kind: "unavailable"; why: string } | { kind: "error"; why: string };

function openMessage(hit: MessageHit): void {
  const twin = hit.twinId ?? "orchestrator";
  if (hit.sessionId) {
    localStorage.setItem(`pagi.session.${twin}`, hit.sessionId);
    store.session(hit.sessionId);
  }
  navigate(`${twin === "orchestrator" ? "/" : `/twins/${encodeURIComponent(twin)}`}${hit.eventId ? `#ev-${hit.eventId}` : ""}`);
}

export function Search() {
  const [q, setQ] = useState(() => new URLSearchParams(location.search).get("q") ?? "");
  const [state, setState] = useState<State>({ kind: "idle" });
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  useEffect(() => {
    const query = q.trim();
    history.replaceState(null, "", query ? `/search?q=${encodeURIComponent(query)}` : "/search");
    if (query.length < 2) { setState({ kind: "idle" }); return; }
    let alive = true;
    const run = (first: boolean) => {
      if (first) setState({ kind: "loading" });
      api<unknown>(`/v1/search?q=${encodeURIComponent(query)}`).then(
        (data) => alive && setState({ kind: "ok", ...normaliseSearch(data) }),
        (err) => alive && setState(isUnavailable(err) ? { kind: "unavailable", why: errorText(err) } : { kind: "error", why: errorText(err) }),
      );
    };
    const t = window.setTimeout(() => run(true), 150);
    // Live: new messages and log lines are indexed as they happen, so the results refresh while open.
    const every = window.setInterval(() => run(false), 3000);
    return () => { alive = false; window.clearTimeout(t); window.clearInterval(every); };
  }, [q]);
  const count = state.kind === "ok" ? state.messages.length + state.logs.length : 0;
  return (
    <main class="center search-view" aria-label="Search Archive">
      <header class="hub-head"><div class="hub-title"><h1>Search Archive</h1><span class="muted small">every chat message and job log line</span></div></header>
      <input ref={input} class="search-box" type="search" placeholder="Search messages and logs (2+ characters)…" value={q} onInput={(e) => setQ(e.currentTarget.value)} aria-label="Search the archive" />
      <div class="search-meta muted small" data-testid="search-meta">
        {state.kind === "idle" && (q.trim().length === 1 ? "Type one more character." : "Live search starts at 2 characters.")}
        {state.kind === "loading" && "Searching…"}
        {state.kind === "ok" && `${count} match${count === 1 ? "" : "es"}`}
        {state.kind === "unavailable" && "Search unavailable"}
        {state.kind === "error" && "Search failed"}
      </div>
      {state.kind === "unavailable" && <p class="unavailable" data-testid="unavailable">Search is unavailable: this edge does not serve <code>GET /v1/search</code> yet. Nothing is shown rather than guessed.</p>}
      {state.kind === "error" && <p class="error-text" role="alert">Search failed: {state.why}</p>}
      {state.kind === "ok" && (
        <div class="search-cols">
          <section data-testid="intel-stream">
            <h2>Intel Stream <span class="muted small">{state.messages.length}</span></h2>
            {state.messages.length === 0 && <p class="muted small">No message matches.</p>}
            <ul class="hits">{state.messages.map((h, i) => (
              <li key={i}><button class="job" onClick={() => openMessage(h)}>
                <span class="job-msg">{h.text}</span>
                <span class="muted small">{[h.sender, h.twinId, h.sessionId && `session ${h.sessionId}`, h.ts && clock(h.ts)].filter(Boolean).join(" · ")}</span>
              </button></li>))}</ul>
          </section>
          <section data-testid="execution-logs">
            <h2>Execution Logs <span class="muted small">{state.logs.length}</span></h2>
            {state.logs.length === 0 && <p class="muted small">No log matches.</p>}
            <ul class="hits">{state.logs.map((h, i) => (
              <li key={i}><button class="job" disabled={!h.jobId} onClick={() => h.jobId && navigate(`/jobs/${h.jobId}${h.sessionId ? `?session=${h.sessionId}` : ""}`)}>
                <span class={`logline lvl-${h.level}`}>{h.level.toUpperCase()} {h.text}</span>
                <span class="muted small">{[h.jobId && `job ${h.jobId}`, h.ts && clock(h.ts)].filter(Boolean).join(" · ")}</span>
              </button></li>))}</ul>
          </section>
        </div>
      )}
    </main>
  );
}
