import { useEffect, useRef, useState } from "preact/hooks";
import { api, errorText, isUnavailable } from "../api";
import { citationLabel, isPinned, memoryListPath, NO_FILTERS, type MemoryFilters } from "../memory";
import { useStore } from "../store";
import type { MemoryPage, MemoryRecordOut } from "../types";
import { UploadList } from "./Uploads";
import { KbPicker, NamespacePicker } from "./Pickers";

const PAGE = 20;

/** Upload documents into a chosen namespace and knowledge base; each file asks approval in this session. */
export function MindUpload({ sessionId, defaultNamespace }: { sessionId: string; defaultNamespace: string }) {
  const s = useStore();
  const [namespace, setNamespace] = useState("");
  const [kb, setKb] = useState("");
  const input = useRef<HTMLInputElement>(null);
  const send = (e: Event) => {
    e.preventDefault();
    const files = [...(input.current?.files ?? [])];
    if (!files.length) return;
    s.upload(sessionId, files, { namespace: namespace.trim() || undefined, kb: kb || undefined });
    if (input.current) input.current.value = "";
  };
  return (
    <form class="mind-upload" data-testid="mind-upload" onSubmit={send}>
      <h3>Upload documents</h3>
      <input ref={input} type="file" multiple aria-label="Documents to upload" data-testid="mind-upload-input" />
      <div class="row wrap">
        <NamespacePicker testid="mind-upload-namespace" value={namespace} placeholder={defaultNamespace} onChange={setNamespace} />
        <KbPicker testid="mind-upload-kb" value={kb} onChange={setKb} blank="domain (default)" />
      </div>
      <button class="btn small primary" type="submit" data-testid="mind-upload-send">Upload</button>
      <span class="muted small"> Nothing is stored before you approve it.</span>
      <UploadList sessionId={sessionId} />
    </form>
  );
}

type Load = { state: "loading" } | { state: "ok"; page: MemoryPage } | { state: "unavailable"; why: string } | { state: "error"; why: string };

function label(m: MemoryRecordOut): string {
  const page = typeof m.metadata.page === "number" ? m.metadata.page : null;
  const session = typeof m.metadata.session_id === "string" ? m.metadata.session_id : null;
  return citationLabel({ id: m.id, source: m.source, page, session_id: session, namespace: m.namespace, kb: m.kb });
}

/** GET /v1/memory: memories by namespace and knowledge base, filtered and paged; each opens in the memory panel. */
export function MemoryList({ defaultNamespace }: { defaultNamespace: string }) {
  const s = useStore();
  const [draft, setDraft] = useState<MemoryFilters>({ ...NO_FILTERS, namespace: defaultNamespace });
  const [filters, setFilters] = useState<MemoryFilters>({ ...NO_FILTERS, namespace: defaultNamespace });
  const [offsets, setOffsets] = useState<number[]>([0]);
  const [load, setLoad] = useState<Load>({ state: "loading" });
  const offset = offsets[offsets.length - 1] ?? 0;
  useEffect(() => {
    let alive = true;
    setLoad({ state: "loading" });
    api<MemoryPage>(memoryListPath(filters, offset, PAGE)).then(
      (page) => alive && setLoad({ state: "ok", page }),
      (err) => alive && setLoad(isUnavailable(err) ? { state: "unavailable", why: errorText(err) } : { state: "error", why: errorText(err) }),
    );
    return () => { alive = false; };
  }, [filters, offset, s.memoryVersion]);
  const set = (f: Partial<MemoryFilters>) => setDraft((d) => ({ ...d, ...f }));
  const apply = (e: Event) => { e.preventDefault(); setFilters(draft); setOffsets([0]); };
  const page = load.state === "ok" ? load.page : null;
  return (
    <section class="memory-list" aria-label="Memories">
      <h3>Memories</h3>
      <form class="filters" data-testid="memory-filters" onSubmit={apply}>
        <div class="row wrap">
          <NamespacePicker testid="filter-namespace" value={draft.namespace} onChange={(namespace) => set({ namespace })} placeholder="default" />
          <KbPicker testid="filter-kb" value={draft.kb} onChange={(kb) => set({ kb })} blank="any" />
        </div>
        <div class="row wrap">
          <label class="picker">Source <input data-testid="filter-source" value={draft.source} placeholder="file or session" onInput={(e) => set({ source: e.currentTarget.value })} /></label>
          <label class="picker">Approved by <input data-testid="filter-approved-by" value={draft.approvedBy} onInput={(e) => set({ approvedBy: e.currentTarget.value })} /></label>
        </div>
        <div class="row wrap">
          <label class="picker">From <input type="date" data-testid="filter-since" value={draft.since} onInput={(e) => set({ since: e.currentTarget.value })} /></label>
          <label class="picker">To <input type="date" data-testid="filter-until" value={draft.until} onInput={(e) => set({ until: e.currentTarget.value })} /></label>
          <label class="check"><input type="checkbox" data-testid="filter-pinned" checked={draft.pinned} onChange={(e) => set({ pinned: e.currentTarget.checked })} /> pinned only</label>
        </div>
        <button class="btn small" type="submit" data-testid="filter-apply">Apply filters</button>
      </form>
      {load.state === "loading" && <p class="muted small">Loading…</p>}
      {load.state === "unavailable" && <p class="unavailable" data-testid="unavailable">The memory list is unavailable: this edge does not serve <code>GET /v1/memory</code> yet.</p>}
      {load.state === "error" && <p class="error-text small">{load.why}</p>}
      {page && (
        <ol class="hits memories" data-testid="memory-list" start={offset + 1}>
          {page.memories.length === 0 && <li class="muted small">No memories match.</li>}
          {page.memories.map((m) => (
            <li key={m.id}>
              <button type="button" class="memory-item" data-testid="memory-item" data-memory={m.id} onClick={() => s.openMemory(m.id)}>
                <span class="memory-item-text">{m.text.length > 160 ? `${m.text.slice(0, 160)}…` : m.text}</span>
                <span class="muted small">{label(m)} · {m.namespace}/{m.kb}{isPinned(m) ? " · pinned" : ""}
                  {typeof m.metadata.approved_by === "string" ? ` · approved by ${m.metadata.approved_by}` : ""}</span>
              </button>
            </li>
          ))}
        </ol>
      )}
      <div class="row pager">
        <button class="btn small" data-testid="memory-prev" disabled={offsets.length < 2} onClick={() => setOffsets(offsets.slice(0, -1))}>← Previous</button>
        <span class="muted small">{page ? `${offset + 1}–${offset + page.memories.length}` : ""}</span>
        <button class="btn small" data-testid="memory-next" disabled={page?.next_offset == null} onClick={() => page?.next_offset != null && setOffsets([...offsets, page.next_offset])}>Next →</button>
      </div>
    </section>
  );
}
