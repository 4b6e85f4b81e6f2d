import { useEffect, useRef, useState } from "preact/hooks";
import { bytes, clock } from "../format";
import { api, errorText } from "../api";
import { chainText, type JobTreeFields } from "../agents";
import { afterCall, amount, mayPassBudget, raiseProblem, raiseValue, scopeText, suggestedRaise, whoMayPass } from "../budgets";
import { evalPending, evalVerdict } from "../evals";
import { approvalChanges, type Proposed } from "../memory";
import { store, useStore } from "../store";
import type { ActionBudget, ActionRemember, ActionStoreDocument, Approval, EvalSummary, McpToolShown } from "../types";
import { CodeEditor } from "./LazyEditor";
import { KbPicker, NamespacePicker } from "./Pickers";

/** Keep Tab inside an open dialog. */
export function trapFocus(e: KeyboardEvent, dialog: HTMLElement | null): void {
  if (!dialog) return;
  const items = [...dialog.querySelectorAll<HTMLElement>("button:not([disabled]), input, textarea, select, a[href], [tabindex]")];
  if (!items.length) return;
  const first = items[0]!, last = items[items.length - 1]!;
  const active = document.activeElement;
  if (!dialog.contains(active)) { e.preventDefault(); first.focus(); }
  else if (e.shiftKey && active === first) { e.preventDefault(); last.focus(); }
  else if (!e.shiftKey && active === last) { e.preventDefault(); first.focus(); }
}

export function DiffView({ diff }: { diff: string }) {
  return (
    <pre class="diff" data-testid="diff">
      {diff.split("\n").map((line, i) => (
        <span key={i} class={line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : line.startsWith("@@") ? "hunk" : ""}>{line}{"\n"}</span>
      ))}
    </pre>
  );
}

const HINTS: Record<string, string> = {
  readOnlyHint: "read-only", destructiveHint: "destructive", idempotentHint: "idempotent", openWorldHint: "reaches the outside world",
};

/** An MCP tool's server, its name for the tool, and what the server says about it: the server's own
 * words (untrusted), rendered as text and set apart as the server's, never as PAGI's. */
