// Budgets (GET/PUT/DELETE /v1/budgets, bus_schemas/budgets.py) and the budget approval
// (ActionBudget): pure and unit-tested. A limit asks for approval past it; a ceiling no approval passes.
import type { ActionBudget, BudgetStatus } from "./types";
import { money, tokens } from "./usage";

export type BudgetPeriod = BudgetStatus["period"];
export type BudgetUnit = ActionBudget["unit"];
export type ScopeKind = "global" | "user" | "twin";

export const PERIODS: readonly BudgetPeriod[] = ["day", "month"];
// bus_schemas/budgets.py BUDGET_SCOPE_PATTERN, per kind.
const SCOPE_IDS: Record<Exclude<ScopeKind, "global">, RegExp> = {
  user: /^[A-Za-z0-9_@+=-]{1,128}$/,
  twin: /^[A-Za-z0-9_-]{1,64}$/,
};
const MAX_TOKENS = 10 ** 13;
const MAX_MONEY = 10 ** 9;

/** "global", "user ada", "twin helper": a scope as a person reads it. */
export function scopeText(scope: string): string {
  const at = scope.indexOf(":");
  return at < 0 ? scope : `${scope.slice(0, at)} ${scope.slice(at + 1)}`;
}

export function scopeOf(kind: ScopeKind, id: string): string {
  return kind === "global" ? "global" : `${kind}:${id.trim()}`;
}

export function budgetPath(scope: string, period?: BudgetPeriod): string {
  const path = `/v1/budgets/${encodeURIComponent(scope)}`;
  return period ? `${path}?period=${period}` : path;
}

/** An amount in a budget's unit: tokens counted, money priced. */
export function amount(unit: BudgetUnit, value: number | null, currency = "USD"): string {
  if (unit === "money") return money(value, currency);
  return value === null ? "unknown" : `${tokens(Math.round(value))} tokens`;
}

export type MeterState = "ok" | "near" | "over" | "ceiling" | "unknown";

/** One bar of a budget: what its period spent of one unit against the limit and the ceiling. */
export interface Meter {
  unit: BudgetUnit;
  spent: number | null;
  limit: number | null;
  ceiling: number | null;
  /** Spent over the limit (or, without one, the ceiling), 0-1 for the bar; null when spent is unknown. */
  fraction: number | null;
  state: MeterState;
}

const NEAR = 0.8;

function meter(unit: BudgetUnit, spent: number | null, limit: number | null, ceiling: number | null): Meter {
  const of = limit ?? ceiling;
  if (spent === null || of === null) return { unit, spent, limit, ceiling, fraction: null, state: "unknown" };
  const state: MeterState = ceiling !== null && spent >= ceiling ? "ceiling"
    : limit !== null && spent >= limit ? "over"
    : spent >= NEAR * of ? "near" : "ok";
  return { unit, spent, limit, ceiling, fraction: Math.min(1, spent / of), state };
}

/** The bars a budget shows: one per unit it limits (tokens, money). */
export function meters(b: BudgetStatus): Meter[] {
  const out: Meter[] = [];
  if (b.tokens !== null || b.ceiling_tokens !== null) out.push(meter("tokens", b.spent_tokens, b.tokens, b.ceiling_tokens));
  if (b.money !== null || b.ceiling_money !== null) out.push(meter("money", b.spent_money, b.money, b.ceiling_money));
  return out;
}

/** "1,200 of 10,000 tokens", "$0.40 of $5.00 (≥: 2 calls unpriced)". */
export function meterText(m: Meter, currency = "USD", unpricedCalls = 0): string {
  const spent = m.unit === "money" ? money(m.spent, currency) : m.spent === null ? "unknown" : tokens(m.spent);
  const of = m.limit ?? m.ceiling;
  const text = `${m.unit === "money" && unpricedCalls > 0 && m.spent !== null ? "≥ " : ""}${spent} of ${amount(m.unit, of, currency)}`;
  return m.limit === null ? `${text} (ceiling)` : text;
}

/** The budgets a list shows, in a steady order: global, users, twins; day before month. */
export function sortBudgets(list: BudgetStatus[]): BudgetStatus[] {
  const rank = (s: string) => (s === "global" ? 0 : s.startsWith("user:") ? 1 : 2);
  return [...list].sort((a, b) => rank(a.scope) - rank(b.scope) || a.scope.localeCompare(b.scope) || PERIODS.indexOf(a.period) - PERIODS.indexOf(b.period));
}

/** The add/edit form: amounts as typed (empty: not set). */
export interface BudgetForm {
  kind: ScopeKind; id: string; period: BudgetPeriod;
  tokens: string; money: string; ceiling_tokens: string; ceiling_money: string;
}

export const EMPTY_BUDGET_FORM: BudgetForm = { kind: "twin", id: "", period: "day", tokens: "", money: "", ceiling_tokens: "", ceiling_money: "" };

