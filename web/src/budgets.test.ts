import { describe, expect, it } from "vitest";
import { amount, budgetFormOf, budgetPath, budgetWrite, EMPTY_BUDGET_FORM, mayPassBudget, meters, meterText, raiseProblem, scopeText, sortBudgets, suggestedRaise, whoMayPass } from "./budgets";
import type { ActionBudget, BudgetStatus } from "./types";

const status = (over: Partial<BudgetStatus> = {}): BudgetStatus => ({
  period: "day", tokens: 10000, money: null, ceiling_tokens: null, ceiling_money: null, scope: "twin:ada", updated_by: "admin",
  updated_at: "2026-12-04T10:00:00Z", period_start: "2026-12-04", spent_tokens: 2500, spent_money: 0.01, unpriced_calls: 0,
  currency: "USD", ...over,
});

const ask = (over: Partial<ActionBudget> = {}): ActionBudget => ({
  action_type: "ActionBudget", scope: "twin:ada", period: "day", unit: "tokens", limit: 10000, spent: 9800, estimate: 1300,
  ceiling: null, currency: "USD", raise_to: null, ...over,
});

describe("budget meters", () => {
  it("shows spent against the limit, one bar per unit limited", () => {
    const [m, ...rest] = meters(status());
    expect(rest).toEqual([]);
    expect(m).toMatchObject({ unit: "tokens", fraction: 0.25, state: "ok" });
    expect(meterText(m!)).toBe("2,500 of 10,000 tokens");
    expect(meters(status({ money: 5 })).map((x) => x.unit)).toEqual(["tokens", "money"]);
  });

  it("says near, over and at the ceiling, and keeps the bar within its track", () => {
    expect(meters(status({ spent_tokens: 8500 }))[0]!.state).toBe("near");
    const over = meters(status({ spent_tokens: 12000, ceiling_tokens: 20000 }))[0]!;
    expect(over.state).toBe("over");
    expect(over.fraction).toBe(1);
    expect(meters(status({ spent_tokens: 20000, ceiling_tokens: 20000 }))[0]!.state).toBe("ceiling");
  });

  it("measures a ceiling-only budget against its ceiling", () => {
    const m = meters(status({ tokens: null, ceiling_tokens: 5000 }))[0]!;
    expect(m.fraction).toBe(0.5);
    expect(meterText(m)).toBe("2,500 of 5,000 tokens (ceiling)");
  });

  it("never shows an unknown spend as zero, and a partly priced one as a lower bound", () => {
    const unknown = meters(status({ tokens: null, money: 5, spent_money: null }))[0]!;
    expect(unknown).toMatchObject({ state: "unknown", fraction: null });
    expect(meterText(unknown)).toBe("unknown of $5.00");
    expect(meterText(meters(status({ tokens: null, money: 5, spent_money: 1 }))[0]!, "USD", 2)).toBe("≥ $1.00 of $5.00");
  });

  it("lists global first, then users, then twins, day before month", () => {
    const sorted = sortBudgets([status({ scope: "twin:b" }), status({ scope: "user:u", period: "month" }), status({ scope: "user:u" }), status({ scope: "global" })]);
    expect(sorted.map((b) => `${b.scope}/${b.period}`)).toEqual(["global/day", "user:u/day", "user:u/month", "twin:b/day"]);
  });
});

