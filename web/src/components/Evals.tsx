// The Heart tab's Evals section (GET/POST /v1/evals, runs): a twin's eval sets, made from recorded turns
// of its sessions, run against a prompt version with the recorded replies, and how each case did.
import { useEffect, useState } from "preact/hooks";
import { api, errorText, isUnavailable } from "../api";
import { caseRows, checkText, evalSetWrite, evalsPath, finishedRun, percent, resultLine, runPath, setPath, type CaseForm } from "../evals";
import { store, useStore } from "../store";
import type { EvalResult, EvalRunStarted, EvalSet, EvalSetList, EvalSetView, PromptVersionMeta } from "../types";

// A run of a few recorded turns takes seconds; past this the view stops asking and says so.
const RUN_WAIT_MS = 180_000;
const POLL_MS = 1000;

function Result({ set, result }: { set: EvalSet | null; result: EvalResult }) {
  if (result.state === "running") return <p class="muted small" data-testid="eval-running">Running…</p>;
  return (
    <div data-testid="eval-result" data-run={result.run_id}>
      <p class="small"><b data-testid="eval-result-line">{resultLine(result)}</b>{" "}
        <span class="muted">· prompt {result.prompt_version === null ? "current" : `v${result.prompt_version}`}
          {" "}· {result.llm_calls} model call{result.llm_calls === 1 ? "" : "s"} ({result.replayed_calls} replayed) · {result.seconds.toFixed(1)} s</span></p>
      {result.state === "failed" && <p class="error-text small" data-testid="eval-failed">The run failed: {result.error ?? "no reason given"}</p>}
      <ol class="hits eval-cases" data-testid="eval-cases">
        {caseRows(set, result).map(({ c, message, verdict, vsBaseline }) => (
          <li key={c.case_id} class={`eval-case ${verdict}`} data-testid="eval-case" data-case={c.case_id} data-verdict={verdict}>
            <b>{verdict}</b> <code>{c.case_id}</code> {message && <span class="muted">“{message.slice(0, 80)}”</span>}
            {vsBaseline && <span class="muted small"> · {vsBaseline}</span>}
            {c.error && <div class="small">{c.error}</div>}
            <ul class="eval-checks small muted">{c.checks.map((k, i) => (
              <li key={i}>{k.passed === null ? "not judged" : k.passed ? "✓" : "✗"} {checkText(k)}{k.detail && `: ${k.detail}`}</li>
            ))}</ul>
          </li>
        ))}
      </ol>
    </div>
  );
}

