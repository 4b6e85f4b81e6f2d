// The Schedules view's logic (GET/POST /v1/schedules, DELETE /v1/schedules/{id}, POST
// /v1/schedules/{id}/pause|resume; bus_schemas/schedules.py): pure and unit-tested. The edge is the
// judge of a spec and a time zone; what is checked here only says early what it would refuse.
import { errorText, isUnavailable } from "./api";
import type { Schedule, ScheduleWrite } from "./types";

/** The three forms of `Nats-Schedule` a schedule may take, with an example of each for the form. */
export const SPEC_EXAMPLES: readonly [string, string][] = [
  ["@every 1m", "every minute (1s at least)"],
  ["@at 2027-01-01T08:00:00Z", "once, at an instant"],
  ["0 0 8 * * 1-5", "cron, 6 fields (seconds first): weekdays at 08:00"],
];

const UNIT_S: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
// second, minute, hour, day of month, month, day of week (0 or 7: Sunday), as the edge bounds them.
const CRON_BOUNDS: readonly [string, number, number][] = [
  ["second", 0, 59], ["minute", 0, 59], ["hour", 0, 23], ["day of month", 1, 31], ["month", 1, 12], ["day of week", 0, 7],
];

/** Seconds of a Go-style duration ("90s", "1h30m", "2s"), or null when it is not one. */
export function durationSeconds(text: string): number | null {
  const t = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(t)) return null;
  let total = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * UNIT_S[m[2]!]!;
  return total;
}

/** What is wrong with a spec, for the line under the field; null when it looks right. */
export function specProblem(spec: string): string | null {
  const s = spec.trim();
  if (!s) return "a schedule needs a spec: @every, @at or a 6-field cron expression";
  if (s.startsWith("@every")) {
    const secs = durationSeconds(s.slice("@every".length));
    if (secs === null) return "@every takes a duration such as 30s, 5m or 1h";
    return secs < 1 ? "@every is 1s at least" : null;
  }
  if (s.startsWith("@at")) {
    const when = s.slice("@at".length).trim();
    const ok = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(when) && !Number.isNaN(Date.parse(when));
    return ok ? null : "@at takes an RFC 3339 instant with its offset, e.g. 2027-01-01T08:00:00Z";
  }
  if (s.startsWith("@")) return `unknown spec ${s.split(/\s/)[0]}: use @every, @at or a cron expression`;
  const fields = s.split(/\s+/);
  if (fields.length !== 6) return `a cron expression has 6 fields (seconds minutes hours day month weekday), this one has ${fields.length}`;
  for (const [i, field] of fields.entries()) {
    const [name, low, high] = CRON_BOUNDS[i]!;
    for (const item of field.split(",")) {
      const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(item);
      if (!m) return `cron ${name} ${item}: use *, a number, a range a-b, a list, or a step /n`;
      const first = m[2] === undefined ? low : Number(m[2]);
      const last = m[3] === undefined ? first : Number(m[3]);
      if (m[2] !== undefined && !(low <= first && first <= last && last <= high)) return `cron ${name} ${item} is outside ${low}-${high}`;
      if (m[4] !== undefined && Number(m[4]) < 1) return `cron ${name} ${item}: a step is 1 at least`;
    }
  }
  return null;
}

export function isCron(spec: string): boolean {
  const s = spec.trim();
  return s.length > 0 && !s.startsWith("@");
}

/** A time zone the browser knows (the edge checks it against its own zone database too). */
export function timeZoneProblem(zone: string): string | null {
  const z = zone.trim();
  if (!z) return null;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: z });
    return null;
  } catch {
    return `unknown time zone ${z}: use an IANA name such as Europe/Berlin`;
  }
}

/** A spec for a person: "every 2s", "once at …", "cron 0 0 8 * * 1-5 (Europe/Berlin)". */
export function describeSpec(spec: string, timeZone?: string | null): string {
  const s = spec.trim();
  const tz = timeZone ? ` (${timeZone})` : "";
  if (s.startsWith("@every")) return `every ${s.slice("@every".length).trim()}`;
  if (s.startsWith("@at")) return `once at ${s.slice("@at".length).trim()}`;
  if (s.startsWith("@")) return `${s.slice(1)}${tz}`;
  return `cron ${s}${tz}`;
}

/** The body of POST /v1/schedules from the form: trimmed, an empty time zone left out. */
export function writeBody(form: { twin_id: string; session_id: string; message: string; spec: string; time_zone: string }): ScheduleWrite {
  const body: ScheduleWrite = { twin_id: form.twin_id.trim(), session_id: form.session_id.trim(), message: form.message.trim(), spec: form.spec.trim() };
  const tz = form.time_zone.trim();
  if (tz && isCron(form.spec)) body.time_zone = tz;
  return body;
}

/** Why the form cannot be sent yet (first problem), or null. */
export function formProblem(form: { twin_id: string; session_id: string; message: string; spec: string; time_zone: string }): string | null {
  if (!form.twin_id.trim()) return "pick a twin";
  if (!form.session_id.trim()) return "name the session the message goes to";
  if (!form.message.trim()) return "write the message to send";
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(form.session_id.trim())) return "a session id is 1-64 characters of A-Z a-z 0-9 _ -";
  const wrong = specProblem(form.spec) ?? timeZoneProblem(form.time_zone);
  if (wrong) return wrong;
  return form.time_zone.trim() && !isCron(form.spec) ? "a time zone applies to cron expressions only (@every and @at do not depend on one)" : null;
}

/** "in 5 s", "3 min ago", or "–" for no time; `at` is an ISO instant or epoch seconds. */
export function relative(at: string | number | null | undefined, now = Date.now()): string {
  if (at === null || at === undefined || at === "") return "–";
  const ms = typeof at === "number" ? at * 1000 : Date.parse(at);
  if (Number.isNaN(ms)) return "–";
  const d = Math.round((ms - now) / 1000);
  const abs = Math.abs(d);
  const text = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min` : abs < 86_400 ? `${(abs / 3600).toFixed(1)} h` : `${(abs / 86_400).toFixed(1)} d`;
  return d >= 0 ? `in ${text}` : `${text} ago`;
}

/** Paused last, the soonest next run first, then by id (a stable list while it refreshes). */
export function sortSchedules(list: Schedule[]): Schedule[] {
  const next = (s: Schedule) => (s.next_run ? Date.parse(String(s.next_run)) : Number.POSITIVE_INFINITY);
  return [...list].sort((a, b) => Number(a.paused) - Number(b.paused) || next(a) - next(b) || a.id.localeCompare(b.id));
}

export type Load = { state: "loading" } | { state: "ok"; schedules: Schedule[] } | { state: "unavailable"; why: string } | { state: "error"; why: string };

export function loadFailed(err: unknown): Load {
  if (isUnavailable(err)) return { state: "unavailable", why: errorText(err) };
  return { state: "error", why: errorText(err) };
}

export function schedulePath(id: string, op?: "pause" | "resume"): string {
  return `/v1/schedules/${encodeURIComponent(id)}${op ? `/${op}` : ""}`;
}
