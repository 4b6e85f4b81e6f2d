import { useEffect, useRef, useState } from "preact/hooks";
import { errorText } from "../api";
import { clock } from "../format";
import { store, useStore } from "../store";
import type { Approval, McpToolShown } from "../types";
import { CodeEditor } from "./LazyEditor";

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
    default:
      return <pre class="args">{approval.summary}</pre>;
  }
}

const TITLES = { memory: "Memory access requested", tool: "Tool execution requested", build: "Tool build requested", self_improve: "Prompt change requested" };

export function ApprovalModal({ approval }: { approval: Approval }) {
  const s = useStore();
  const [denying, setDenying] = useState(false);
  const [reason, setReason] = useState("");
  const [always, setAlways] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const authorize = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    setDenying(false); setReason(""); setAlways(false); setError(null);
    authorize.current?.focus();
  }, [approval.approval_id]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") { s.dismissed.add(approval.approval_id); s.changed(); }
      if (e.key === "Tab") trapFocus(e, document.querySelector<HTMLElement>("[data-testid=approval-modal]"));
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [approval.approval_id]);
  const decide = async (approved: boolean) => {
    setBusy(true);
    setError(null);
    try {
      await store.decide(approval, approved, approved && always, approved ? null : reason);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const twin = s.twin(approval.twin_id);
  return (
    <div class="modal-backdrop" role="presentation">
      <div class="modal approval" role="dialog" aria-modal="true" aria-labelledby="approval-title" data-testid="approval-modal" data-kind={approval.kind}>
        <header>
          <span class={`kind-badge ${approval.kind}`}>{approval.kind.replace("_", " ")}</span>
          <h2 id="approval-title">{TITLES[approval.kind]}</h2>
        </header>
        <p class="muted small">
          {twin?.codename ?? approval.twin_id} asks · policy <code>{approval.policy}</code> · expires {clock(approval.expires_at)}
        </p>
        <p class="reason">{approval.reason}</p>
        <ApprovalDetails approval={approval} />
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
          <button class="btn primary" ref={authorize} disabled={busy} onClick={() => void decide(true)}>Authorize &amp; Execute</button>
        </footer>
      </div>
    </div>
  );
}