function SetCard({ set, twinId, onDeleted }: { set: EvalSet; twinId: string; onDeleted: () => void }) {
  const [open, setOpen] = useState(false);
  const [detail, setDetail] = useState<EvalSetView | null>(null);
  const [versions, setVersions] = useState<PromptVersionMeta[]>([]);
  const [version, setVersion] = useState("");
  const [baseline, setBaseline] = useState(true);
  const [running, setRunning] = useState<string | null>(null);
  const [latest, setLatest] = useState<EvalResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () => api<EvalSetView>(setPath(set.set_id)).then((found) => {
    setDetail(found);
    setLatest((prev) => prev ?? found.results[0] ?? null);
  }, (e) => setError(errorText(e)));
  useEffect(() => {
    if (!open) return;
    void load();
    api<{ versions: PromptVersionMeta[] }>(`/v1/twins/${encodeURIComponent(twinId)}/prompt/versions`).then((d) => setVersions(d.versions), () => setVersions([]));
  }, [open, set.set_id]);
  useEffect(() => {
    if (!running) return;
    let alive = true;
    const until = Date.now() + RUN_WAIT_MS;
    const poll = window.setInterval(() => {
      api<EvalResult>(runPath(set.set_id, running)).then((r) => {
        if (!alive) return;
        setLatest(r);
        if (finishedRun(r)) { setRunning(null); void load(); }
      }, (e) => {
        // 404 until the runner has stored the result.
        if (alive && !isUnavailable(e)) { setError(errorText(e)); setRunning(null); }
      });
      if (Date.now() > until && alive) { setError(`no result after ${RUN_WAIT_MS / 1000} s: is the planner's eval runner up?`); setRunning(null); }
    }, POLL_MS);
    return () => { alive = false; window.clearInterval(poll); };
  }, [running]);
  const run = async () => {
    setError(null);
    try {
      const body: { baseline: boolean; prompt_version?: number } = { baseline };
      if (version) body.prompt_version = Number(version);
      const reply = await api<EvalRunStarted>(runPath(set.set_id), { method: "POST", json: body });
      setLatest(null);
      setRunning(reply.run_id);
    } catch (e) { setError(errorText(e)); }
  };
  const remove = async () => {
    try {
      await api(setPath(set.set_id), { method: "DELETE" });
      store.notify(`Eval set ${set.set_id} deleted`);
      onDeleted();
    } catch (e) { setError(errorText(e)); }
  };
  return (
    <li data-testid="eval-set" data-set={set.set_id}>
      <button type="button" class="link" aria-expanded={open} onClick={() => setOpen(!open)}><code>{set.set_id}</code></button>
      <span class="muted small"> {set.cases.length} case{set.cases.length === 1 ? "" : "s"} · by {set.created_by}</span>
      {set.description && <div class="small">{set.description}</div>}
      {open && (
        <div class="evals">
          <div class="row wrap">
            <label class="small">Prompt
              <select data-testid="eval-version" value={version} onChange={(e) => setVersion(e.currentTarget.value)}>
                <option value="">current</option>
                {versions.slice().reverse().map((v) => <option key={v.version} value={String(v.version)}>v{v.version} · {v.rationale.slice(0, 40)}</option>)}
              </select></label>
            <label class="check small"><input type="checkbox" checked={baseline} onChange={(e) => setBaseline(e.currentTarget.checked)} /> compare with the current prompt</label>
            <button type="button" class="btn small primary" data-testid="eval-run" disabled={running !== null} onClick={() => void run()}>{running ? "Running…" : "Run"}</button>
            <button type="button" class="btn small danger" onClick={() => void remove()}>Delete set</button>
          </div>
          {error && <p class="error-text small" role="alert" data-testid="eval-error">{error}</p>}
          {running && <p class="muted small" data-testid="eval-running">Running {set.set_id}: re-running its recorded turns…</p>}
          {!running && latest && <Result set={detail?.set ?? set} result={latest} />}
          {!running && !latest && detail && <p class="muted small">Not run yet.</p>}
        </div>
      )}
    </li>
  );
}

const NEW_CASE = (sessionId: string): CaseForm => ({ session_id: sessionId, job_id: "", checks: "" });

