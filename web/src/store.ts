// App-wide state: twins, sessions (one per twin in this browser), the socket, health, approvals.
import { useEffect, useReducer } from "preact/hooks";
import { api, errorText, setSignedInUser, userId } from "./api";
import { modalApproval, pendingApprovals } from "./approvals";
import { ChatSocket, type ConnectionState } from "./socket";
import { addLocalUserMessage, applyFrame, newSession, type SessionState } from "./session";
import type { Approval, ApprovalChanges, EventFrame, ServerFrame, Twin, UploadReply } from "./types";
import { fileState, finished, newEntry, progressOf, type FileEntry } from "./uploads";

export const ORCHESTRATOR = "orchestrator";

export interface Health {
  status: string;
  problems: string[];
  services: Record<string, { status: string; instances: unknown[] }>;
  sandbox?: { mode: string };
}

type Listener = () => void;

export interface AuthState { checked: boolean; required: boolean; user: string | null; error: string | null }

class Store {
  user = userId();
  auth: AuthState = { checked: false, required: false, user: null, error: null };
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
  /** Files sent to POST /v1/documents from this browser, per session, newest last. */
  uploads = new Map<string, FileEntry[]>();
  /** One SSE stream per session while a document job of it runs: the job log's progress. */
  private progressStreams = new Map<string, EventSource>();
  /** The memory open in the memory panel (from a citation or the Mind view's list). */
  openMemoryId: string | null = null;
  /** Bumped on every edit, pin or forget made here, so lists read again. */
  memoryVersion = 0;
  private listeners = new Set<Listener>();
  private scheduled = false;
  socket: ChatSocket;
  private started = false;

  constructor() {
    this.socket = this.makeSocket();
  }

  private makeSocket(): ChatSocket {
    return new ChatSocket(this.user, {
      onFrame: (frame) => this.onFrame(frame),
      onState: (state, detail) => {
        this.connection = state;
        this.connectionDetail = detail;
        this.changed();
      },
      lastSeq: (sessionId) => this.sessions.get(sessionId)?.lastSeq ?? 0,
    });
  }

  /** Ask the edge who we are. Without authentication (development) the browser keeps its own user id;
   *  with it, the signed-in user is the id, and the console waits for a sign-in. */
  async boot(): Promise<void> {
    try {
      const res = await fetch("/v1/auth/session", { credentials: "same-origin" });
      if (res.ok) {
        const data = (await res.json()) as { user: string | null; auth: boolean };
        this.auth = { checked: true, required: data.auth, user: data.user, error: null };
      } else {
        this.auth = { checked: true, required: res.status === 401, user: null, error: null };
      }
    } catch (err) {
      this.auth = { checked: true, required: false, user: null, error: errorText(err) };
    }
    if (this.auth.user) {
      this.user = this.auth.user;
      setSignedInUser(this.user);
      this.socket = this.makeSocket();
    }
    if (!this.auth.required || this.auth.user) this.start();
    this.changed();
  }

  async signIn(key: string): Promise<void> {
    const res = await fetch("/v1/auth/session", { method: "POST", headers: { Authorization: `Bearer ${key}` }, credentials: "same-origin" });
    const data = (await res.json().catch(() => ({}))) as { user?: string | null; error?: string };
    if (!res.ok || !data.user) throw new Error(data.error ?? `sign-in refused (${res.status})`);
    this.auth = { checked: true, required: true, user: data.user, error: null };
    this.user = data.user;
    setSignedInUser(this.user);
    this.socket = this.makeSocket();
    this.start();
    this.changed();
  }

  async signOut(): Promise<void> {
    await fetch("/v1/auth/session", { method: "DELETE", credentials: "same-origin" });
    location.reload();
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
    if (this.started) return;
    this.started = true;
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
    this.sendIn(this.sessionIdFor(twinId), twinId, text);
  }

