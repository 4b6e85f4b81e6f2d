// The chat WebSocket with automatic reconnect and resume from the last stream sequence seen.
import type { ServerFrame } from "./types";

export type ConnectionState = "connecting" | "live" | "reconnecting" | "offline";

export interface SocketHooks {
  onFrame(frame: ServerFrame): void;
  onState(state: ConnectionState, detail: string): void;
  /** The last stream sequence this client applied for a session (0: replay it all). */
  lastSeq(sessionId: string): number;
}

interface Outgoing { session_id: string; message: string; twin_id: string | null }

/** bus_schemas.web.VERBOSE_FRAMES_PROTOCOL: every status and event, not only the seed's sparse frames. */
export const VERBOSE_FRAMES_PROTOCOL = "pagi.frames.verbose";
const BACKOFF_MS = [300, 1000, 2000, 4000, 8000];
/** Tests hold reconnects with sessionStorage["pagi.reconnect.hold"] = "1". */
const HOLD_KEY = "pagi.reconnect.hold";

export function backoffMs(attempt: number): number {
  return BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)] ?? 8000;
}

export class ChatSocket {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: number | null = null;
  private readonly followed = new Set<string>();
  private readonly queue: Outgoing[] = [];
  private stopped = false;
  state: ConnectionState = "connecting";

  constructor(private readonly userId: string, private readonly hooks: SocketHooks) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.ws?.close(1000, "page closed");
  }

  private url(): string {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    return `${proto}//${location.host}/ws/chat/${encodeURIComponent(this.userId)}`;
  }

  private setState(state: ConnectionState, detail: string): void {
    this.state = state;
    this.hooks.onState(state, detail);
  }

  private open(): void {
    if (this.stopped) return;
    if (sessionStorage.getItem(HOLD_KEY) === "1") {
      this.timer = window.setTimeout(() => this.open(), 100);
      return;
    }
    const ws = new WebSocket(this.url(), [VERBOSE_FRAMES_PROTOCOL]);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.setState("live", "connected");
      for (const session of this.followed) this.resume(session);
      for (const out of this.queue.splice(0)) this.sendNow(out);
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data !== "string") return;
      let frame: ServerFrame;
      try {
        frame = JSON.parse(ev.data) as ServerFrame;
      } catch {
        return; // the edge only sends JSON; anything else is ignored, never fatal
      }
      if (frame && typeof frame === "object" && "type" in frame) this.hooks.onFrame(frame);
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      const delay = backoffMs(this.attempt++);
      const why = ev.reason || `closed (${ev.code})`;
      this.setState(this.attempt > 3 ? "offline" : "reconnecting", `${why}; retrying in ${Math.round(delay / 100) / 10} s`);
      this.timer = window.setTimeout(() => this.open(), delay);
    };
  }

  private resume(sessionId: string): void {
    this.ws?.send(JSON.stringify({ type: "resume", session_id: sessionId, user_id: this.userId, resume_from: this.hooks.lastSeq(sessionId) }));
  }

  /** Reconnect now instead of waiting for the next retry. */
  retryNow(): void {
    if (this.ws || this.stopped) return;
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.attempt = 0;
    this.setState("reconnecting", "retrying now");
    this.open();
  }

  /** Follow a session: replay what this client has not seen, then live. */
  follow(sessionId: string): void {
    if (this.followed.has(sessionId)) return;
    this.followed.add(sessionId);
    if (this.ws?.readyState === WebSocket.OPEN) this.resume(sessionId);
  }

  send(sessionId: string, message: string, twinId: string | null): void {
    const out = { session_id: sessionId, message, twin_id: twinId };
    if (this.ws?.readyState === WebSocket.OPEN) this.sendNow(out);
    else this.queue.push(out);
  }

  /** For tests and debugging: send a raw text frame. */
  sendRaw(text: string): void {
    this.ws?.send(text);
  }

  private sendNow(out: Outgoing): void {
    this.ws?.send(JSON.stringify({ ...out, user_id: this.userId, timestamp: new Date().toISOString() }));
  }
}
