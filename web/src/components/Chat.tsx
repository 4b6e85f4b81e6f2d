import { useEffect, useRef, useState } from "preact/hooks";
import { api, errorText, isUnavailable } from "../api";
import { clock, duration } from "../format";
import { citationLabel } from "../memory";
import { navigate, onLink } from "../router";
import { isBusy, sessionCounts, type ChatMessage } from "../session";
import { ORCHESTRATOR, store, useStore } from "../store";
import { timelineSvg } from "../timeline";
import type { SourceMemory, Twin } from "../types";
import { Avatar } from "./Avatar";
import { UploadList } from "./Uploads";
import { FanoutPanel } from "./Fanout";
import { currentTwin } from "../agents";

const CONNECTION_LABEL = { connecting: "connecting", live: "LIVE", reconnecting: "reconnecting", offline: "offline" } as const;

export function ConnectionBadge() {
  const s = useStore();
  return (
    <>
      <span id="connection" class={`conn conn-${s.connection}`} title={s.connectionDetail} data-state={s.connection}>
        {CONNECTION_LABEL[s.connection]}
      </span>
      {(s.connection === "offline" || s.connection === "reconnecting") && (
        <><span class="muted small conn-detail" title={s.connectionDetail}>{s.connectionDetail}</span>
          <button class="link small" onClick={() => s.socket.retryNow()}>retry now</button></>
      )}
    </>
  );
}

function GlobalStatus({ sessionId }: { sessionId: string }) {
  const s = useStore();
  const services = Object.entries(s.health?.services ?? {});
  const up = services.filter(([, v]) => v.status === "up").length;
  const counts = sessionCounts(s.session(sessionId));
  const pending = s.allPending().length;
  return (
    <section class="status-cards" aria-label="Global status" data-testid="global-status">
      <div class={`card ${s.health?.status === "ok" ? "ok" : "warn"}`}>
        <span class="card-label">Services healthy</span>
        <span class="card-value">{s.health ? `${up}/${services.length}` : "…"}</span>
        <span class="card-sub">{s.healthError ? `edge unreachable: ${s.healthError}` : s.health?.problems[0] ?? (s.health ? "all services up" : "checking")}</span>
      </div>
      <div class={`card ${pending ? "warn" : "ok"}`}>
        <span class="card-label">Approvals pending</span>
        <span class="card-value" data-testid="approvals-pending">{pending}</span>
        <span class="card-sub">across all sessions</span>
      </div>
      <div class={`card ${counts.failed ? "bad" : "ok"}`}>
        <span class="card-label">Jobs failed</span>
        <span class="card-value">{counts.failed}</span>
        <span class="card-sub">{counts.completed} completed, {counts.running} running in this session</span>
      </div>
      <div class="card">
        <span class="card-label">Sandbox</span>
        <span class="card-value small-value">{s.health?.sandbox?.mode ?? "…"}</span>
        <span class="card-sub">tool isolation</span>
      </div>
    </section>
  );
}

