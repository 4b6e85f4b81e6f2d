// Twins working together, as the console shows it: sub-jobs (ActionAskTwin) under the job that asked,
// the chain of twins on an approval, a session handed to another twin (ActionHandoff), and the Ops
// Center's fan-out (one directive, one session per twin, the answers side by side). Pure, unit-tested.
import type { SessionState, JobView } from "./session";
import type { EventFrame } from "./types";

export const ARROW = " → ";

/** `ops → reviewer`: the twins that led to a sub-job (JobRecord.chain, root first) and the sub-job's
 * own twin; null for a job a person started (empty chain). */
export function chainText(chain: readonly string[] | null | undefined, twinId: string): string | null {
  return chain && chain.length ? [...chain, twinId].join(ARROW) : null;
}

/** The job record fields the tree is drawn from (GET /v1/jobs/{id}: bus_schemas.jobs.JobRecord). */
export interface JobTreeFields { twin_id?: string; parent_job_id?: string | null; parent_step?: number | null; chain?: string[] }

export interface TreeRow { job: JobView; depth: number; parent: string | null }

/** The session's jobs as a tree: each sub-job right under the job that asked it (its own sub-jobs under
 * it, oldest first), the top-level jobs in the order given; a sub-job whose parent is not among them stands at the top. A cycle in the
 * records (never written by the planner) cannot loop: each job is placed once. */
export function treeOrder(jobs: readonly JobView[], records: ReadonlyMap<string, JobTreeFields>): TreeRow[] {
  const ids = new Set(jobs.map((j) => j.jobId));
  const parentOf = (j: JobView) => {
    const p = records.get(j.jobId)?.parent_job_id ?? null;
    return p && ids.has(p) && p !== j.jobId ? p : null;
  };
  const children = new Map<string, JobView[]>();
  for (const j of jobs) {
    const p = parentOf(j);
    if (p) children.set(p, [...(children.get(p) ?? []), j]);
  }
  // Sub-jobs in the order they were asked, whatever order the list is in.
  for (const list of children.values()) list.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  const out: TreeRow[] = [];
  const placed = new Set<string>();
  const place = (j: JobView, depth: number, parent: string | null) => {
    if (placed.has(j.jobId)) return;
    placed.add(j.jobId);
    out.push({ job: j, depth, parent });
    for (const c of children.get(j.jobId) ?? []) place(c, depth + 1, j.jobId);
  };
  for (const j of jobs) if (!parentOf(j)) place(j, 0, null);
  for (const j of jobs) place(j, 0, null); // only what a cycle left out
  return out;
}

export interface Handoff { to: string; from: string | null; reason: string | null; jobId: string | null; ts: string }

/** A handoff event (ActionHandoff done): the twin the session now talks to. Read from the event's
 * body whichever name the planner gives the target (`to_twin` or `twin_id`). */
export function handoffOf(frame: EventFrame): Handoff | null {
  if (!/handoff/i.test(frame.event_type)) return null;
  const b = frame.body as Record<string, unknown>;
  const nested = (b.action && typeof b.action === "object" ? b.action : {}) as Record<string, unknown>;
  const to = [b.to_twin, b.twin_id, nested.twin_id].find((v): v is string => typeof v === "string" && v.length > 0);
  if (!to) return null;
  const from = [b.from_twin, frame.twin_id].find((v): v is string => typeof v === "string" && v.length > 0 && v !== to) ?? null;
  const reason = [b.reason, nested.reason].find((v): v is string => typeof v === "string" && v.length > 0) ?? null;
  return { to, from, reason, jobId: frame.job_id ?? null, ts: frame.ts };
}

// The planner's job log line for a handoff (planner/loop.py `_hand_off`), which reaches the chat
// socket as a status frame's details: twin ids are tokens, so the line reads back unambiguously.
const HANDOFF_LINE = /^handoff: the session now talks to ([A-Za-z0-9_-]{1,64}), handed over by ([A-Za-z0-9_-]{1,64})(?: \(([\s\S]*)\))?$/;

/** A handoff from a status frame's details (the job log line), or null. */
export function handoffOfLine(details: string | null | undefined, jobId: string | null, ts: string): Handoff | null {
  const m = details ? HANDOFF_LINE.exec(details) : null;
  return m ? { to: m[1]!, from: m[2]!, reason: m[3] ?? null, jobId, ts } : null;
}

