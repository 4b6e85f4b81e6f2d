// Normalise GET /v1/search answers: message hits ("Intel Stream") and log hits ("Execution Logs").
export interface MessageHit { text: string; sessionId: string | null; twinId: string | null; sender: string | null; ts: string | null; eventId: string | null; score: number | null }
export interface LogHit { text: string; jobId: string | null; sessionId: string | null; level: string; ts: string | null; score: number | null }

type Raw = Record<string, unknown>;
const str = (r: Raw, ...keys: string[]): string | null => {
  for (const k of keys) if (typeof r[k] === "string" && r[k]) return r[k] as string;
  return null;
};
const num = (r: Raw, ...keys: string[]): number | null => {
  for (const k of keys) if (typeof r[k] === "number") return r[k] as number;
  return null;
};

function message(r: Raw): MessageHit {
  return {
    text: str(r, "text", "message", "content", "snippet") ?? "", sessionId: str(r, "session_id", "session"),
    twinId: str(r, "twin_id", "twin"), sender: str(r, "sender", "role", "user_id"), ts: str(r, "ts", "time", "timestamp"),
    eventId: str(r, "event_id", "id"), score: num(r, "score"),
  };
}

function log(r: Raw): LogHit {
  return {
    text: str(r, "text", "message", "line", "snippet") ?? "", jobId: str(r, "job_id", "job"), sessionId: str(r, "session_id", "session"),
    level: str(r, "level") ?? "info", ts: str(r, "ts", "time", "timestamp"), score: num(r, "score"),
  };
}

export function normaliseSearch(data: unknown): { messages: MessageHit[]; logs: LogHit[] } {
  const d = (data && typeof data === "object" ? data : {}) as Raw;
  const arr = (v: unknown): Raw[] => (Array.isArray(v) ? (v.filter((x) => x && typeof x === "object") as Raw[]) : []);
  const messages = arr(d.messages ?? d.message_hits).map(message);
  const logs = arr(d.logs ?? d.log_hits).map(log);
  for (const r of arr(d.results ?? d.hits)) {
    const kind = str(r, "kind", "type", "source");
    if (kind && /log/.test(kind)) logs.push(log(r));
    else messages.push(message(r));
  }
  return { messages, logs };
}
