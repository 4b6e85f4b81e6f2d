import { useState } from "preact/hooks";
import { FANOUT_KEY, fanoutProblem, fanoutProgress, fanoutSession, gatherAnswers, keepFanout, newFanout, readFanouts, type Fanout } from "../agents";
import { onLink } from "../router";
import { ORCHESTRATOR, store, useStore } from "../store";

/** The Ops Center's fan-out: one directive to several twins at once (a session of its own per twin,
 * so each twin's job is in the pipeline and replays alone), their answers gathered side by side. */
export function FanoutPanel() {
  const s = useStore();
  const [open, setOpen] = useState(false);
  const [directive, setDirective] = useState("");
  const [picked, setPicked] = useState<string[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  const [fanouts, setFanouts] = useState<Fanout[]>(() => readFanouts(localStorage.getItem(FANOUT_KEY)));
  const [shown, setShown] = useState<string | null>(() => fanouts[0]?.id ?? null);
  const twins = s.twins.filter((t) => t.id !== ORCHESTRATOR);
  const toggle = (id: string) => setPicked((p) => (p.includes(id) ? p.filter((x) => x !== id) : [...p, id]));
  const send = (e: Event) => {
    e.preventDefault();
    const wrong = fanoutProblem(directive, picked);
    setProblem(wrong);
    if (wrong) return;
    const f = newFanout(directive, picked);
    for (const twinId of f.twins) store.sendIn(fanoutSession(f.id, twinId), twinId, f.directive);
    const list = keepFanout(fanouts, f);
    localStorage.setItem(FANOUT_KEY, JSON.stringify(list));
    setFanouts(list);
    setShown(f.id);
    setDirective("");
  };
  const current = fanouts.find((f) => f.id === shown);
  // Following a fan-out's sessions (after a reload too) replays their answers into the store.
  if (current) for (const twinId of current.twins) store.session(fanoutSession(current.id, twinId));
  const answers = current ? gatherAnswers(current, s.sessions) : [];
  return (
    <section class="fanout" aria-label="Fan-out" data-testid="fanout">
      <div class="row">
        <button class="btn task" aria-expanded={open} data-testid="fanout-toggle" onClick={() => setOpen(!open)}>⇶ Ask several twins</button>
        {fanouts.length > 0 && (
          <select aria-label="Earlier fan-outs" data-testid="fanout-pick" value={shown ?? ""} onChange={(e) => setShown(e.currentTarget.value)}>
            {fanouts.map((f) => <option key={f.id} value={f.id}>{f.directive.slice(0, 60)} · {f.twins.length} twins</option>)}
          </select>
        )}
      </div>
      {open && (
        <form onSubmit={send} class="fanout-form">
          <div class="fanout-twins" role="group" aria-label="Twins to ask">
            {twins.length === 0 && <span class="muted small">No twins to ask yet: create one first.</span>}
            {twins.map((t) => (
              <label key={t.id} class="check small"><input type="checkbox" data-testid="fanout-twin" value={t.id} checked={picked.includes(t.id)} onChange={() => toggle(t.id)} />
                {t.codename} <span class="muted">({t.id})</span></label>
            ))}
          </div>
          <div class="row">
            <input data-testid="fanout-directive" aria-label="Directive" style={{ flex: 1, minWidth: 0 }} maxLength={32000} value={directive}
              placeholder="One directive, sent to each twin picked" onInput={(e) => setDirective(e.currentTarget.value)} />
            <button class="btn primary" type="submit" data-testid="fanout-send">Send to {picked.length || "…"}</button>
          </div>
          {problem && <p class="warn-text small" data-testid="fanout-problem">{problem}</p>}
        </form>
      )}
      {current && (
        <div data-testid="fanout-result" data-fanout={current.id}>
          <p class="small"><b>{current.directive}</b> <span class="muted" data-testid="fanout-progress">· {fanoutProgress(answers)}</span></p>
          <ul class="fanout-answers">
            {answers.map((a) => {
              const twin = s.twin(a.twinId);
              const logs = a.jobId ? `/jobs/${a.jobId}?session=${encodeURIComponent(a.sessionId)}` : null;
              const replay = `/sessions/${encodeURIComponent(a.sessionId)}`;
              return (
                <li key={a.twinId} data-testid="fanout-answer" data-twin={a.twinId} data-state={a.state}>
                  <div class="row"><b>{twin?.codename ?? a.twinId}</b><span class={`badge job-${a.state === "sending" ? "pending" : a.state}`}>{a.state.replace("_", " ")}</span></div>
                  <div class="answer">{a.answer ?? <span class="muted">{a.state === "waiting_approval" ? "waiting for your approval" : "no answer yet"}</span>}</div>
                  <div class="muted small">
                    {logs && <><a href={logs} onClick={(e) => onLink(e, logs)}>logs</a> · </>}
                    <a href={replay} onClick={(e) => onLink(e, replay)}>session</a>
                  </div>
                </li>
              );
            })}
          </ul>
        </div>
      )}
    </section>
  );
}