  /** A message to `twinId` in a session of the caller's choosing (the Ops Center's fan-out). */
  sendIn(sessionId: string, twinId: string, text: string): void {
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
      if (frame.job_id) this.learnJob(state, frame.job_id);
      if (frame.type === "event" && frame.event_type.startsWith("approve.")) void this.refreshApprovals();
      if (this.progressStreams.has(sessionId)) this.followProgress(sessionId);
      this.changed();
    }
  }

  private asked = new Set<string>();

  /** A job no chat.in of this session opened (a sub-job another twin asked): its twin and question
   * from its record, once, so its answer shows the twin that gave it. */
  private learnJob(state: SessionState, jobId: string): void {
    const view = state.jobs.get(jobId);
    if (!view || view.twinId || view.message || this.asked.has(jobId)) return;
    this.asked.add(jobId);
    api<{ twin_id?: string; message?: string }>(`/v1/jobs/${encodeURIComponent(jobId)}`).then((r) => {
      if (!view.twinId && r.twin_id) view.twinId = r.twin_id;
      if (!view.message && r.message) view.message = r.message;
      state.version++;
      this.changed();
    }, () => this.asked.delete(jobId));
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
    const live = [...this.sessions.values()].flatMap((s) => [...s.approvals.values()]);
    return pendingApprovals(this.pending, live, this.decided, Date.now());
  }

  /** The approval the modal shows (approvals.ts modalApproval). */
  modalApproval(): Approval | undefined {
    return modalApproval(this.allPending(), this.sessions, new Set(this.pending.map((a) => a.approval_id)), this.dismissed);
  }

  openMemory(id: string): void {
    this.openMemoryId = id;
    this.changed();
  }

  closeMemory(): void {
    this.openMemoryId = null;
    this.changed();
  }

  memoryChanged(note: string): void {
    this.memoryVersion++;
    this.notify(note);
  }

  uploadsOf(sessionId: string): FileEntry[] {
    return this.uploads.get(sessionId) ?? [];
  }

  private allUploads(): FileEntry[] {
    return [...this.uploads.values()].flat();
  }

  /** One POST /v1/documents per file (multipart `file`, `session_id`, optional `namespace`/`kb`); the
   *  approval each asks for arrives on the session like any other. */
  upload(sessionId: string, files: File[], where: { namespace?: string; kb?: string } = {}): FileEntry[] {
    this.session(sessionId);
    const list = this.uploads.get(sessionId) ?? [];
    this.uploads.set(sessionId, list);
    const entries = files.map((file) => {
      const entry = newEntry(file, sessionId);
      list.push(entry);
      const form = new FormData();
      form.append("file", file, file.name);
      form.append("session_id", sessionId);
      if (where.namespace) form.append("namespace", where.namespace);
      if (where.kb) form.append("kb", where.kb);
      api<UploadReply>("/v1/documents", { method: "POST", body: form }).then(
        (reply) => {
          entry.phase = "sent";
          entry.reply = reply;
          // The edge may start the job in another session of this person's (one not theirs to use): follow it.
          this.session(reply.session_id);
          this.followProgress(reply.session_id);
          void this.refreshApprovals();
        },
        (err) => { entry.phase = "failed"; entry.error = errorText(err); },
      ).finally(() => this.changed());
      return entry;
    });
    this.changed();
    return entries;
  }

  /** Keep a session's progress stream open while one of its uploads is not finished. */
  private followProgress(sessionId: string): void {
    const session = this.sessions.get(sessionId);
    const open = this.allUploads().some((e) => e.reply?.session_id === sessionId && !finished(fileState(e, session)));
    const stream = this.progressStreams.get(sessionId);
    if (!open) {
      stream?.close();
      this.progressStreams.delete(sessionId);
      return;
    }
    if (stream) return;
    const src = new EventSource(`/v1/events/stream?session=${encodeURIComponent(sessionId)}&user=${encodeURIComponent(this.user)}`);
    src.onmessage = (ev: MessageEvent<string>) => {
      const found = progressOf(JSON.parse(ev.data) as EventFrame);
      if (!found) return;
      const [jobId, progress, line] = found;
      for (const e of this.allUploads()) if (e.reply?.job_id === jobId) { e.progress = progress; e.progressLine = line; }
      this.changed();
    };
    this.progressStreams.set(sessionId, src);
  }

  async decide(approval: Approval, approved: boolean, always: boolean, reason: string | null, changes: ApprovalChanges | null = null): Promise<void> {
    await api(`/v1/approvals/${encodeURIComponent(approval.approval_id)}`, {
      method: "POST",
      json: { approved, always, reason: reason || null, decided_by: this.user, ...(approved && changes ? { changes } : {}) },
    });
    this.pending = this.pending.filter((a) => a.approval_id !== approval.approval_id);
    for (const s of this.sessions.values()) s.approvals.delete(approval.approval_id);
    this.decided.add(approval.approval_id);
    this.changed();
    this.notify(!approved ? "Denied" : always ? "Authorised, and always allowed for this twin" : changes?.limit !== undefined ? "Authorised, and the budget raised" : "Authorised");
  }
}

export const store = new Store();

export function useStore(): Store {
  const [, bump] = useReducer((n: number, _: void) => n + 1, 0);
  useEffect(() => {
    const unsubscribe = store.subscribe(() => bump());
    // A change between this render and the subscription (a fast /v1/auth/session answer) is not lost.
    bump();
    return unsubscribe;
  }, []);
  return store;
}