function GenerativeTasks({ twinId, sessionId }: { twinId: string; sessionId: string }) {
  const [patchOpen, setPatchOpen] = useState(false);
  const [name, setName] = useState("patch_tool");
  const [code, setCode] = useState('import json, sys\n\nargs = json.load(sys.stdin)\nprint(json.dumps({"ok": True, "args": args}))\n');
  const [svg, setSvg] = useState<string | null>(null);
  const synthesize = (ev: Event) => {
    ev.preventDefault();
    store.send(twinId, `/build ${name} python\n${code}`);
    setPatchOpen(false);
  };
  const evidence = () => setSvg(timelineSvg(sessionId, store.session(sessionId).timeline));
  return (
    <section class="tasks" aria-label="Generative tasks">
      <button class="btn task" onClick={() => setPatchOpen(!patchOpen)} aria-expanded={patchOpen}>⚙ Synthesize Patch</button>
      <button class="btn task" onClick={evidence}>◧ Generate Visual Evidence</button>
      <button class="btn task" disabled title="No video provider is configured on this stack">▶ Render Video Brief</button>
      <span class="muted small task-note">Video: disabled, no video provider configured.</span>
      {patchOpen && (
        <form class="patch-form" onSubmit={synthesize}>
          <label>Tool name <input value={name} pattern="[a-z][a-z0-9_]{0,63}" required onInput={(e) => setName(e.currentTarget.value)} /></label>
          <label>Python source (reads JSON args on stdin)
            <textarea rows={6} value={code} onInput={(e) => setCode(e.currentTarget.value)} class="mono" /></label>
          <button class="btn primary" type="submit">Request build</button>
          <span class="muted small">Sends a build request; it runs only after you authorise it.</span>
        </form>
      )}
      {svg && (
        <div class="evidence" data-testid="evidence">
          <div class="evidence-head">
            <span>Visual evidence: session timeline</span>
            <a class="btn small" download={`${sessionId}-timeline.svg`} href={`data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`}>Download SVG</a>
            <button class="btn small" onClick={() => setSvg(null)}>Close</button>
          </div>
          <div class="evidence-body" dangerouslySetInnerHTML={{ __html: svg }} />
        </div>
      )}
    </section>
  );
}

function Message({ msg, twin, sessionId }: { msg: ChatMessage; twin: Twin | undefined; sessionId: string }) {
  const [saved, setSaved] = useState<string | null>(null);
  const save = async () => {
    try {
      const res = await api<{ id: string; namespace: string; kb: string }>("/v1/memory", {
        method: "POST",
        json: { text: msg.text, session_id: sessionId, source: `message:${msg.eventId ?? msg.key}` },
      });
      setSaved(`saved to ${res.namespace}/${res.kb} as ${res.id}`);
    } catch (err) {
      setSaved(isUnavailable(err) ? "Save to Memory is unavailable: this edge has no memory endpoint yet" : `not saved: ${errorText(err)}`);
    }
  };
  if (msg.role === "user") {
    return (
      <li class="msg user" data-job={msg.jobId ?? ""} id={msg.eventId ? `ev-${msg.eventId}` : undefined}>
        <div class="bubble"><div class="text">{msg.text}</div></div>
        <div class="meta">{clock(msg.ts)}{msg.jobId ? "" : " · sending"}</div>
      </li>
    );
  }
  return (
    <li class={`msg twin ${msg.streaming ? "streaming" : ""}`} data-job={msg.jobId ?? ""} id={msg.eventId ? `ev-${msg.eventId}` : undefined}>
      <Avatar twin={twin} size={30} />
      <div class="msg-body">
        <div class="bubble">
          <div class="text">{msg.text}{msg.streaming && <span class="cursor" aria-hidden="true">▍</span>}</div>
          {msg.command && (
            <div class="command-chip">
              {msg.command.approval_id && <span class={`approval-state ${msg.decision ?? "awaiting"}`} data-testid="approval-state">{msg.decision ?? "awaiting approval"}</span>}
              {msg.command.command === "execute_tool" && <>tool <b>{msg.command.tool_name}</b></>}
              {msg.command.command === "show_memory_page" && <>memory query: <b>{msg.command.query}</b></>}
              {msg.command.command === "build_tool" && <>build: <b>{msg.command.tool_name}</b> ({msg.command.language})</>}
              {msg.command.command === "self_improve" && <>prompt change proposed</>}
              {msg.command.command === "prompt_for_config" && <>config needed: <b>{msg.command.config_key}</b> {msg.command.prompt}</>}
            </div>
          )}
          {msg.sources.length > 0 && <Citations sources={msg.sources} />}
        </div>
        <div class="meta">
          {twin?.codename ?? "twin"} · {clock(msg.ts)}
          {msg.latencyMs !== null && ` · answered in ${duration(msg.latencyMs)}`}
          {msg.jobId && <> · <a href={`/jobs/${msg.jobId}?session=${sessionId}`} onClick={(e) => onLink(e, `/jobs/${msg.jobId}?session=${sessionId}`)}>logs</a></>}
          {!msg.streaming && msg.text && <> · <button class="link" onClick={save}>Save to Memory</button></>}
          {saved && <span class="save-note"> · {saved}</span>}
        </div>
      </div>
    </li>
  );
}

