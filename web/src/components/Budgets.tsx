// The Usage view's Budgets panel (GET/PUT/DELETE /v1/budgets): each budget's period so far against its
// limit and ceiling, refreshed with the usage figures; an admin adds, changes and removes them.
import { useEffect, useState } from "preact/hooks";
import { api, errorText, isUnavailable } from "../api";
import { amount, budgetFormOf, budgetPath, budgetWrite, EMPTY_BUDGET_FORM, meters, meterText, PERIODS, scopeText, sortBudgets, type BudgetForm, type Meter } from "../budgets";
import { store } from "../store";
import type { BudgetList, BudgetStatus } from "../types";

type Load = { state: "loading" } | { state: "ok"; budgets: BudgetStatus[] } | { state: "unavailable"; why: string } | { state: "error"; why: string };

function MeterBar({ m, b }: { m: Meter; b: BudgetStatus }) {
  const pct = m.fraction === null ? 0 : Math.round(m.fraction * 100);
  return (
    <div class={`meter ${m.state}`} data-testid="budget-meter" data-unit={m.unit} data-state={m.state}>
      <div class="track" role="progressbar" aria-label={`${scopeText(b.scope)} ${b.period} ${m.unit}`} aria-valuemin={0} aria-valuemax={100}
        aria-valuenow={m.fraction === null ? undefined : pct}><div class="fill" style={{ width: `${pct}%` }} /></div>
      <span data-testid="budget-meter-text">{meterText(m, b.currency, b.unpriced_calls)}
        {m.limit !== null && m.ceiling !== null && <span class="muted"> · ceiling {amount(m.unit, m.ceiling, b.currency)}</span>}
        {m.state === "over" && <span class="warn-text"> · over: each call asks for approval</span>}
        {m.state === "ceiling" && <span class="error-text"> · ceiling reached: no call passes</span>}
        {m.state === "unknown" && <span class="cost-unknown"> · no call had a known price</span>}</span>
    </div>
  );
}

