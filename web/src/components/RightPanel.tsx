import { useEffect, useState } from "preact/hooks";
import { chainText, FANOUT_KEY, fanoutSession, readFanouts, treeOrder, type JobTreeFields } from "../agents";
import { api, errorText, isUnavailable } from "../api";
import { clock, duration } from "../format";
import { navigate } from "../router";
import { ORCHESTRATOR, useStore } from "../store";
import { EvalsSection } from "./Evals";
import { MemoryList, MindUpload } from "./MindMemories";
import { BodyTab } from "./Telemetry";

type Tab = "mind" | "heart" | "body" | "pipeline" | "approvals";

interface Hit { id: string; score: number; text: string; kb?: string; namespace?: string; source?: string }
type Load<T> = { state: "idle" | "loading" } | { state: "ok"; data: T } | { state: "unavailable"; why: string } | { state: "error"; why: string };

function useFetch<T>(path: string | null, deps: unknown[]): Load<T> {
  const [load, setLoad] = useState<Load<T>>({ state: "idle" });
  useEffect(() => {
    if (!path) { setLoad({ state: "idle" }); return; }
    let alive = true;
    setLoad({ state: "loading" });
    api<T>(path).then(
      (data) => alive && setLoad({ state: "ok", data }),
      (err) => alive && setLoad(isUnavailable(err) ? { state: "unavailable", why: errorText(err) } : { state: "error", why: errorText(err) }),
    );
    return () => { alive = false; };
  }, deps);
  return load;
}

function Unavailable({ what, endpoint }: { what: string; endpoint: string }) {
  return <p class="unavailable" data-testid="unavailable">{what} is unavailable: this edge does not serve <code>{endpoint}</code> yet.</p>;
}

function LoadBar({ fraction }: { fraction: number }) {
  const lit = Math.max(0, Math.min(12, Math.round(fraction * 12)));
  return (
    <span class="loadbar" aria-label={`${Math.round(fraction * 100)}%`}>
      {Array.from({ length: 12 }, (_, i) => <i key={i} class={i < lit ? "on" : ""} />)}
    </span>
  );
}

/** `GET /v1/memory/namespaces`: points per knowledge base, per namespace. */
type NamespaceStats = Record<string, Record<string, number>>;

function MindTab({ defaultNamespace, sessionId }: { defaultNamespace: string; sessionId: string }) {
  const s = useStore();
  const stats = useFetch<{ namespaces: NamespaceStats }>("/v1/memory/namespaces", []);
  const [q, setQ] = useState("");
  const [query, setQuery] = useState("");
  const [namespace, setNamespace] = useState(defaultNamespace);
  useEffect(() => setNamespace(defaultNamespace), [defaultNamespace]);
  useEffect(() => { const t = window.setTimeout(() => setQuery(q.trim()), 250); return () => window.clearTimeout(t); }, [q]);
  const hits = useFetch<{ results: Hit[] }>(
    query.length >= 2 ? `/v1/memory/search?q=${encodeURIComponent(query)}&namespace=${encodeURIComponent(namespace)}&k=8` : null, [query, namespace]);
  const list = stats.state === "ok" ? Object.entries(stats.data.namespaces ?? {}).map(([ns, kbs]) => ({ ns, kbs, points: Object.values(kbs).reduce((a, n) => a + n, 0) })) : [];
  const total = list.reduce((a, n) => a + n.points, 0);
  return (
    <div class="mind-tab">
      <h3>Namespaces {total > 0 && <span class="muted small">{total.toLocaleString()} point{total === 1 ? "" : "s"} in all</span>}</h3>
      {stats.state === "loading" && <p class="muted small">Loading…</p>}
      {stats.state === "unavailable" && <Unavailable what="Namespace stats" endpoint="GET /v1/memory/namespaces" />}
      {stats.state === "error" && <p class="error-text small">{stats.why}</p>}
      {stats.state === "ok" && list.length === 0 && <p class="muted small">No memories stored yet.</p>}
      {list.map((n) => (
        <div class="ns" key={n.ns}>
          <span class="ns-name"><code>{n.ns}</code></span>
          <span title="share of all stored points"><LoadBar fraction={total ? n.points / total : 0} /></span>
          <span class="muted small ns-kbs">{n.points.toLocaleString()} point{n.points === 1 ? "" : "s"} · {Object.entries(n.kbs).map(([kb, c]) => `${kb} ${c.toLocaleString()}`).join(" · ")}</span>
        </div>
      ))}
      <h3>Neural Memory Search</h3>
      <div class="row">
        <input type="search" placeholder="Search memory (2+ characters)" value={q} onInput={(e) => setQ(e.currentTarget.value)} aria-label="Neural memory search" style={{ flex: 1, minWidth: 0 }} />
        <select aria-label="Namespace" value={namespace} onChange={(e) => setNamespace(e.currentTarget.value)}>
          {[...new Set([defaultNamespace, "default", ...list.map((n) => n.ns)])].map((ns) => <option key={ns} value={ns}>{ns}</option>)}
        </select>
      </div>
      {hits.state === "loading" && <p class="muted small">Searching…</p>}
      {hits.state === "unavailable" && <Unavailable what="Memory search" endpoint="GET /v1/memory/search" />}
      {hits.state === "error" && <p class="error-text small">{hits.why}</p>}
      {hits.state === "ok" && (
        <ol class="hits" data-testid="memory-hits">
          {hits.data.results.length === 0 && <li class="muted small">No memory matches “{query}”.</li>}
          {hits.data.results.map((h) => (
            <li key={h.id}><span class="score">{h.score.toFixed(3)}</span> <button type="button" class="link hit-open" onClick={() => s.openMemory(h.id)}>{h.text}</button>
              <div class="muted small">{[h.namespace, h.kb, h.source].filter(Boolean).join(" · ")}</div></li>
          ))}
        </ol>
      )}
      <MindUpload sessionId={sessionId} defaultNamespace={defaultNamespace} />
      <MemoryList defaultNamespace={defaultNamespace} />
    </div>
  );
}