/** What an answer used: each memory hit as "runbook.pdf p. 12" (or its session), opening the memory. */
function Citations({ sources }: { sources: SourceMemory[] }) {
  return (
    <div class="sources" data-testid="citations">
      <span class="muted small">Sources ({sources.length})</span>
      <ol>
        {sources.map((src) => (
          <li key={src.id}>
            <button type="button" class="citation link" data-testid="citation" data-memory={src.id}
              title={`${src.namespace ?? ""}/${src.kb ?? ""}: ${src.text.slice(0, 300)}`} onClick={() => store.openMemory(src.id)}>
              {citationLabel(src)}</button>
            <span class="score muted small"> {src.score.toFixed(2)}</span>
            {(src.namespace || src.kb) && <span class="muted small"> · {[src.namespace, src.kb].filter(Boolean).join("/")}</span>}
          </li>
        ))}
      </ol>
    </div>
  );
}

// GET /v1/tools: a registry tool, or (kind "mcp") a tool a registered MCP server lists, whose
// description is the server's own words.
interface ToolEntry {
  name: string; description: string; always_allow?: boolean; args_schema?: { properties?: Record<string, unknown> };
  kind?: string; server?: string; tool?: string; annotations?: Record<string, unknown>;
}

function exampleArgs(tool: ToolEntry | undefined): string {
  const props = Object.keys(tool?.args_schema?.properties ?? {});
  return JSON.stringify(Object.fromEntries(props.map((p) => [p, ""])));
}

function Composer({ twin, twinId }: { twin: Twin | undefined; twinId: string }) {
  const [text, setText] = useState("");
  const picker = useRef<HTMLInputElement>(null);
  const [menu, setMenu] = useState(false);
  const [registry, setRegistry] = useState<ToolEntry[] | null>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  useEffect(() => input.current?.focus(), [twinId]);
  useEffect(() => {
    if (!menu) return;
    api<{ tools: ToolEntry[] }>(`/v1/tools?twin=${encodeURIComponent(twinId)}`).then((d) => setRegistry(d.tools), () => setRegistry(null));
  }, [menu, twinId]);
  const send = () => {
    const value = text.trim();
    if (!value) return;
    store.send(twinId, value);
    setText("");
  };
  // This twin's authorised tools: the registry's entries for it, plus any authorised name it does not
  // list; then the MCP tools its mcp_tools allows (the edge lists only those for ?twin=).
  const allowed = twin?.allowed_tools ?? [];
  const byName = new Map((registry ?? []).map((t) => [t.name, t]));
  const mcp = (registry ?? []).filter((t) => t.kind === "mcp");
  const names = [...new Set([...allowed, ...byName.keys()])].filter((n) => allowed.includes(n) && byName.get(n)?.kind !== "mcp").sort();
  return (
    <form class="composer" onSubmit={(e) => { e.preventDefault(); send(); }} autocomplete="off">
      <div class="tool-menu-wrap">
        <button type="button" class="btn small" aria-haspopup="menu" aria-expanded={menu} title="Tools this twin may use" onClick={() => setMenu(!menu)}
          onKeyDown={(e) => { if (e.key === "Escape") setMenu(false); }}>Tools ▴</button>
        {menu && (
          <ul class="tool-menu" role="menu" data-testid="tool-menu" onKeyDown={(e) => { if (e.key === "Escape") { setMenu(false); input.current?.focus(); } }}>
            {names.length === 0 && mcp.length === 0 && <li class="muted small">This twin has no authorised tools.</li>}
            {names.map((t) => {
              const entry = byName.get(t);
              return (
                <li key={t}><button type="button" role="menuitem" title={entry?.description ?? ""}
                  onClick={() => { setText(`/tool ${t} ${exampleArgs(entry)}`); setMenu(false); input.current?.focus(); }}>
                  <code>{t}</code>{twin?.always_allow.includes(t) ? <span class="muted small"> · always allowed</span> : null}
                  {entry?.description && <span class="tool-desc muted small">{entry.description}</span>}</button></li>
              );
            })}
            {mcp.map((t) => (
              <li key={t.name} data-testid="tool-menu-mcp"><button type="button" role="menuitem" title={`${t.server}: ${t.description}`}
                onClick={() => { setText(`/tool ${t.name} ${exampleArgs(t)}`); setMenu(false); input.current?.focus(); }}>
                <code>{t.name}</code> <span class="muted small">· MCP server <b>{t.server}</b>{t.always_allow ? " · always allowed" : ""}</span>
                {t.description && <span class="tool-desc muted small server-words">{t.server} says: {t.description}</span>}</button></li>
            ))}
          </ul>
        )}
      </div>
      <input ref={picker} type="file" multiple hidden data-testid="upload-input" aria-label="Upload files"
        onChange={(e) => { const files = [...(e.currentTarget.files ?? [])]; e.currentTarget.value = ""; if (files.length) store.upload(store.sessionIdFor(twinId), files); }} />
      <button type="button" class="btn small" data-testid="upload-button" title="Upload documents into memory (PDF, DOCX, PPTX, XLSX, CSV, HTML, Markdown, text, JSON, YAML); each asks your approval before it is stored"
        onClick={() => picker.current?.click()}>Upload…</button>
      <label for="message" class="visually-hidden">Message</label>
      <textarea id="message" ref={input} rows={1} value={text} maxLength={32000} placeholder={`Message ${twin?.codename ?? twinId}… (Enter sends, Shift+Enter: new line)`}
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); } }} />
      <button type="submit" id="send" class="btn primary" disabled={!text.trim()}>Send</button>
    </form>
  );
}

