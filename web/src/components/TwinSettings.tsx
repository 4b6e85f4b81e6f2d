import { useEffect, useState } from "preact/hooks";
import { api, errorText } from "../api";
import { evalsPath, gateOf, gatePercent } from "../evals";
import { clock } from "../format";
import { navigate } from "../router";
import { store, useStore } from "../store";
import { avatarProblem, BUILTIN_TOOLS, formOf, PROVIDERS, validate, writeBody, type Form } from "../twinform";
import type { Blueprint, EvalGate, EvalSet, EvalSetList, PromptVersionMeta, Twin } from "../types";
import { DiffView } from "./ApprovalModal";
import { Avatar } from "./Avatar";
import { CodeEditor, detectFormat } from "./LazyEditor";

export function useBlueprints(): Record<string, Blueprint> {
  const [bp, setBp] = useState<Record<string, Blueprint>>({});
  useEffect(() => { api<{ blueprints: Record<string, Blueprint> }>("/v1/twins/blueprints").then((d) => setBp(d.blueprints), () => setBp({})); }, []);
  return bp;
}

export function readAvatar(file: File): Promise<string> {
  const problem = avatarProblem(file);
  if (problem) return Promise.reject(new Error(problem));
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(new Error("could not read the file"));
    reader.readAsDataURL(file);
  });
}