interface HistoryItem { role?: string; sender?: string; text?: string; content?: string; message?: string; ts?: string; status?: string }

function HeartTab({ sessionId, twinId }: { sessionId: string; twinId: string }) {
  const history = useFetch<{ history?: HistoryItem[]; messages?: HistoryItem[] }>(`/v1/sessions/${encodeURIComponent(sessionId)}/history`, [sessionId]);
  const items = history.state === "ok" ? history.data.history ?? history.data.messages ?? [] : [];
  return (
    <div>
      <h3>Episodic history <span class="muted small">session {sessionId}</span></h3>
      {history.state === "loading" && <p class="muted small">Loading…</p>}
      {history.state === "unavailable" && <Unavailable what="Episodic history" endpoint="GET /v1/sessions/{id}/history" />}
      {history.state === "error" && <p class="error-text small">{history.why}</p>}
      {history.state === "ok" && items.length === 0 && <p class="muted small">Nothing remembered for this session yet.</p>}
      <ol class="hits">
        {items.map((h, i) => <li key={i}><b>{h.role ?? h.sender ?? ""}</b> {h.text ?? h.content ?? h.message ?? ""} {h.ts && <span class="muted small">{clock(h.ts)}</span>}</li>)}
      </ol>
      <EvalsSection twinId={twinId} sessionId={sessionId} />
    </div>
  );
}

interface JobRecordView extends JobTreeFields { message?: string; status: string; steps: unknown[]; waiting_for: string | null; error: string | null }

/** Jobs' records from the planner (steps taken, what each waits for, the job that asked a sub-job):
 * running ones refreshed while they run, finished ones read once. */
function useJobRecords(running: string[], all: string[]): Map<string, JobRecordView> {
  const [records, setRecords] = useState(new Map<string, JobRecordView>());
  const key = `${running.join(",")}|${all.join(",")}`;
  useEffect(() => {
    if (!all.length) return;
    let alive = true;
    let first = true;
    const load = () => Promise.all((first ? all : running).map((id) => api<JobRecordView>(`/v1/jobs/${encodeURIComponent(id)}`).then((r) => [id, r] as const, () => null)))
      .then((pairs) => {
        first = false;
        if (!alive) return;
        setRecords((prev) => {
          const next = new Map(prev);
          for (const pair of pairs) if (pair) next.set(pair[0], pair[1]);
          return next;
        });
      });
    void load();
    const t = window.setInterval(load, 2000);
    return () => { alive = false; window.clearInterval(t); };
  }, [key]);
  return records;
}

/** The Ops Center's last fan-out: each twin's job, in the session of its own it runs in. */
function FanoutJobs() {
  const s = useStore();
  const last = readFanouts(localStorage.getItem(FANOUT_KEY))[0];
  if (!last) return null;
  const rows = last.twins.map((twinId) => {
    const session = fanoutSession(last.id, twinId);
    return { twinId, session, job: [...(s.sessions.get(session)?.jobs.values() ?? [])][0] };
  });
  return (
    <>
      <h3>Fan-out <span class="muted small">{last.directive.slice(0, 60)}</span></h3>
      <ul class="jobs" data-testid="pipeline-fanout">
        {rows.map(({ twinId, session, job }) => (
          <li key={twinId} data-twin={twinId}>
            <button class="job" disabled={!job} onClick={() => job && navigate(`/jobs/${job.jobId}?session=${encodeURIComponent(session)}`)}>
              <span class={`badge job-${job?.status ?? "pending"}`}>{(job?.status ?? "sending").replace("_", " ")}</span>
              <span class="job-msg">{s.twin(twinId)?.codename ?? twinId}</span>
              <span class="muted small">session {session}</span>
            </button>
          </li>
        ))}
      </ul>
    </>
  );
}