describe("budget form", () => {
  it("makes the PUT body and the scope", () => {
    expect(budgetWrite({ ...EMPTY_BUDGET_FORM, id: "ada", tokens: "10,000" })).toEqual({
      scope: "twin:ada", body: { period: "day", tokens: 10000, money: null, ceiling_tokens: null, ceiling_money: null },
    });
    expect(budgetWrite({ ...EMPTY_BUDGET_FORM, kind: "global", id: "ignored", money: "$2.5", period: "month" }))
      .toMatchObject({ scope: "global", body: { money: 2.5, period: "month" } });
    expect(budgetPath("user:a@b")).toBe("/v1/budgets/user%3Aa%40b");
    expect(budgetPath("twin:ada", "month")).toBe("/v1/budgets/twin%3Aada?period=month");
  });

  it("refuses what the edge would refuse", () => {
    const problems = (f: Partial<typeof EMPTY_BUDGET_FORM>) => {
      const r = budgetWrite({ ...EMPTY_BUDGET_FORM, id: "ada", ...f });
      return "problems" in r ? r.problems : [];
    };
    expect(problems({})).toEqual(["Set a limit or a ceiling: tokens, money, or both."]);
    expect(problems({ id: "no.dots", tokens: "5" })[0]).toMatch(/^Twin:/);
    expect(problems({ kind: "user", id: "has space", tokens: "5" })[0]).toMatch(/^User:/);
    expect(problems({ tokens: "1.5" })[0]).toMatch(/whole number/);
    expect(problems({ tokens: "-3" })[0]).toMatch(/whole number/);
    expect(problems({ money: "0" })[0]).toMatch(/above 0/);
    expect(problems({ money: "abc" })[0]).toMatch(/above 0/);
    expect(problems({ tokens: "100", ceiling_tokens: "50" })).toEqual(["The token ceiling is below the token limit."]);
    expect(problems({ money: "5", ceiling_money: "1" })).toEqual(["The money ceiling is below the money limit."]);
  });

  it("edits a budget as it is stored", () => {
    expect(budgetFormOf(status({ scope: "user:bo", ceiling_tokens: 20000 }))).toEqual({
      kind: "user", id: "bo", period: "day", tokens: "10000", money: "", ceiling_tokens: "20000", ceiling_money: "",
    });
    expect(budgetFormOf(status({ scope: "global" })).kind).toBe("global");
    expect(scopeText("twin:ada")).toBe("twin ada");
    expect(scopeText("global")).toBe("global");
  });
});

describe("budget approval", () => {
  it("shows amounts in the budget's unit", () => {
    expect(amount("tokens", 10000)).toBe("10,000 tokens");
    expect(amount("money", 0.5)).toBe("$0.50");
    expect(amount("money", null)).toBe("unknown");
  });

  it("suggests a raise that covers the call, within the ceiling", () => {
    expect(suggestedRaise(ask())).toBe(20000);
    expect(suggestedRaise(ask({ limit: 1000, spent: 900, estimate: 5000 }))).toBe(6000);
    expect(suggestedRaise(ask({ ceiling: 15000 }))).toBe(15000);
    expect(suggestedRaise(ask({ unit: "money", limit: 1, spent: 0.99, estimate: 0.02 }))).toBe(2);
  });

  it("refuses a raise that is no raise, not a number, or past the ceiling", () => {
    expect(raiseProblem(ask(), "20000")).toBeNull();
    expect(raiseProblem(ask(), "20,000")).toBeNull();
    expect(raiseProblem(ask(), "")).toMatch(/in tokens/);
    expect(raiseProblem(ask(), "lots")).toMatch(/in tokens/);
    expect(raiseProblem(ask(), "10000")).toMatch(/above the current 10,000 tokens/);
    expect(raiseProblem(ask(), "12000.5")).toMatch(/whole number/);
    expect(raiseProblem(ask({ ceiling: 15000 }), "16000")).toMatch(/ceiling is 15,000 tokens/);
    expect(raiseProblem(ask({ unit: "money", limit: 1 }), "$1.50")).toBeNull();
  });
});

describe("who may pass a budget", () => {
  it("is an admin for the install's and a user's, also the owner for a twin's", () => {
    expect(mayPassBudget("global", true, "bob", null)).toBe(true);
    expect(mayPassBudget("global", false, "bob", null)).toBe(false);
    expect(mayPassBudget("user:bob", false, "bob", null)).toBe(false);
    expect(mayPassBudget("twin:mine", false, "bob", "bob")).toBe(true);
    expect(mayPassBudget("twin:shared", false, "bob", null)).toBe(false);
    expect(mayPassBudget("twin:alices", false, "bob", "alice")).toBe(false);
    expect(mayPassBudget("global", null, "bob", null)).toBeNull();
    expect(whoMayPass("twin:x")).toBe("its owner or an admin");
    expect(whoMayPass("user:x")).toBe("an admin");
  });
});