function Versions({ twin, onRolledBack }: { twin: Twin; onRolledBack: () => void }) {
  const [data, setData] = useState<{ current: number | null; versions: PromptVersionMeta[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<{ version: number; diff: string; prompt: string } | null>(null);
  const load = () => api<{ current: number | null; versions: PromptVersionMeta[] }>(`/v1/twins/${twin.id}/prompt/versions`).then(setData, (e) => setError(errorText(e)));
  useEffect(() => { void load(); }, [twin.id, twin.updated_at]);
  const show = async (v: number) => {
    try {
      const d = await api<{ version: number; diff: string; prompt: string }>(`/v1/twins/${twin.id}/prompt/versions/${v}`);
      setOpen(d);
    } catch (e) { setError(errorText(e)); }
  };
  const rollback = async (v: number) => {
    try {
      await api(`/v1/twins/${twin.id}/prompt/rollback`, { method: "POST", json: { version: v } });
      store.notify(`Rolled back to prompt version ${v}`);
      setOpen(null);
      await load();
      onRolledBack();
    } catch (e) { setError(errorText(e)); }
  };
  return (
    <section class="panel">
      <h2>Prompt versions</h2>
      {error && <p class="error-text small">{error}</p>}
      {data && data.versions.length === 0 && <p class="muted small">No versions yet: each committed directive change and each approved self-improvement becomes one.</p>}
      <ul class="versions">
        {data?.versions.slice().reverse().map((v) => (
          <li key={v.version} class={data.current === v.version ? "current" : ""}>
            <button type="button" class="link" onClick={() => void show(v.version)}>v{v.version}</button>
            <span class="muted small">{v.author} · {clock(v.created_at)} {new Date(v.created_at).toLocaleDateString()}</span>
            <span class="small">{v.rationale}</span>
            {data.current === v.version ? <span class="badge ok">current</span> : <button type="button" class="btn small" onClick={() => void rollback(v.version)}>Roll back</button>}
          </li>
        ))}
      </ul>
      {open && <div><p class="small muted">Diff from the current directive to v{open.version}:</p><DiffView diff={open.diff || "(identical)"} /></div>}
    </section>
  );
}

/** The twin's eval gate: the set its self-improvements are run against, and the pass rate they need. */
function EvalGateField({ twinId, gate, onChange }: { twinId: string; gate: EvalGate | null; onChange: (gate: EvalGate | null, problem: string | null) => void }) {
  const [sets, setSets] = useState<EvalSet[]>([]);
  const [setId, setSetId] = useState(gate?.set_id ?? "");
  const [pct, setPct] = useState(gatePercent(gate));
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => { api<EvalSetList>(evalsPath(twinId)).then((d) => setSets(d.sets), () => setSets([])); }, [twinId]);
  const change = (id: string, p: string) => {
    setSetId(id); setPct(p);
    const made = gateOf(id, p);
    const wrong = "problem" in made ? made.problem : null;
    setProblem(wrong);
    onChange("gate" in made ? made.gate : gate, wrong);
  };
  return (
    <div class="eval-gate" data-testid="eval-gate">
      <h3>Eval gate for self-improvements</h3>
      <p class="muted small">A prompt change this twin proposes is re-run against the set's recorded turns; its approval shows the result, and below the pass rate it is denied instead of offered.</p>
      <div class="row wrap">
        <label class="small">Eval set (none: approved on the diff alone)
          <input data-testid="eval-gate-set" list="eval-gate-sets" placeholder="none" value={setId} onInput={(e) => change(e.currentTarget.value, e.currentTarget.value.trim() ? pct : "")} /></label>
        <datalist id="eval-gate-sets">{sets.map((x) => <option key={x.set_id} value={x.set_id}>{x.description || `${x.cases.length} cases`}</option>)}</datalist>
        <label class="small">Minimum pass rate (%)
          <input data-testid="eval-gate-rate" inputMode="decimal" disabled={!setId.trim()} placeholder="none: shown only" value={pct} onInput={(e) => change(setId, e.currentTarget.value)} /></label>
      </div>
      {problem && <p class="error-text small" data-testid="eval-gate-problem">{problem}</p>}
      {setId.trim() && !problem && !sets.some((x) => x.set_id === setId.trim()) && (
        <p class="warn-text small" data-testid="eval-gate-missing">No eval set {setId.trim()} yet: until there is one, this twin's self-improvements cannot pass their eval.</p>
      )}
    </div>
  );
}

export function TwinSettingsView({ twinId }: { twinId: string }) {
  const s = useStore();
  const blueprints = useBlueprints();
  const [twin, setTwin] = useState<Twin | null>(null);
  const [form, setForm] = useState<Form | null>(null);
  const [problems, setProblems] = useState<string[]>([]);
  const [saving, setSaving] = useState(false);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [gateProblem, setGateProblem] = useState<string | null>(null);
  // Bumped when the form is read again or discarded: the gate field starts over from the form's gate.
  const [formEpoch, setFormEpoch] = useState(0);
  const load = async () => {
    try {
      const t = await api<Twin>(`/v1/twins/${encodeURIComponent(twinId)}`);
      setTwin(t); setForm(formOf(t)); setProblems([]); setGateProblem(null); setFormEpoch((n) => n + 1);
    } catch (e) { setLoadError(errorText(e)); }
  };
  useEffect(() => { void load(); }, [twinId]);
  if (loadError) return <main class="center"><p class="error-text">{loadError}</p></main>;
  if (!twin || !form) return <main class="center"><p class="muted">Loading…</p></main>;
  const set = <K extends keyof Form>(key: K, value: Form[K]) => setForm({ ...form, [key]: value });
  const tools = [...new Set([...BUILTIN_TOOLS, ...twin.allowed_tools, ...form.allowed_tools])];
  const dirty = JSON.stringify(form) !== JSON.stringify(formOf(twin));
  const commit = async (ev: Event) => {
    ev.preventDefault();
    const local = gateProblem ? [...validate(form), `Eval gate: ${gateProblem}`] : validate(form);
    setProblems(local);
    if (local.length) return;
    setSaving(true);
    try {
      const saved = await api<Twin>(`/v1/twins/${encodeURIComponent(twinId)}`, { method: "PUT", json: writeBody(form) });
      setTwin(saved); setForm(formOf(saved)); setFormEpoch((n) => n + 1);
      store.notify("Manifest committed");
      void s.refreshTwins();
    } catch (e) {
      setProblems([errorText(e)]);
    } finally { setSaving(false); }
  };
  const toggleTool = (tool: string, on: boolean) => {
    const allowed = on ? [...form.allowed_tools, tool] : form.allowed_tools.filter((t) => t !== tool);
    setForm({ ...form, allowed_tools: allowed, always_allow: form.always_allow.filter((t) => allowed.includes(t)) });
  };
  const toggleAlways = (tool: string, on: boolean) => set("always_allow", on ? [...form.always_allow, tool] : form.always_allow.filter((t) => t !== tool));
  return (
    <main class="center settings-view" aria-label="Configure Agent">
      <form onSubmit={commit} class="settings-form" noValidate>
        <header class="hub-head">
          <Avatar twin={form} size={40} />
          <div class="hub-title"><h1>Configure Agent</h1><span class="muted small">{twin.codename} · <code>{twin.id}</code></span></div>
          <button type="button" class="btn small" onClick={() => navigate(twinId === "orchestrator" ? "/" : `/twins/${twinId}`)}>Open chat</button>
        </header>
        {problems.length > 0 && <ul class="problems" role="alert" data-testid="problems">{problems.map((p) => <li key={p}>{p}</li>)}</ul>}
        <section class="panel">
          <h2>Directive logic</h2>
          <div class="row wrap">
            {Object.entries(blueprints).map(([key, bp]) => (
              <button type="button" key={key} class="btn small" onClick={() => set("directive_logic", bp.template)}>Blueprint: {bp.name}</button>
            ))}
            <button type="button" class="btn small" onClick={() => set("directive_logic", twin.directive_logic)}>Reset</button>
            <span class="muted small">{form.directive_logic.length.toLocaleString()} / 32,000</span>
          </div>
          <CodeEditor value={form.directive_logic} format={detectFormat(form.directive_logic)} label="directive logic" onChange={(v) => set("directive_logic", v)} />
        </section>
        <div class="grid2">
          <section class="panel">
            <h2>Identity</h2>
            <label>Avatar (≤ 2 MB)
              <input type="file" accept="image/png,image/jpeg,image/gif,image/webp,image/svg+xml"
                onChange={(e) => { const f = e.currentTarget.files?.[0]; if (f) readAvatar(f).then((url) => set("avatar", url), (err: Error) => setProblems([err.message])); }} /></label>
            {form.avatar && <button type="button" class="btn small" onClick={() => set("avatar", null)}>Remove avatar</button>}
            <label>Codename <input value={form.codename} maxLength={80} required onInput={(e) => set("codename", e.currentTarget.value)} /></label>
            <label>Designation <input value={form.designation} maxLength={200} onInput={(e) => set("designation", e.currentTarget.value)} /></label>
            <label>Mission summary <textarea rows={3} value={form.mission} maxLength={4000} onInput={(e) => set("mission", e.currentTarget.value)} /></label>
          </section>
          <section class="panel">
            <h2>Neural core</h2>
            <label>Provider
              <select value={form.provider ?? ""} onChange={(e) => {
                const p = PROVIDERS.find(([id]) => id === e.currentTarget.value);
                setForm({ ...form, provider: e.currentTarget.value || null, model: form.model || p?.[2] || null });
              }}>{PROVIDERS.map(([id, label]) => <option key={id} value={id}>{label}</option>)}</select></label>
            <label>Model <input value={form.model ?? ""} placeholder={PROVIDERS.find(([id]) => id === (form.provider ?? ""))?.[2] || "provider default"} onInput={(e) => set("model", e.currentTarget.value || null)} /></label>
            <label>Base URL (self-hosted) <input value={form.base_url ?? ""} placeholder="provider default" onInput={(e) => set("base_url", e.currentTarget.value || null)} /></label>
            <label>API key (write-only) <input type="password" autocomplete="new-password" value={form.api_key} placeholder={twin.has_api_key ? "a key is set; type to replace it" : "not set"} onInput={(e) => set("api_key", e.currentTarget.value)} /></label>
            <label>Temperature <b>{form.temperature.toFixed(2)}</b>
              <input type="range" min={0} max={1.5} step={0.05} value={form.temperature} onInput={(e) => set("temperature", Number(e.currentTarget.value))} /></label>
            <label>Token limit <b>{Math.round(form.token_limit / 1000)}K</b>
              <input type="range" min={16000} max={128000} step={8000} value={form.token_limit} onInput={(e) => set("token_limit", Number(e.currentTarget.value))} /></label>
            <label>Step limit <input type="number" min={1} max={50} value={form.step_limit} onInput={(e) => set("step_limit", Number(e.currentTarget.value))} /></label>
            {form.memory_namespace !== undefined && (
              <label>Memory namespace <input value={form.memory_namespace} pattern="[A-Za-z0-9_-]{1,64}" onInput={(e) => set("memory_namespace", e.currentTarget.value)} /></label>
            )}
          </section>
        </div>
        <section class="panel">
          <h2>Policy matrix</h2>
          <label class="check"><input type="checkbox" checked={form.code_generation} onChange={(e) => set("code_generation", e.currentTarget.checked)} /> Code generation (build new tools)</label>
          <table class="policy">
            <thead><tr><th>Tool</th><th>Authorised</th><th>Always allow (no approval)</th></tr></thead>
            <tbody>{tools.map((t) => (
              <tr key={t}><td><code>{t}</code></td>
                <td><input type="checkbox" aria-label={`authorise ${t}`} checked={form.allowed_tools.includes(t)} onChange={(e) => toggleTool(t, e.currentTarget.checked)} /></td>
                <td><input type="checkbox" aria-label={`always allow ${t}`} disabled={!form.allowed_tools.includes(t)} checked={form.always_allow.includes(t)} onChange={(e) => toggleAlways(t, e.currentTarget.checked)} /></td></tr>
            ))}</tbody>
          </table>
          <h3>Memories stored without asking</h3>
          {form.always_remember.length === 0
            ? <p class="muted small" data-testid="always-remember-none">None: every memory this twin proposes asks you first.</p>
            : <ul class="always-remember" data-testid="always-remember">{form.always_remember.map((ns) => (
              <li key={ns}><code>{ns}</code> <button type="button" class="link small" aria-label={`ask again for memories in ${ns}`}
                onClick={() => set("always_remember", form.always_remember.filter((n) => n !== ns))}>ask again</button></li>
            ))}</ul>}
          <MayAskField twinId={twin.id} mayAsk={form.may_ask} maxDepth={form.max_depth} onChange={(may_ask) => set("may_ask", may_ask)}
            onDepth={(max_depth) => set("max_depth", max_depth)} />
          <EvalGateField key={formEpoch} twinId={twin.id} gate={form.eval_gate} onChange={(gate, problem) => { setGateProblem(problem); set("eval_gate", gate); }} />
        </section>
        <Versions twin={twin} onRolledBack={() => void load()} />
        {twin.id !== "orchestrator" && <DeleteTwin twin={twin} />}
        <footer class="sticky-actions">
          <span class="muted small">{dirty ? "Unsaved changes" : "No changes"}</span>
          <button type="button" class="btn" disabled={!dirty} onClick={() => { setForm(formOf(twin)); setProblems([]); setGateProblem(null); setFormEpoch((n) => n + 1); }}>Discard Changes</button>
          <button type="submit" class="btn primary" disabled={saving || !dirty}>{saving ? "Committing…" : "Commit Manifest"}</button>
        </footer>
      </form>
    </main>
  );
}

/** Which twins this one may ask a question (a sub-job) or hand the conversation to, and how deep a
 * tree of sub-jobs started from it may grow (TwinSettings.may_ask, max_depth). */
function MayAskField({ twinId, mayAsk, maxDepth, onChange, onDepth }: {
  twinId: string; mayAsk: string[]; maxDepth: number; onChange: (v: string[]) => void; onDepth: (v: number) => void;
}) {
  const s = useStore();
  const others = [...new Set([...s.twins.map((t) => t.id), ...mayAsk])].filter((id) => id !== twinId).sort();
  return (
    <div class="may-ask" data-testid="may-ask">
      <h3>Twins it may ask or hand over to</h3>
      {others.length === 0 && <p class="muted small">No other twins yet.</p>}
      <div class="fanout-twins">
        {others.map((id) => (
          <label key={id} class="check small"><input type="checkbox" data-testid="may-ask-twin" value={id} checked={mayAsk.includes(id)}
            onChange={(e) => onChange(e.currentTarget.checked ? [...mayAsk, id] : mayAsk.filter((t) => t !== id))} />
            {s.twin(id)?.codename ?? id} <span class="muted">({id})</span></label>
        ))}
      </div>
      <label class="small">Depth limit of sub-jobs <input type="number" data-testid="max-depth" min={1} max={10} value={maxDepth}
        onInput={(e) => { const v = Number(e.currentTarget.value); if (Number.isInteger(v) && v >= 1 && v <= 10) onDepth(v); }} /></label>
      <p class="muted small">A question to another twin runs under the stricter of both policies, and its gated steps ask you, naming who asked whom.</p>
    </div>
  );
}

function DeleteTwin({ twin }: { twin: Twin }) {
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const remove = async () => {
    try {
      await api(`/v1/twins/${encodeURIComponent(twin.id)}`, { method: "DELETE" });
      localStorage.removeItem(`pagi.session.${twin.id}`);
      await store.refreshTwins();
      store.notify(`Twin ${twin.codename} deleted`);
      navigate("/");
    } catch (e) { setError(errorText(e)); }
  };
  return (
    <section class="panel danger-zone">
      <h2>Delete twin</h2>
      <p class="muted small">Removes {twin.codename} and its settings. Its sessions' events stay in the event log.</p>
      {error && <p class="error-text small">{error}</p>}
      <div class="row">
        {confirming
          ? <><button type="button" class="btn danger" onClick={() => void remove()}>Confirm: delete {twin.codename}</button>
              <button type="button" class="btn" onClick={() => setConfirming(false)}>Keep it</button></>
          : <button type="button" class="btn danger" onClick={() => setConfirming(true)}>Delete twin…</button>}
      </div>
    </section>
  );
}