function PipelineTab({ sessionId, twinId }: { sessionId: string; twinId: string }) {
  const s = useStore();
  const jobs = [...s.session(sessionId).jobs.values()].reverse();
  const running = jobs.filter((j) => !["completed", "failed", "cancelled"].includes(j.status)).map((j) => j.jobId);
  const records = useJobRecords(running, jobs.map((j) => j.jobId));
  const now = Date.now();
  const rows = treeOrder(jobs, records);
  return (
    <div>
      <h3>Mission Pipeline <span class="muted small">this session</span></h3>
      {jobs.length === 0 && <p class="muted small">No jobs in this session yet.</p>}
      <ul class="jobs" data-testid="pipeline">
        {rows.map(({ job: j, depth, parent }) => {
          const end = j.finishedAt ? Date.parse(j.finishedAt) : now;
          const known = records.get(j.jobId);
          const record = running.includes(j.jobId) ? known : undefined;
          const steps = record ? record.steps.length : j.decisions;
          const twin = known?.twin_id ?? j.twinId;
          const chain = twin ? chainText(known?.chain, twin) : null;
          return (
            <li key={j.jobId} class={depth > 0 ? "subjob" : ""} style={depth > 1 ? { marginLeft: `${16 * depth}px` } : undefined}
              data-testid={depth > 0 ? "pipeline-subjob" : "pipeline-job"} data-job={j.jobId} data-parent={parent ?? ""}>
              <button class="job" onClick={() => navigate(`/jobs/${j.jobId}?session=${sessionId}`)}>
                <span class={`badge job-${j.status}`}>{j.status.replace("_", " ")}</span>
                <span class="job-msg">{depth > 0 && "↳ "}{j.message || known?.message || j.jobId}</span>
                {chain && <span class="chain" data-testid="pipeline-chain">{chain}</span>}
                <span class="muted small">
                  {twin && !chain ? `${twin} · ` : ""}{steps} step{steps === 1 ? "" : "s"} · {duration(Math.max(0, end - Date.parse(j.startedAt)))}
                  {record?.waiting_for ? ` · waiting for ${record.waiting_for === "subjob" ? "another twin's answer" : record.waiting_for}` : ""}
                </span>
              </button>
            </li>
          );
        })}
      </ul>
      {twinId === ORCHESTRATOR && <FanoutJobs />}
    </div>
  );
}

function ApprovalsTab() {
  const s = useStore();
  const pending = s.allPending();
  return (
    <div>
      <h3>Pending approvals</h3>
      {pending.length === 0 && <p class="muted small">Nothing waits for a decision.</p>}
      <ul class="jobs" data-testid="pending-approvals">
        {pending.map((a) => (
          <li key={a.approval_id}>
            <button class="job" onClick={() => { s.dismissed.delete(a.approval_id); if (!s.sessions.has(a.session_id)) s.session(a.session_id); s.changed(); }}>
              <span class={`kind-badge ${a.kind}`}>{a.kind.replace("_", " ")}</span>
              <span class="job-msg">{a.summary.split("\n")[0]}</span>
              <span class="muted small">{a.twin_id} · session {a.session_id} · expires {clock(a.expires_at)}</span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function RightPanel({ sessionId, twinId }: { sessionId: string; twinId: string }) {
  const s = useStore();
  const [tab, setTab] = useState<Tab>(() => (localStorage.getItem("pagi.tab") as Tab | null) ?? "pipeline");
  const pick = (t: Tab) => { setTab(t); localStorage.setItem("pagi.tab", t); };
  const pending = s.allPending().length;
  const tabs: [Tab, string][] = [["mind", "Mind"], ["heart", "Heart"], ["body", "Body"], ["pipeline", "Pipeline"], ["approvals", "Approvals"]];
  return (
    <aside class="sidebar right" aria-label="Twin state">
      <div class="tabs" role="tablist">
        {tabs.map(([id, label]) => (
          <button key={id} role="tab" aria-selected={tab === id} class={`tab ${tab === id ? "active" : ""}`} onClick={() => pick(id)}
            aria-label={id === "approvals" && pending ? `Approvals (${pending})` : label}>{label}{id === "approvals" && pending > 0 && <span class="count">{pending}</span>}</button>
        ))}
      </div>
      <div class="tab-body" role="tabpanel">
        {tab === "mind" && <MindTab defaultNamespace={s.twin(twinId)?.memory_namespace ?? "default"} sessionId={sessionId} />}
        {tab === "heart" && <HeartTab sessionId={sessionId} twinId={twinId} />}
        {tab === "body" && <BodyTab />}
        {tab === "pipeline" && <PipelineTab sessionId={sessionId} twinId={twinId} />}
        {tab === "approvals" && <ApprovalsTab />}
      </div>
    </aside>
  );
}

