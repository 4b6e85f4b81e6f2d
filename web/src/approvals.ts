// Which approvals wait for a decision, and which one the modal opens: pure and unit-tested (store.ts
// holds the state they are worked out from).
import type { Approval } from "./types";

/** Pending approvals, oldest first: the edge's list (every session) merged with those seen live in
 * this browser; both for one approval when both are there (the request says whether an eval is
 * pending, the stored record carries the eval the gate fills in: the record's fields the fresher).
 * Decided here, or expired: gone. */
export function pendingApprovals(listed: Approval[], live: Iterable<Approval>, decided: ReadonlySet<string>, now: number): Approval[] {
  const byId = new Map<string, Approval>();
  for (const a of listed) byId.set(a.approval_id, a);
  for (const a of live) {
    const stored = byId.get(a.approval_id);
    byId.set(a.approval_id, stored ? { ...a, ...stored, eval_pending: a.eval_pending ?? stored.eval_pending } : a);
  }
  for (const id of decided) byId.delete(id);
  for (const [id, a] of byId) if (Date.parse(a.expires_at) <= now) byId.delete(id); // expired: nothing to decide
  return [...byId.values()].sort((x, y) => (x.created_at ?? "").localeCompare(y.created_at ?? ""));
}

/** The approval the modal opens: the oldest pending one of this browser's sessions not dismissed.
 * One seen only in a session's replay waits for the edge's list: popping up (and taking the focus)
 * for an approval the replay's next frame shows decided would invite a stray Enter to "approve" it. */
export function modalApproval(pending: Approval[], sessions: ReadonlyMap<string, { replaying: boolean }>, listed: ReadonlySet<string>,
  dismissed: ReadonlySet<string>): Approval | undefined {
  return pending.find((a) => {
    const session = sessions.get(a.session_id);
    return session !== undefined && !dismissed.has(a.approval_id) && (!session.replaying || listed.has(a.approval_id));
  });
}
