// App-wide state: twins, sessions (one per twin in this browser), the socket, health, approvals.
import { useEffect, useReducer } from "preact/hooks";
import { api, errorText, userId } from "./api";
import { ChatSocket, type ConnectionState } from "./socket";
import { addLocalUserMessage, applyFrame, newSession, type SessionState } from "./session";
import type { Approval, ServerFrame, Twin } from "./types";

export const ORCHESTRATOR = "orchestrator";

export interface Health {
  status: string;
  problems: string[];
  services: Record<string, { status: string; instances: unknown[] }>;
  sandbox?: { mode: string };
}

type Listener = () => void;

class Store {
  readonly user = userId();
  twins: Twin[] = [];
  twinsError: string | null = null;
  twinsLoaded = false;
  sessions = new Map<string, SessionState>();
  connection: ConnectionState = "connecting";
  connectionDetail = "";
  health: Health | null = null;
  healthError: string | null = null;
  /** Pending approvals of every session (GET /v1/approvals), so a dismissed modal is never lost. */
  pending: Approval[] = [];
  dismissed = new Set<string>();
  /** Decided here: hidden at once, before the planner has recorded the decision. */
  decided = new Set<string>();
  toast: { text: string; kind: "info" | "error" } | null = null;
  private listeners = new Set<Listener>();
  private scheduled = false;
  readonly socket: ChatSocket;

  constructor() {
    this.socket = new ChatSocket(this.user, {
      onFrame: (frame) => this.onFrame(frame),
      onState: (state, detail) => {
        this.connection = state;
        this.connectionDetail = detail;
        this.changed();
      },
      lastSeq: (sessionId) => this.sessions.get(sessionId)?.lastSeq ?? 0,
    });
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      for (const fn of this.listeners) fn();
    });
  }

  notify(text: string, kind: "info" | "error" = "info"): void {
    this.toast = { text, kind };
    this.changed();
    window.setTimeout(() => {
      if (this.toast?.text === text) {
        this.toast = null;
        this.changed();
      }
    }, kind === "error" ? 8000 : 4000);
  }

  start(): void {
    this.socket.start();
    void this.refreshTwins();
    void this.refreshHealth();
    void this.refreshApprovals();
    window.setInterval(() => void this.refreshTwins(), 3000);
    window.setInterval(() => void this.refreshHealth(), 5000);
    window.setInterval(() => void this.refreshApprovals(), 4000);
  }

  sessionIdFor(twinId: string): string {
    const key = `pagi.session.${twinId}`;
    let id = localStorage.getItem(key);
    if (!id) {
      id = `${twinId.slice(0, 40)}-${Math.random().toString(36).slice(2, 10)}`;
      localStorage.setItem(key, id);
    }
    return id;
  }

  newSessionFor(twinId: string): string {
    localStorage.removeItem(`pagi.session.${twinId}`);
    const id = this.sessionIdFor(twinId);
    this.session(id);
    this.changed();
    return id;
  }

  session(sessionId: string): SessionState {
    let state = this.sessions.get(sessionId);
    if (!state) {
      state = newSession(sessionId);
      this.sessions.set(sessionId, state);
      this.socket.follow(sessionId);
    }
    return state;
  }

  send(twinId: string, text: string): void {
    const sessionId = this.sessionIdFor(twinId);
    const state = this.session(sessionId);
    addLocalUserMessage(state, text);
    state.lastError = null;
    this.socket.send(sessionId, text, twinId);
    this.changed();
  }

  private onFrame(frame: ServerFrame): void {
    const sessionId = frame.session_id;
    if (frame.type === "status_update" && frame.status === "error" && !sessionId) {
      this.notify(frame.details ?? "the edge reported an error", "error");
      return;
    }
    if (!sessionId) return;
    const state = this.sessions.get(sessionId);
    if (!state) return;
    if (frame.type === "status_update" && frame.status === "error" && frame.seq === null) {
      this.notify(frame.details ?? "error", "error");
    }
    if (applyFrame(state, frame)) {
      if (frame.type === "event" && frame.event_type.startsWith("approve.")) void this.refreshApprovals();
      this.changed();
    }
  }

  twin(id: string): Twin | undefined {
    return this.twins.find((t) => t.id === id);
  }

  async refreshTwins(): Promise<void> {
    try {
      const data = await api<{ twins: Twin[] }>("/v1/twins");
      this.twins = data.twins;
      this.twinsError = null;
    } catch (err) {
      this.twinsError = errorText(err);
    }
    this.twinsLoaded = true;
    this.changed();
  }

  async refreshHealth(): Promise<void> {
    try {
      const res = await fetch("/health");
      this.health = (await res.json()) as Health;
      this.healthError = null;
    } catch (err) {
      this.healthError = errorText(err);
    }
    this.changed();
  }

  async refreshApprovals(): Promise<void> {
    try {
      const data = await api<{ approvals: Approval[] }>("/v1/approvals");
      this.pending = data.approvals;
    } catch {
      // keep the last list; the health panel says when the edge is away
    }
    this.changed();
  }

  /** Pending approvals: the edge's list (every session) merged with those seen live in this browser. */
  allPending(): Approval[] {
    const byId = new Map<string, Approval>();
    for (const a of this.pending) byId.set(a.approval_id, a);
    for (const s of this.sessions.values()) for (const a of s.approvals.values()) byId.set(a.approval_id, a);
    for (const id of this.decided) byId.delete(id);
    return [...byId.values()].sort((x, y) => (x.created_at ?? "").localeCompare(y.created_at ?? ""));
  }

  /** The approval the modal shows: the oldest pending one of this browser's sessions not dismissed. */
  modalApproval(): Approval | undefined {
    return this.allPending().find((a) => this.sessions.has(a.session_id) && !this.dismissed.has(a.approval_id));
  }

  async decide(approval: Approval, approved: boolean, always: boolean, reason: string | null): Promise<void> {
    await api(`/v1/approvals/${encodeURIComponent(approval.approval_id)}`, {
      method: "POST",
      json: { approved, always, reason: reason || null, decided_by: this.user },
    });
    this.pending = this.pending.filter((a) => a.approval_id !== approval.approval_id);
    for (const s of this.sessions.values()) s.approvals.delete(approval.approval_id);
    this.decided.add(approval.approval_id);
    this.changed();
    this.notify(approved ? (always ? "Authorised, and always allowed for this twin" : "Authorised") : "Denied");
  }
}

export const store = new Store();

export function useStore(): Store {
  const [, bump] = useReducer((n: number, _: void) => n + 1, 0);
  useEffect(() => store.subscribe(() => bump()), []);
  return store;
}