export function BudgetsPanel() {
  const [load, setLoad] = useState<Load>({ state: "loading" });
  const [admin, setAdmin] = useState(false);
  const [form, setForm] = useState<BudgetForm | null>(null);
  const [problems, setProblems] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    api<{ admin?: boolean }>("/v1/auth/session").then((d) => setAdmin(d.admin === true), () => setAdmin(false));
  }, []);
  useEffect(() => {
    let alive = true;
    const run = () => api<BudgetList>("/v1/budgets").then(
      (d) => alive && setLoad({ state: "ok", budgets: sortBudgets(d.budgets) }),
      (err) => alive && setLoad(isUnavailable(err) ? { state: "unavailable", why: errorText(err) } : { state: "error", why: errorText(err) }),
    );
    void run();
    // Spent counts up with the ledger, as the usage figures do.
    const every = window.setInterval(() => void run(), 5000);
    return () => { alive = false; window.clearInterval(every); };
  }, [tick]);
  const set = (patch: Partial<BudgetForm>) => form && setForm({ ...form, ...patch });
  const save = async (ev: Event) => {
    ev.preventDefault();
    if (!form) return;
    const made = budgetWrite(form);
    if ("problems" in made) { setProblems(made.problems); return; }
    setBusy(true);
    try {
      await api(budgetPath(made.scope), { method: "PUT", json: made.body });
      store.notify(`Budget of ${scopeText(made.scope)} per ${made.body.period} saved`);
      setForm(null); setProblems([]); setTick((n) => n + 1);
    } catch (err) {
      setProblems([errorText(err)]);
    } finally { setBusy(false); }
  };
  const remove = async (b: BudgetStatus) => {
    try {
      await api(budgetPath(b.scope, b.period), { method: "DELETE" });
      store.notify(`Budget of ${scopeText(b.scope)} per ${b.period} removed`);
      setTick((n) => n + 1);
    } catch (err) { store.notify(errorText(err), "error"); }
  };
  return (
    <section class="panel budgets" data-testid="budgets-panel" aria-label="Budgets">
      <h3>Budgets <span class="muted small">a job asks for approval before a call past a limit; no approval passes a ceiling</span></h3>
      {load.state === "loading" && <p class="muted small">Loading budgets…</p>}
      {load.state === "unavailable" && <p class="unavailable" data-testid="budgets-unavailable">Budgets are unavailable: this edge does not serve <code>GET /v1/budgets</code> yet ({load.why}).</p>}
      {load.state === "error" && <p class="error-text" data-testid="budgets-error">Budgets could not be read: {load.why}</p>}
      {load.state === "ok" && load.budgets.length === 0 && <p class="muted small" data-testid="budgets-none">No budgets set: calls are not limited.</p>}
      {load.state === "ok" && load.budgets.map((b) => (
        <div class="budget-row" key={`${b.scope}/${b.period}`} data-testid="budget-row" data-scope={b.scope} data-period={b.period}>
          <div><code>{scopeText(b.scope)}</code> <span class="muted small">per {b.period} since {b.period_start}</span></div>
          <div>{meters(b).map((m) => <MeterBar key={m.unit} m={m} b={b} />)}</div>
          {admin && <div class="row">
            <button type="button" class="btn small" data-testid="budget-edit" onClick={() => { setForm(budgetFormOf(b)); setProblems([]); }}>Edit</button>
            <button type="button" class="btn small danger" data-testid="budget-remove" onClick={() => void remove(b)}>Remove</button>
          </div>}
        </div>
      ))}
      {!admin && load.state === "ok" && <p class="muted small">Only an admin may set budgets.</p>}
      {admin && !form && <div><button type="button" class="btn small" data-testid="budget-add" onClick={() => { setForm({ ...EMPTY_BUDGET_FORM }); setProblems([]); }}>Add a budget</button></div>}
      {admin && form && (
        <form class="budget-form" data-testid="budget-form" onSubmit={save} noValidate>
          <label>Scope
            <select data-testid="budget-kind" value={form.kind} onChange={(e) => set({ kind: e.currentTarget.value as BudgetForm["kind"] })}>
              <option value="global">global (everyone)</option><option value="user">user</option><option value="twin">twin</option>
            </select></label>
          {form.kind !== "global" && <label>{form.kind === "user" ? "User id" : "Twin id"}
            <input data-testid="budget-id" value={form.id} onInput={(e) => set({ id: e.currentTarget.value })}
              list={form.kind === "twin" ? "budget-twins" : undefined} /></label>}
          <datalist id="budget-twins">{store.twins.map((t) => <option key={t.id} value={t.id}>{t.codename}</option>)}</datalist>
          <label>Period
            <select data-testid="budget-period" value={form.period} onChange={(e) => set({ period: e.currentTarget.value as BudgetForm["period"] })}>
              {PERIODS.map((p) => <option key={p} value={p}>{p}</option>)}
            </select></label>
          <label>Tokens <input data-testid="budget-tokens" inputMode="numeric" placeholder="none" value={form.tokens} onInput={(e) => set({ tokens: e.currentTarget.value })} /></label>
          <label>Money (USD) <input data-testid="budget-money" inputMode="decimal" placeholder="none" value={form.money} onInput={(e) => set({ money: e.currentTarget.value })} /></label>
          <label>Ceiling tokens <input data-testid="budget-ceiling-tokens" inputMode="numeric" placeholder="none" value={form.ceiling_tokens} onInput={(e) => set({ ceiling_tokens: e.currentTarget.value })} /></label>
          <label>Ceiling USD <input data-testid="budget-ceiling-money" inputMode="decimal" placeholder="none" value={form.ceiling_money} onInput={(e) => set({ ceiling_money: e.currentTarget.value })} /></label>
          <button type="submit" class="btn primary small" data-testid="budget-save" disabled={busy}>{busy ? "Saving…" : "Save budget"}</button>
          <button type="button" class="btn small" onClick={() => { setForm(null); setProblems([]); }}>Cancel</button>
          {problems.length > 0 && <ul class="problems" role="alert" data-testid="budget-problems">{problems.map((p) => <li key={p}>{p}</li>)}</ul>}
        </form>
      )}
    </section>
  );
}