function CreateSet({ twinId, sessionId, onCreated }: { twinId: string; sessionId: string; onCreated: () => void }) {
  const s = useStore();
  const [setId, setSetId] = useState("");
  const [description, setDescription] = useState("");
  const [cases, setCases] = useState<CaseForm[]>([NEW_CASE(sessionId)]);
  const [problems, setProblems] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const sessions = [...s.sessions.keys()].filter((id) => id === sessionId || id.startsWith(twinId.slice(0, 40)));
  const change = (i: number, patch: Partial<CaseForm>) => setCases(cases.map((c, j) => (j === i ? { ...c, ...patch } : c)));
  const create = async (ev: Event) => {
    ev.preventDefault();
    const made = evalSetWrite(setId, twinId, description, cases);
    if ("problems" in made) { setProblems(made.problems); return; }
    setBusy(true);
    try {
      await api(`/v1/evals`, { method: "POST", json: made.body });
      store.notify(`Eval set ${made.body.set_id} created`);
      setSetId(""); setDescription(""); setCases([NEW_CASE(sessionId)]); setProblems([]);
      onCreated();
    } catch (e) { setProblems([errorText(e)]); } finally { setBusy(false); }
  };
  return (
    <form class="eval-form evals" data-testid="eval-create" onSubmit={create} noValidate>
      <label class="small">Set id <input data-testid="eval-set-id" value={setId} placeholder="e.g. regressions" onInput={(e) => setSetId(e.currentTarget.value)} /></label>
      <label class="small">Description <input value={description} onInput={(e) => setDescription(e.currentTarget.value)} /></label>
      {cases.map((c, i) => {
        const jobs = [...(s.sessions.get(c.session_id)?.jobs.values() ?? [])].filter((j) => j.status === "completed");
        return (
          <fieldset key={i} class="panel" data-testid="eval-case-form">
            <legend class="small">Turn {i + 1}</legend>
            <label class="small">Session <input data-testid="eval-session" list="eval-sessions" value={c.session_id} onInput={(e) => change(i, { session_id: e.currentTarget.value, job_id: "" })} /></label>
            <label class="small">Turn
              <select data-testid="eval-job" value={c.job_id} onChange={(e) => change(i, { job_id: e.currentTarget.value })}>
                <option value="">the session's last finished turn</option>
                {jobs.map((j) => <option key={j.jobId} value={j.jobId}>{(j.message || j.jobId).slice(0, 60)}</option>)}
              </select></label>
            <label class="small">Checks, one a line: <code>regex:…</code>, <code>exact:…</code>, <code>must_call:tool</code>, <code>must_not_call:tool</code>, <code>must_ask_approval</code>, <code>rubric:…</code>
              <textarea data-testid="eval-checks" rows={3} value={c.checks} placeholder={"regex:\\bParis\\b\nmust_not_call:command_exec"} onInput={(e) => change(i, { checks: e.currentTarget.value })} /></label>
            {cases.length > 1 && <button type="button" class="btn small" onClick={() => setCases(cases.filter((_, j) => j !== i))}>Remove turn</button>}
          </fieldset>
        );
      })}
      <datalist id="eval-sessions">{sessions.map((id) => <option key={id} value={id} />)}</datalist>
      <div class="row">
        <button type="button" class="btn small" onClick={() => setCases([...cases, NEW_CASE(sessionId)])}>Add a turn</button>
        <button type="submit" class="btn small primary" data-testid="eval-create-save" disabled={busy}>{busy ? "Capturing…" : "Create eval set"}</button>
      </div>
      {problems.length > 0 && <ul class="problems" role="alert" data-testid="eval-problems">{problems.map((p) => <li key={p}>{p}</li>)}</ul>}
    </form>
  );
}

export function EvalsSection({ twinId, sessionId }: { twinId: string; sessionId: string }) {
  const s = useStore();
  const [sets, setSets] = useState<EvalSet[] | null>(null);
  const [state, setState] = useState<{ unavailable?: string; error?: string }>({});
  const [creating, setCreating] = useState(false);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let alive = true;
    api<EvalSetList>(evalsPath(twinId)).then((d) => { if (alive) { setSets(d.sets); setState({}); } },
      (e) => alive && setState(isUnavailable(e) ? { unavailable: errorText(e) } : { error: errorText(e) }));
    return () => { alive = false; };
  }, [twinId, tick]);
  const gate = s.twin(twinId)?.eval_gate ?? null;
  return (
    <section class="evals" data-testid="evals" aria-label="Evals">
      <h3>Evals <span class="muted small">recorded turns re-run with a prompt, nothing executed again</span></h3>
      {gate && <p class="small" data-testid="eval-gate-note">Self-improvements are run against <code>{gate.set_id}</code>
        {gate.min_pass_rate !== null ? <>, and need a pass rate of at least {percent(gate.min_pass_rate)}</> : " (shown, not required)"}.</p>}
      {state.unavailable && <p class="unavailable">Evals are unavailable: this edge does not serve <code>GET /v1/evals</code> yet.</p>}
      {state.error && <p class="error-text small">{state.error}</p>}
      {sets && sets.length === 0 && <p class="muted small" data-testid="evals-none">No eval sets for this twin yet.</p>}
      {sets && sets.length > 0 && <ul class="eval-sets" data-testid="eval-sets">{sets.map((set) => (
        <SetCard key={set.set_id} set={set} twinId={twinId} onDeleted={() => setTick((n) => n + 1)} />
      ))}</ul>}
      {!state.unavailable && (creating
        ? <><CreateSet twinId={twinId} sessionId={sessionId} onCreated={() => { setCreating(false); setTick((n) => n + 1); }} />
            <div><button type="button" class="btn small" onClick={() => setCreating(false)}>Cancel</button></div></>
        : <div><button type="button" class="btn small" data-testid="eval-new" onClick={() => setCreating(true)}>New eval set from this session</button></div>)}
    </section>
  );
}
