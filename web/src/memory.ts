// Memory under review: citations under an answer, a memory's provenance, the changes an approval sends,
// and the Mind view's list query. Pure logic, no DOM: unit-tested with Vitest.
import type { ApprovalChanges, MemoryEdit, MemoryRecordOut, SourceMemory } from "./types";

/** "runbook.pdf p. 12", "session s-1", or what else is known of where a cited memory came from. */
export function citationLabel(src: Pick<SourceMemory, "source" | "page" | "session_id" | "namespace" | "kb" | "id">): string {
  const source = src.source?.trim();
  if (source && src.page) return `${source} p. ${src.page}`;
  if (source) return source;
  if (src.session_id) return `session ${src.session_id}`;
  if (src.namespace || src.kb) return [src.namespace, src.kb].filter(Boolean).join("/");
  return src.id;
}

export interface Provenance { label: string; value: string; testid: string }

const str = (v: unknown): string | null => (v === null || v === undefined || v === "" ? null : String(v));

/** A memory's provenance as rows (file, page, session, job, approval, approved by, twin, …): only what is known. */
export function provenance(memory: MemoryRecordOut): Provenance[] {
  const m = memory.metadata;
  const rows: [string, string, unknown][] = [
    ["Kind", "kind", m.kind],
    ["File", "file", m.filename ?? (m.kind === "document" ? memory.source : null)],
    ["Page", "page", m.page],
    ["Chunk", "chunk", m.chunk],
    ["Document", "document", m.document_id],
    ["Source", "source", memory.source],
    ["Session", "session", m.session_id],
    ["Job", "job", m.job_id],
    ["Twin", "twin", m.twin_id],
    ["Approval", "approval", m.approval_id],
    ["Approved by", "approved-by", m.approved_by],
    ["Saved by", "saved-by", m.saved_by],
    ["Why", "why", m.why],
    ["Version", "version", m.version],
  ];
  return rows.flatMap(([label, testid, v]) => {
    const value = str(v);
    return value === null ? [] : [{ label, value, testid: `prov-${testid}` }];
  });
}

export function isPinned(memory: MemoryRecordOut): boolean {
  return memory.metadata.pinned === true;
}

/** The earlier texts of an edited memory, newest last (as stored); malformed entries are left out. */
export function historyOf(memory: MemoryRecordOut): MemoryEdit[] {
  const h = memory.metadata.history;
  if (!Array.isArray(h)) return [];
  return h.filter((e): e is MemoryEdit => !!e && typeof e === "object" && typeof (e as MemoryEdit).text === "string");
}

export interface Proposed { text?: string | null; namespace?: string | null; kb?: string | null }

/** What the person changed before approving: only the fields that differ from what was proposed (an
 *  empty field is "as proposed"); null when nothing changed, so a plain decision stays plain. */
export function approvalChanges(proposed: Proposed, edited: Proposed): ApprovalChanges | null {
  const out: ApprovalChanges = {};
  for (const key of ["text", "namespace", "kb"] as const) {
    const value = edited[key];
    if (value === undefined || value === null) continue;
    const v = key === "text" ? value : value.trim();
    if (!v.trim()) continue;
    if (v !== (proposed[key] ?? "")) out[key] = v;
  }
  return Object.keys(out).length ? out : null;
}

export interface MemoryFilters {
  namespace: string; kb: string; source: string; approvedBy: string; pinned: boolean;
  /** yyyy-mm-dd from a date input; sent as unix seconds (the day's start, or for `until` its end). */
  since: string; until: string;
}

export const NO_FILTERS: MemoryFilters = { namespace: "", kb: "", source: "", approvedBy: "", pinned: false, since: "", until: "" };

function day(value: string, end: boolean): string | null {
  const t = Date.parse(`${value}T00:00:00Z`);
  if (Number.isNaN(t)) return null;
  return String(t / 1000 + (end ? 86400 : 0));
}

/** `GET /v1/memory?…` for one page of the list. */
export function memoryListPath(f: MemoryFilters, offset: number, limit: number): string {
  const q = new URLSearchParams();
  if (f.namespace.trim()) q.set("namespace", f.namespace.trim());
  if (f.kb) q.set("kb", f.kb);
  if (f.source.trim()) q.set("source", f.source.trim());
  if (f.approvedBy.trim()) q.set("approved_by", f.approvedBy.trim());
  if (f.pinned) q.set("pinned", "true");
  const since = f.since ? day(f.since, false) : null;
  const until = f.until ? day(f.until, true) : null;
  if (since) q.set("since", since);
  if (until) q.set("until", until);
  q.set("offset", String(offset));
  q.set("limit", String(limit));
  return `/v1/memory?${q.toString()}`;
}