export function budgetFormOf(b: BudgetStatus): BudgetForm {
  const at = b.scope.indexOf(":");
  const kind = (at < 0 ? b.scope : b.scope.slice(0, at)) as ScopeKind;
  const text = (n: number | null) => (n === null ? "" : String(n));
  return { kind, id: at < 0 ? "" : b.scope.slice(at + 1), period: b.period, tokens: text(b.tokens), money: text(b.money),
    ceiling_tokens: text(b.ceiling_tokens), ceiling_money: text(b.ceiling_money) };
}

/** PUT /v1/budgets/{scope}'s body (BudgetWrite) */
export interface BudgetWriteBody {
  period: BudgetPeriod; tokens: number | null; money: number | null; ceiling_tokens: number | null; ceiling_money: number | null;
}

/** The scope and body the form makes, or what is wrong with it (the checks BudgetWrite makes). */
export function budgetWrite(f: BudgetForm): { scope: string; body: BudgetWriteBody } | { problems: string[] } {
  const problems: string[] = [];
  if (f.kind !== "global" && !SCOPE_IDS[f.kind].test(f.id.trim())) {
    problems.push(f.kind === "user" ? "User: 1-128 characters of A-Z a-z 0-9 _ @ + = -." : "Twin: 1-64 characters of A-Z a-z 0-9 _ -.");
  }
  const whole = (label: string, raw: string): number | null => {
    if (!raw.trim()) return null;
    const n = Number(raw.replace(/[,_\s]/g, ""));
    if (!Number.isInteger(n) || n < 1 || n > MAX_TOKENS) { problems.push(`${label}: a whole number of tokens, at least 1.`); return null; }
    return n;
  };
  const priced = (label: string, raw: string): number | null => {
    if (!raw.trim()) return null;
    const n = Number(raw.replace(/^\$/, "").trim());
    if (!Number.isFinite(n) || n <= 0 || n > MAX_MONEY) { problems.push(`${label}: an amount in USD above 0.`); return null; }
    return n;
  };
  const body: BudgetWriteBody = {
    period: f.period,
    tokens: whole("Tokens", f.tokens), money: priced("Money", f.money),
    ceiling_tokens: whole("Ceiling (tokens)", f.ceiling_tokens), ceiling_money: priced("Ceiling (money)", f.ceiling_money),
  };
  if (!problems.length && body.tokens === null && body.money === null && body.ceiling_tokens === null && body.ceiling_money === null) {
    problems.push("Set a limit or a ceiling: tokens, money, or both.");
  }
  if (body.tokens !== null && body.ceiling_tokens !== null && body.ceiling_tokens < body.tokens) problems.push("The token ceiling is below the token limit.");
  if (body.money !== null && body.ceiling_money !== null && body.ceiling_money < body.money) problems.push("The money ceiling is below the money limit.");
  return problems.length ? { problems } : { scope: scopeOf(f.kind, f.id), body };
}

/** The limit "approve and raise" suggests: enough for this call and as much again as the budget was. */
export function suggestedRaise(a: ActionBudget): number {
  const wanted = Math.max(a.limit * 2, a.spent + a.estimate);
  const raised = a.unit === "tokens" ? Math.ceil(wanted / 1000) * 1000 : Math.ceil(wanted * 100) / 100;
  return a.ceiling !== null ? Math.min(raised, a.ceiling) : raised;
}

/** A new limit as typed for "approve and raise": a number above the current limit, within the ceiling. */
export function raiseProblem(a: ActionBudget, raw: string): string | null {
  const n = Number(raw.replace(/^\$/, "").replace(/[,_\s]/g, ""));
  if (!raw.trim() || !Number.isFinite(n) || n <= 0) return a.unit === "tokens" ? "Type the new limit in tokens." : "Type the new limit in USD.";
  if (a.unit === "tokens" && !Number.isInteger(n)) return "A token limit is a whole number.";
  if (n <= a.limit) return `The new limit must be above the current ${amount(a.unit, a.limit, a.currency)}.`;
  if (a.ceiling !== null && n > a.ceiling) return `The ceiling is ${amount(a.unit, a.ceiling, a.currency)}: no limit may pass it.`;
  return null;
}

export function raiseValue(raw: string): number {
  return Number(raw.replace(/^\$/, "").replace(/[,_\s]/g, ""));
}

/** After this call the budget would stand at: spent + estimate. */
export function afterCall(a: ActionBudget): number {
  return a.spent + a.estimate;
}

/** Whether this person may pass or raise a budget (edge/doors/approvals.py decides; this only keeps the
 * buttons from offering what it refuses): the install's and a user's budget an admin's, a twin's its
 * owner's or an admin's (a shared twin's: an admin's). null: not known yet, so nothing is held back. */
export function mayPassBudget(scope: string, admin: boolean | null, user: string, twinOwner: string | null | undefined): boolean | null {
  if (admin === true) return true;
  if (scope.startsWith("twin:") && twinOwner != null && twinOwner === user) return true;
  return admin === null ? null : false;
}

/** Who may, said to someone who may not. */
export function whoMayPass(scope: string): string {
  return scope.startsWith("twin:") ? "its owner or an admin" : "an admin";
}