export function McpOrigin({ mcp }: { mcp: McpToolShown }) {
  const hints = Object.entries(mcp.annotations);
  return (
    <section class="mcp-origin" data-testid="approval-mcp">
      <div class="kv"><span>MCP server</span><code data-testid="approval-mcp-server">{mcp.server}</code></div>
      <div class="kv"><span>Server's tool</span><code data-testid="approval-mcp-tool">{mcp.tool}</code></div>
      <p class="muted small">
        What server <b>{mcp.server}</b> says about this tool: its own words, not checked by PAGI; they change nothing about what runs.
      </p>
      <blockquote class="server-words" data-testid="approval-mcp-description" data-from-server={mcp.server}>
        {mcp.title && <strong class="server-title">{mcp.title}</strong>}
        {mcp.title && "\n"}
        {mcp.description || "(the server gives no description)"}
      </blockquote>
      {hints.length > 0 && (
        <ul class="hints" data-testid="approval-mcp-hints" aria-label={`hints from server ${mcp.server}`}>
          {hints.map(([k, v]) => (
            <li key={k} class={k === "destructiveHint" && v ? "hint danger" : "hint"}>{HINTS[k] ?? k}: {v ? "yes" : "no"} <span class="muted">(says {mcp.server})</span></li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function ApprovalDetails({ approval }: { approval: Approval }) {
  const action = approval.action;
  switch (action.action_type) {
    case "ActionTool":
      return (
        <div class="what">
          <div class="kv"><span>Tool</span><code data-testid="approval-tool">{action.tool_name}</code></div>
          {approval.mcp && <McpOrigin mcp={approval.mcp} />}
          <div class="kv-block"><span>Arguments</span><pre class="args">{JSON.stringify(action.args, null, 2)}</pre></div>
        </div>
      );
    case "ActionMemory":
      return (
        <div class="what">
          <div class="kv"><span>Memory query</span><code data-testid="approval-query">{action.query}</code></div>
          {action.namespace && <div class="kv"><span>Namespace</span><code>{action.namespace}</code></div>}
          {action.top_k && <div class="kv"><span>Top k</span><code>{action.top_k}</code></div>}
        </div>
      );
    case "ActionBuildTool":
      return (
        <div class="what">
          <div class="kv"><span>Build tool</span><code>{action.tool_name}</code> <span class="muted">({action.language})</span></div>
          <p class="muted small">{action.description}</p>
          <CodeEditor value={action.code} format="python" readOnly label="code to build" minHeight="120px" />
        </div>
      );
    case "ActionSelfImprove":
      return (
        <div class="what">
          <p class="muted small">Rationale: {action.rationale}</p>
          <DiffView diff={approval.summary.startsWith("change the system prompt") ? approval.summary.split("\n").slice(1).join("\n") : approval.summary} />
        </div>
      );
    case "ActionBudget":
      return <BudgetFigures action={action} />;
    case "ActionAskTwin":
      return (
        <div class="what">
          <div class="kv"><span>Ask twin</span><code data-testid="approval-ask-twin">{action.twin_id}</code></div>
          <div class="kv-block"><span>Question</span><pre class="args">{action.message}</pre></div>
        </div>
      );
    case "ActionHandoff":
      return (
        <div class="what">
          <div class="kv"><span>Hand over to</span><code data-testid="approval-handoff-twin">{action.twin_id}</code></div>
          {action.reason && <div class="kv"><span>Why</span><span>{action.reason}</span></div>}
        </div>
      );
    default:
      return <pre class="args">{approval.summary}</pre>;
  }
}

/** What a budget approval is about: the budget, what its period spent, and the call that would cross it. */
export function BudgetFigures({ action }: { action: ActionBudget }) {
  const a = action;
  const over = afterCall(a) - a.limit;
  return (
    <div class="what" data-testid="approval-budget">
      <div class="kv"><span>Budget</span><code data-testid="approval-budget-scope">{scopeText(a.scope)}</code> <span class="muted small">per {a.period}</span></div>
      <div class="kv"><span>Spent</span><span data-testid="approval-budget-spent">{amount(a.unit, a.spent, a.currency)}</span></div>
      <div class="kv"><span>Limit</span><span data-testid="approval-budget-limit">{amount(a.unit, a.limit, a.currency)}</span></div>
      <div class="kv"><span>Next call</span><span data-testid="approval-budget-estimate">≈ {amount(a.unit, a.estimate, a.currency)}</span>
        {over > 0 && <span class="muted small">({amount(a.unit, over, a.currency)} past the limit)</span>}</div>
      <div class="kv"><span>Ceiling</span><span data-testid="approval-budget-ceiling">{a.ceiling === null ? "none" : `${amount(a.unit, a.ceiling, a.currency)}: no approval passes it`}</span></div>
    </div>
  );
}

/** The eval a self-improvement was run against (ApprovalRecord.eval), beside its diff. */
function EvalFigures({ summary, pending }: { summary: EvalSummary | null | undefined; pending: boolean }) {
  const v = evalVerdict(summary, pending);
  if (!v) return null;
  return (
    <section class={`approval-eval ${v.tone}`} data-testid="approval-eval" data-tone={v.tone} aria-live="polite">
      <span class={`badge ${v.tone === "ok" || v.tone === "shown" ? "ok" : v.tone === "blocked" || v.tone === "failed" ? "off" : "job-running"}`}
        data-testid="approval-eval-state">{v.tone === "waiting" ? "eval pending" : v.tone === "shown" ? "eval" : v.tone}</span>
      <span data-testid="approval-eval-text">{v.text}</span>
      {v.blocks && <span class="muted small">Approving waits for a passing eval; denying is always possible.</span>}
    </section>
  );
}

const TITLES = {
  memory: "Memory access requested", tool: "Tool execution requested", build: "Tool build requested", self_improve: "Prompt change requested",
  remember: "Memory proposed", document: "Document to store in memory", budget: "Budget reached",
  agent: "Another twin asked",
} as Record<string, string>;

/** A sub-job's approval: the twins that led to it (its job record's chain), so the person sees who
 * asked whom before deciding. */
function useChain(jobId: string, twinId: string): string | null {
  const [chain, setChain] = useState<string | null>(null);
  useEffect(() => {
    let alive = true;
    setChain(null);
    if (!jobId) return;
    api<JobTreeFields>(`/v1/jobs/${encodeURIComponent(jobId)}`).then((r) => alive && setChain(chainText(r.chain, r.twin_id ?? twinId)), () => undefined);
    return () => { alive = false; };
  }, [jobId, twinId]);
  return chain;
}

type Edit = { text: string; namespace: string; kb: string };

/** What a remember/document approval proposes, as the person may change it before approving. */
function proposed(approval: Approval): Proposed | null {
  const a = approval.action;
  if (a.action_type === "ActionRemember") return { text: a.text, namespace: a.namespace, kb: a.kb };
  if (a.action_type === "ActionStoreDocument") return { namespace: a.namespace, kb: a.kb };
  return null;
}

function DocumentDetails({ action, edit, set, twinNamespace }: { action: ActionStoreDocument; edit: Edit; set: (e: Partial<Edit>) => void; twinNamespace: string }) {
  const p = action.parsed;
  return (
    <div class="what" data-testid="approval-document">
      <div class="kv"><span>File</span><code data-testid="approval-filename">{action.document.filename}</code></div>
      <div class="kv"><span>Size</span><span data-testid="approval-size">{bytes(action.document.size)}</span> <span class="muted small">({p.format})</span></div>
      {p.pages !== null && <div class="kv"><span>Pages</span><span data-testid="approval-pages">{p.pages}</span></div>}
      <div class="kv"><span>Chunks</span><span data-testid="approval-chunks">{p.chunks}</span> <span class="muted small">{p.characters.toLocaleString()} characters</span></div>
      <div class="row wrap">
        <NamespacePicker testid="approval-namespace" value={edit.namespace} placeholder={twinNamespace} onChange={(namespace) => set({ namespace })} />
        <KbPicker testid="approval-kb" value={edit.kb} onChange={(kb) => set({ kb })} />
      </div>
      {p.warnings.length > 0 && <ul class="warnings small" data-testid="approval-warnings">{p.warnings.map((w, i) => <li key={i}>{w}</li>)}</ul>}
      {p.preview.length > 0 && (
        <div class="kv-block"><span>Preview: the first {p.preview.length} of {p.chunks} chunks</span>
          <ol class="preview" data-testid="approval-preview">{p.preview.map((c, i) => <li key={i}><pre>{c}</pre></li>)}</ol></div>
      )}
    </div>
  );
}

function RememberDetails({ action, edit, set, twinNamespace }: { action: ActionRemember; edit: Edit; set: (e: Partial<Edit>) => void; twinNamespace: string }) {
  return (
    <div class="what" data-testid="approval-remember">
      {action.why && <div class="kv"><span>Why</span><span data-testid="approval-why">{action.why}</span></div>}
      <label class="remember-text">Memory text (edit before approving)
        <textarea data-testid="approval-text" rows={5} maxLength={8000} autoFocus value={edit.text} onInput={(e) => set({ text: e.currentTarget.value })} /></label>
      <div class="row wrap">
        <NamespacePicker testid="approval-namespace" value={edit.namespace} placeholder={twinNamespace} onChange={(namespace) => set({ namespace })} />
        <KbPicker testid="approval-kb" value={edit.kb} onChange={(kb) => set({ kb })} />
      </div>
    </div>
  );
}

export function ApprovalModal({ approval }: { approval: Approval }) {
  const s = useStore();
  const [denying, setDenying] = useState(false);
  const [reason, setReason] = useState("");
  const [always, setAlways] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [edit, setEdit] = useState<Edit>({ text: "", namespace: "", kb: "" });
  const [raiseTo, setRaiseTo] = useState("");
  const [admin, setAdmin] = useState<boolean | null>(null);
  const authorize = useRef<HTMLButtonElement>(null);
  const chain = useChain(approval.job_id, approval.twin_id);
  useEffect(() => {
    setDenying(false); setReason(""); setAlways(false); setError(null);
    const p = proposed(approval);
    setEdit({ text: p?.text ?? "", namespace: p?.namespace ?? "", kb: p?.kb ?? "" });
    setRaiseTo(approval.action.action_type === "ActionBudget" ? String(suggestedRaise(approval.action)) : "");
    if (approval.kind !== "remember") authorize.current?.focus();
    if (approval.kind === "budget") api<{ admin?: boolean }>("/v1/auth/session").then((d) => setAdmin(d.admin === true), () => setAdmin(null));
  }, [approval.approval_id]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") { s.dismissed.add(approval.approval_id); s.changed(); }
      if (e.key === "Tab") trapFocus(e, document.querySelector<HTMLElement>("[data-testid=approval-modal]"));
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [approval.approval_id]);
  const decide = async (approved: boolean, limit: number | null = null) => {
    setBusy(true);
    setError(null);
    try {
      const p = proposed(approval);
      const changes = limit !== null ? { limit } : p && approved ? approvalChanges(p, edit) : null;
      await store.decide(approval, approved, approved && always, approved ? null : reason, approved ? changes : null);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const twin = s.twin(approval.twin_id);
  const twinNamespace = twin?.memory_namespace ?? "default";
  const set = (e: Partial<Edit>) => setEdit((prev) => ({ ...prev, ...e }));
  const action = approval.action;
  const textMissing = action.action_type === "ActionRemember" && !edit.text.trim();
  const pending = evalPending(approval, twin);
  const verdict = approval.kind === "self_improve" ? evalVerdict(approval.eval, pending) : null;
  const heldByEval = verdict?.blocks ?? false;
  const raiseWrong = action.action_type === "ActionBudget" ? raiseProblem(action, raiseTo) : null;
  const budgetScope = action.action_type === "ActionBudget" ? action.scope : null;
  const mayNotPass = budgetScope !== null && mayPassBudget(budgetScope, admin, s.user, twin?.owner) === false;
  return (
    <div class="modal-backdrop" role="presentation">
      <div class="modal approval" role="dialog" aria-modal="true" aria-labelledby="approval-title" data-testid="approval-modal" data-kind={approval.kind}>
        <header>
          <span class={`kind-badge ${approval.kind}`}>{approval.kind.replace("_", " ")}</span>
          <h2 id="approval-title">{TITLES[approval.kind] ?? "Approval requested"}</h2>
        </header>
        <p class="muted small">
          {twin?.codename ?? approval.twin_id} asks · policy <code>{approval.policy}</code> · expires {clock(approval.expires_at)}
        </p>
        {chain && <p class="chain" data-testid="approval-chain" title="this step is part of a sub-job: the twins that led to it">asked by <b>{chain}</b></p>}
        <p class="reason">{approval.reason}</p>
        {action.action_type === "ActionStoreDocument" ? <DocumentDetails action={action} edit={edit} set={set} twinNamespace={twinNamespace} />
          : action.action_type === "ActionRemember" ? <RememberDetails action={action} edit={edit} set={set} twinNamespace={twinNamespace} />
          : <ApprovalDetails approval={approval} />}
        {approval.kind === "self_improve" && <EvalFigures summary={approval.eval} pending={pending} />}
        {budgetScope !== null && mayNotPass && (
          <p class="warn-text small" data-testid="approval-budget-who">Only {whoMayPass(budgetScope)} may pass or raise the budget of {scopeText(budgetScope)}: deny it, or ask {whoMayPass(budgetScope)} to decide.</p>
        )}
        {action.action_type === "ActionBudget" && !mayNotPass && (
          <label class="raise">Raise the {action.period}'s limit to ({action.unit === "tokens" ? "tokens" : action.currency})
            <input data-testid="approval-raise-to" inputMode="decimal" value={raiseTo} onInput={(e) => setRaiseTo(e.currentTarget.value)} aria-invalid={raiseWrong ? "true" : "false"} />
            {raiseWrong && <span class="muted small" data-testid="approval-raise-problem">{raiseWrong}</span>}</label>
        )}
        {approval.kind === "remember" && (
          <label class="check"><input type="checkbox" data-testid="approval-always" checked={always} onChange={(e) => setAlways(e.currentTarget.checked)} />
            <span>Always allow memories in namespace <b>{edit.namespace.trim() || twinNamespace}</b> for this twin</span></label>
        )}
        {approval.kind === "tool" && approval.action.action_type === "ActionTool" && (
          <label class="check"><input type="checkbox" data-testid="approval-always" checked={always} onChange={(e) => setAlways(e.currentTarget.checked)} />
            {approval.mcp
              ? <span>Always allow <b>{approval.mcp.tool}</b> of server <b>{approval.mcp.server}</b> for this twin (asked again if the server or the tool changes)</span>
              : <>Always allow <b>{approval.action.tool_name}</b> for this twin</>}</label>
        )}
        {denying && (
          <label class="deny-reason">Reason for denying (optional)
            <textarea rows={2} value={reason} onInput={(e) => setReason(e.currentTarget.value)} autoFocus /></label>
        )}
        {error && <p class="error-text" role="alert">{error}</p>}
        <footer>
          <button class="btn" onClick={() => { s.dismissed.add(approval.approval_id); s.changed(); }} title="Esc">Decide later</button>
          {denying
            ? <button class="btn danger" disabled={busy} onClick={() => void decide(false)}>Confirm Deny</button>
            : <button class="btn danger" disabled={busy} onClick={() => setDenying(true)}>Deny…</button>}
          {action.action_type === "ActionBudget" ? <>
            <button class="btn" data-testid="approval-raise" disabled={busy || raiseWrong !== null || mayNotPass} onClick={() => void decide(true, raiseValue(raiseTo))}>Approve and raise</button>
            <button class="btn primary" ref={authorize} data-testid="approval-once" disabled={busy || mayNotPass} onClick={() => void decide(true)}>Approve once</button>
          </> : (
            <button class="btn primary" ref={authorize} data-testid="approval-approve" disabled={busy || textMissing || heldByEval}
              title={heldByEval ? "waits for a passing eval" : undefined} onClick={() => void decide(true)}>Authorize &amp; Execute</button>
          )}
        </footer>
      </div>
    </div>
  );
}