/** The twin a session talks to now: the last handoff's target, else the twin it was opened with. */
export function currentTwin(handoffs: readonly Handoff[], opened: string): string {
  return handoffs.length ? handoffs[handoffs.length - 1]!.to : opened;
}

/** The twin a message asking `asked` is answered by, as the planner routes it (records/sessions.py
 * SessionTwins.current): the handed-to twin when `asked` is one the session was handed from (or
 * none), else `asked`. */
export function routedTwin(handoffs: readonly Handoff[], asked: string | null): string | null {
  if (!handoffs.length) return asked;
  let from: string[] = [];
  for (const h of handoffs) {
    from = from.filter((t) => t !== h.to);
    if (h.from && !from.includes(h.from)) from.push(h.from);
  }
  return asked === null || from.includes(asked) ? handoffs[handoffs.length - 1]!.to : asked;
}

// --- fan-out -------------------------------------------------------------------------------------

export interface Fanout { id: string; directive: string; twins: string[]; at: string }

export const MAX_FANOUT_TWINS = 12;

/** The session a fan-out's message to one twin goes to: its own per twin (a job of each twin, each
 * in the pipeline), derived so a reload finds it again. Within the edge's 128-character ids. */
export function fanoutSession(fanoutId: string, twinId: string): string {
  return `fan-${fanoutId}-${twinId}`.slice(0, 128);
}

export function newFanout(directive: string, twins: readonly string[], now = new Date(), rand = Math.random): Fanout {
  const id = `${now.getTime().toString(36)}${Math.floor(rand() * 36 ** 4).toString(36).padStart(4, "0")}`;
  return { id, directive: directive.trim(), twins: [...new Set(twins)].slice(0, MAX_FANOUT_TWINS), at: now.toISOString() };
}

export function fanoutProblem(directive: string, twins: readonly string[]): string | null {
  if (!directive.trim()) return "write the directive to send";
  if (twins.length === 0) return "pick at least one twin";
  return twins.length > MAX_FANOUT_TWINS ? `at most ${MAX_FANOUT_TWINS} twins at once` : null;
}

export type AnswerState = "sending" | JobView["status"];
export interface FanoutAnswer { twinId: string; sessionId: string; state: AnswerState; answer: string | null; jobId: string | null; streaming: boolean }

/** Each twin's answer to the fan-out, in the order the twins were picked: its session's first job
 * (the directive) and the twin's last message of that job. */
export function gatherAnswers(fanout: Fanout, sessions: ReadonlyMap<string, SessionState>): FanoutAnswer[] {
  return fanout.twins.map((twinId) => {
    const sessionId = fanoutSession(fanout.id, twinId);
    const s = sessions.get(sessionId);
    const job = s ? [...s.jobs.values()][0] : undefined;
    if (!s || !job) return { twinId, sessionId, state: "sending", answer: null, jobId: null, streaming: false };
    const reply = [...s.messages].reverse().find((m) => m.role === "twin" && m.jobId === job.jobId && m.text);
    return { twinId, sessionId, state: job.status, answer: reply?.text ?? null, jobId: job.jobId, streaming: reply?.streaming ?? false };
  });
}

/** "2 of 3 answered": finished jobs over all. */
export function fanoutProgress(answers: readonly FanoutAnswer[]): string {
  const done = answers.filter((a) => a.state === "completed" || a.state === "failed" || a.state === "cancelled").length;
  return `${done} of ${answers.length} answered`;
}

const FANOUT_KEY = "pagi.fanouts";
const KEEP = 10;

/** The fan-outs this browser sent (newest first), kept so a reload gathers their answers again. */
export function readFanouts(raw: string | null): Fanout[] {
  if (!raw) return [];
  try {
    const list = JSON.parse(raw) as unknown;
    if (!Array.isArray(list)) return [];
    return list.filter((f): f is Fanout => !!f && typeof f === "object" && typeof (f as Fanout).id === "string"
      && typeof (f as Fanout).directive === "string" && Array.isArray((f as Fanout).twins)
      && (f as Fanout).twins.every((t) => typeof t === "string")).slice(0, KEEP);
  } catch {
    return [];
  }
}

export function keepFanout(list: readonly Fanout[], f: Fanout): Fanout[] {
  return [f, ...list.filter((x) => x.id !== f.id)].slice(0, KEEP);
}

export { FANOUT_KEY };
