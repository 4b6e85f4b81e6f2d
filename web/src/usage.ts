// The Usage view's figures (GET /v1/usage, bus_schemas/usage.py): pure and unit-tested. A cost the
// ledger does not know (no price for some call) is "unknown", never 0; estimated tokens say so.
import { ApiError, errorText, isUnavailable } from "./api";
import type { UsageDay, UsageGrouping, UsageReport, UsageTotal } from "./types";

export const GROUPINGS: readonly UsageGrouping[] = ["twin", "user", "session", "model"];
const DAY_S = 86_400;

export function tokens(n: number): string {
  return n.toLocaleString("en-US");
}

/** A priced amount; `null` is a price the ledger does not know. */
export function money(cost: number | null, currency = "USD"): string {
  if (cost === null) return "unknown";
  // A cent or more to the cent; less (a call costs fractions of a cent) to two significant digits, so
  // a small cost never reads as zero.
  const amount = cost === 0 || Math.abs(cost) >= 0.01 ? cost.toFixed(2)
    : cost.toLocaleString("en-US", { maximumSignificantDigits: 2, maximumFractionDigits: 20 });
  return currency === "USD" ? `$${amount}` : `${amount} ${currency}`;
}

/** A total's cost: "unknown" when no call was priced; with some calls unpriced, the priced part is a
 * lower bound ("≥"), never the whole cost. */
export function costText(t: Pick<UsageTotal, "cost" | "unpriced_calls">, currency = "USD"): string {
  if (t.cost === null) return "unknown";
  return t.unpriced_calls > 0 ? `≥ ${money(t.cost, currency)}` : money(t.cost, currency);
}

/** Why a total's cost is unknown (or partly unpriced), for the line under it. */
export function costNote(t: UsageTotal): string | null {
  if (t.unpriced_calls <= 0) return t.cost === null ? "no price known" : null;
  const of = `${t.unpriced_calls.toLocaleString("en-US")} of ${t.calls.toLocaleString("en-US")} call${t.calls === 1 ? "" : "s"}`;
  return `${of} without a known price`;
}

/** Tokens counted partly from the text, not from the provider: "≈" before the figure. */
export function tokensText(n: number, t: Pick<UsageTotal, "estimated_calls">): string {
  return `${t.estimated_calls > 0 ? "≈" : ""}${tokens(n)}`;
}

/** "N of M calls estimated", or null when the provider reported every call's tokens. */
export function estimatedNote(t: Pick<UsageTotal, "estimated_calls" | "calls">): string | null {
  if (t.estimated_calls <= 0) return null;
  return `${t.estimated_calls.toLocaleString("en-US")} of ${t.calls.toLocaleString("en-US")} call${t.calls === 1 ? "" : "s"} estimated`;
}

export const ESTIMATED_WHY = "the provider reported no usage: tokens estimated from the text, about 4 characters a token";

/** A `YYYY-MM-DD` day as epoch seconds at 00:00 UTC (the ledger's days are UTC days). */
export function dayStart(day: string): number {
  return Date.parse(`${day}T00:00:00Z`) / 1000;
}

export function isoDay(epochS: number): string {
  return new Date(epochS * 1000).toISOString().slice(0, 10);
}

export interface Range { since: string; until: string }

/** The last `days` UTC days, today included. */
export function lastDays(days: number, now = Date.now()): Range {
  const today = Math.floor(now / 1000 / DAY_S) * DAY_S;
  return { since: isoDay(today - (days - 1) * DAY_S), until: isoDay(today) };
}

/** `until` is the last day shown: its last second, so the day is in whether the edge reads the bound
 * as the day it falls in or as an instant. */
export function usagePath(by: UsageGrouping, range: Range): string {
  const q = new URLSearchParams({ by });
  if (range.since) q.set("since", String(dayStart(range.since)));
  if (range.until) q.set("until", String(dayStart(range.until) + DAY_S - 1));
  return `/v1/usage?${q.toString()}`;
}

/** uPlot's columns: day (epoch s), input tokens, output tokens, cost (a day with an unknown price is a gap). */
export function dailySeries(days: UsageDay[]): [number[], number[], number[], (number | null)[]] {
  const sorted = [...days].sort((a, b) => a.day.localeCompare(b.day));
  return [sorted.map((d) => dayStart(d.day)), sorted.map((d) => d.input_tokens), sorted.map((d) => d.output_tokens), sorted.map((d) => d.cost)];
}

export function isEmpty(total: UsageTotal): boolean {
  return total.calls === 0 && total.run_wall_ms === 0;
}

export type Load = { state: "loading" } | { state: "ok"; report: UsageReport } | { state: "unavailable"; why: string }
  | { state: "down"; why: string } | { state: "error"; why: string };

/** A failed `GET /v1/usage`: no route (404/405/501), the ledger behind the edge not answering (502-504), or else. */
export function loadFailed(err: unknown): Load {
  if (isUnavailable(err)) return { state: "unavailable", why: errorText(err) };
  if (err instanceof ApiError && err.status >= 502 && err.status <= 504) return { state: "down", why: errorText(err) };
  return { state: "error", why: errorText(err) };
}