export function Hub({ twinId }: { twinId: string }) {
  const s = useStore();
  const twin = s.twin(twinId);
  const sessionId = s.sessionIdFor(twinId);
  const session = s.session(sessionId);
  const list = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  const busy = isBusy(session);
  const running = [...session.jobs.values()].filter((j) => !["completed", "failed", "cancelled"].includes(j.status)).pop();
  const [dragging, setDragging] = useState(false);
  const dropping = (e: DragEvent) => !!e.dataTransfer && [...e.dataTransfer.types].includes("Files");

  const jumped = useRef<string | null>(null);
  useEffect(() => {
    // A search hit opens the chat at its message (#ev-<event id>), once it has been replayed.
    const hash = location.hash.slice(1);
    if (hash && jumped.current !== hash) {
      const target = document.getElementById(hash);
      if (target) {
        jumped.current = hash;
        stick.current = false;
        target.scrollIntoView({ block: "center" });
        target.classList.add("highlight");
        return;
      }
    }
    const el = list.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  });

  if (s.twinsLoaded && !twin && !s.twinsError) {
    return <main class="center"><div class="empty"><h1>No twin “{twinId}”</h1><p>It may have been deleted.</p><a href="/" onClick={(e) => onLink(e, "/")}>Back to Ops Center</a></div></main>;
  }
  return (
    <main class={`center hub ${dragging ? "dragging" : ""}`} aria-label={twinId === ORCHESTRATOR ? "Orchestrator Hub" : `Chat with ${twin?.codename ?? twinId}`}
      data-testid="chat-drop"
      onDragOver={(e) => { if (dropping(e)) { e.preventDefault(); if (!dragging) setDragging(true); } }}
      onDragLeave={(e) => { if (e.currentTarget === e.target) setDragging(false); }}
      onDrop={(e) => {
        if (!dropping(e)) return;
        e.preventDefault();
        setDragging(false);
        const files = [...(e.dataTransfer?.files ?? [])];
        if (files.length) store.upload(sessionId, files);
      }}>
      {dragging && <div class="drop-hint" data-testid="drop-hint">Drop files to upload them into memory (each asks your approval)</div>}
      <header class="hub-head">
        <Avatar twin={twin} size={40} />
        <div class="hub-title">
          <h1>{twinId === ORCHESTRATOR ? "Orchestrator Hub" : twin?.codename ?? twinId}</h1>
          <span class="muted small">{twin?.designation}{twin ? " · " : ""}session <code data-testid="session-id">{sessionId}</code></span>
        </div>
        <ConnectionBadge />
        <button class="btn small" onClick={() => s.newSessionFor(twinId)} title="Start a new session with this twin">New session</button>
        <button class="btn small" onClick={() => navigate(`/twins/${encodeURIComponent(twinId)}/settings`)}>Configure Agent</button>
      </header>
      {twinId === ORCHESTRATOR && <GlobalStatus sessionId={sessionId} />}
      {twinId === ORCHESTRATOR && <GenerativeTasks twinId={twinId} sessionId={sessionId} />}
      {twinId === ORCHESTRATOR && <FanoutPanel />}
      {session.handoffs.length > 0 && <HandoffNote sessionId={sessionId} openedWith={twinId} />}
      <ol id="messages" class="messages" ref={list} aria-live="polite"
        onScroll={(e) => { const el = e.currentTarget; stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40; }}>
        {session.messages.length === 0 && (
          <li class="empty-chat muted">Direct command stream. Try “hello”, “search for recent SSH attacks”, “run command ls -la”, or “/memory …”.</li>
        )}
        {session.messages.map((m) => {
          // An answer by another twin (a sub-job's, or after a handoff) shows that twin.
          const by = m.role === "twin" && m.jobId ? session.jobs.get(m.jobId)?.twinId : null;
          return <Message key={m.key} msg={m} twin={by && by !== twinId ? s.twin(by) ?? twin : twin} sessionId={sessionId} />;
        })}
      </ol>
      <UploadList sessionId={sessionId} />
      <div id="activity" class="activity" aria-live="polite">
        {busy ? (
          <span class="thinking" data-testid="thinking"><span class="dots"><i /><i /><i /></span> {twin?.codename ?? "twin"} is {running?.status === "waiting_approval" ? "waiting for your approval" : "thinking"}{running?.lastDetail ? `: ${running.lastDetail.length > 160 ? `${running.lastDetail.slice(0, 160)}…` : running.lastDetail}` : ""}</span>
        ) : session.lastError ? <span class="error-text">{session.lastError}</span> : lastAnswerNote(session.messages)}
      </div>
      <Composer twin={twin} twinId={twinId} />
    </main>
  );
}

/** The session was handed to another twin (ActionHandoff): who it talks to now, and who handed it. */
function HandoffNote({ sessionId, openedWith }: { sessionId: string; openedWith: string }) {
  const s = useStore();
  const handoffs = s.session(sessionId).handoffs;
  const last = handoffs[handoffs.length - 1]!;
  const now = currentTwin(handoffs, openedWith);
  const to = s.twin(now);
  const from = last.from ? s.twin(last.from)?.codename ?? last.from : null;
  return (
    <p class="handoff-note" data-testid="handoff-note" data-twin={now} role="status">
      This session now talks to <b>{to?.codename ?? now}</b>{from ? <> (handed over by {from}{last.reason ? `: ${last.reason}` : ""})</> : last.reason ? ` (${last.reason})` : ""}.
      {" "}Your messages here go to {to?.codename ?? now}.
    </p>
  );
}

function lastAnswerNote(messages: ChatMessage[]): string {
  const last = [...messages].reverse().find((m) => m.role === "twin" && !m.streaming);
  return last?.latencyMs != null ? `answered in ${duration(last.latencyMs)}` : "";
}
