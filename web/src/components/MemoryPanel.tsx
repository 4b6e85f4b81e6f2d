import { Fragment } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, errorText, isUnavailable } from "../api";
import { clock } from "../format";
import { historyOf, isPinned, provenance } from "../memory";
import { store, useStore } from "../store";
import type { MemoryRecordOut } from "../types";
import { trapFocus } from "./ApprovalModal";

type Load = { state: "loading" } | { state: "ok"; memory: MemoryRecordOut } | { state: "error"; why: string };

/** One memory (GET /v1/memory/{id}) with its provenance and history; edit, pin, forget. */
export function MemoryPanel({ memoryId }: { memoryId: string }) {
  const s = useStore();
  const [id, setId] = useState(memoryId);
  const [load, setLoad] = useState<Load>({ state: "loading" });
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState("");
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setId(memoryId), [memoryId]);
  useEffect(() => {
    let alive = true;
    setLoad({ state: "loading" }); setEditing(false); setConfirming(false); setError(null);
    api<MemoryRecordOut>(`/v1/memory/${encodeURIComponent(id)}`).then(
      (memory) => alive && setLoad({ state: "ok", memory }),
      (err) => alive && setLoad({ state: "error", why: isUnavailable(err) ? `memory ${id} is not there (forgotten, or not yours to read): ${errorText(err)}` : errorText(err) }),
    );
    return () => { alive = false; };
  }, [id]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") store.closeMemory();
      if (e.key === "Tab") trapFocus(e, document.querySelector<HTMLElement>("[data-testid=memory-panel]"));
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const act = async (what: () => Promise<void>) => {
    setBusy(true); setError(null);
    try { await what(); } catch (err) { setError(errorText(err)); } finally { setBusy(false); }
  };
  const patch = (body: { text?: string; pinned?: boolean }) => act(async () => {
    const res = await api<{ memory: MemoryRecordOut }>(`/v1/memory/${encodeURIComponent(id)}`, { method: "PATCH", json: body });
    setLoad({ state: "ok", memory: res.memory });
    setEditing(false);
    if (res.memory.id !== id) setId(res.memory.id);
    s.memoryChanged(body.text !== undefined ? "Memory edited: a new version" : res.memory.metadata.pinned ? "Pinned" : "Unpinned");
  });
  const forget = () => act(async () => {
    await api(`/v1/memory/${encodeURIComponent(id)}`, { method: "DELETE" });
    s.memoryChanged("Forgotten");
    s.closeMemory();
  });

  const memory = load.state === "ok" ? load.memory : null;
  const history = memory ? historyOf(memory) : [];
  return (
    <div class="modal-backdrop" role="presentation" onClick={(e) => { if (e.target === e.currentTarget) s.closeMemory(); }}>
      <div class="modal memory-panel" role="dialog" aria-modal="true" aria-labelledby="memory-title" data-testid="memory-panel" data-memory={id}>
        <header>
          <span class="kind-badge memory">memory</span>
          <h2 id="memory-title">{memory ? `${memory.namespace}/${memory.kb}` : "Memory"}</h2>
          {memory && isPinned(memory) && <span class="kind-badge" data-testid="memory-pinned">pinned</span>}
        </header>
        <p class="muted small"><code>{id}</code>{memory ? ` · stored ${new Date(memory.created_at * 1000).toLocaleString("en-GB")}` : ""}</p>
        {load.state === "loading" && <p class="muted small">Loading…</p>}
        {load.state === "error" && <p class="error-text" data-testid="memory-error">{load.why}</p>}
        {memory && (editing
          ? <label>Text <textarea data-testid="memory-edit-text" rows={6} maxLength={8000} value={text} onInput={(e) => setText(e.currentTarget.value)} autoFocus /></label>
          : <blockquote class="memory-text" data-testid="memory-text">{memory.text}</blockquote>)}
        {memory && (
          <dl class="provenance" data-testid="memory-provenance">
            {provenance(memory).map((p) => <Fragment key={p.testid}><dt>{p.label}</dt><dd data-testid={p.testid}>{p.value}</dd></Fragment>)}
          </dl>
        )}
        {history.length > 0 && (
          <details class="history" data-testid="memory-history" open>
            <summary>{history.length} earlier version{history.length === 1 ? "" : "s"}</summary>
            <ol>{history.map((h, i) => <li key={i}><span class="muted small">{h.edited_at ? clock(h.edited_at * 1000) : ""} {h.edited_by}</span> {h.text}</li>)}</ol>
          </details>
        )}
        {error && <p class="error-text" role="alert">{error}</p>}
        <footer>
          <button class="btn" onClick={() => s.closeMemory()} title="Esc">Close</button>
          {memory && !editing && <>
            <button class="btn" disabled={busy} data-testid="memory-pin" onClick={() => void patch({ pinned: !isPinned(memory) })}>{isPinned(memory) ? "Unpin" : "Pin"}</button>
            {confirming
              ? <button class="btn danger" disabled={busy} data-testid="memory-forget-confirm" onClick={() => void forget()}>Confirm forget</button>
              : <button class="btn danger" disabled={busy} data-testid="memory-forget" onClick={() => setConfirming(true)}>Forget…</button>}
            <button class="btn primary" disabled={busy} data-testid="memory-edit" onClick={() => { setText(memory.text); setEditing(true); }}>Edit</button>
          </>}
          {memory && editing && <>
            <button class="btn" disabled={busy} onClick={() => setEditing(false)}>Cancel</button>
            <button class="btn primary" disabled={busy || !text.trim() || text === memory.text} data-testid="memory-save" onClick={() => void patch({ text })}>Save new version</button>
          </>}
        </footer>
        {confirming && <p class="muted small" data-testid="memory-forget-note">Forgetting deletes it from the index; the deletion is recorded as an event. A twin never sees it again.</p>}
      </div>
    </div>
  );
}
