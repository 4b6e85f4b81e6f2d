import { onLink, type Route } from "../router";
import { store, useStore } from "../store";
import { isBusy } from "../session";
import { Avatar } from "./Avatar";

export function Sidebar({ route, onCreate }: { route: Route; onCreate: () => void }) {
  const s = useStore();
  const active = route.view === "hub" || route.view === "settings" ? route.twinId : null;
  return (
    <nav class="sidebar left" aria-label="Navigation">
      <div class="brand">
        <span class="brand-mark">◆</span> PAGI <span class="brand-sub">console</span>
      </div>
      <a href="/" class={`nav-item ${route.view === "hub" && active === "orchestrator" ? "active" : ""}`} onClick={(e) => onLink(e, "/")}>
        <span class="nav-icon">⌘</span>
        <span class="twin-names"><span>Ops Center</span><span class="twin-designation">Orchestrator Hub</span></span>
      </a>
      <a href="/search" class={`nav-item ${route.view === "search" ? "active" : ""}`} onClick={(e) => onLink(e, "/search")}>
        <span class="nav-icon">⌕</span> Search Archive
      </a>
      <a href="/settings/mcp" data-testid="nav-mcp" class={`nav-item ${route.view === "mcp" ? "active" : ""}`} onClick={(e) => onLink(e, "/settings/mcp")}>
        <span class="nav-icon">⛭</span> MCP servers
      </a>
      <a href="/usage" data-testid="nav-usage" class={`nav-item ${route.view === "usage" ? "active" : ""}`} onClick={(e) => onLink(e, "/usage")}>
        <span class="nav-icon">¤</span> Usage
      </a>
      <a href="/schedules" data-testid="nav-schedules" class={`nav-item ${route.view === "schedules" ? "active" : ""}`} onClick={(e) => onLink(e, "/schedules")}>
        <span class="nav-icon">◷</span> Schedules
      </a>
      <h2 class="section-title">Twins</h2>
      {s.twinsError && <p class="muted small error-text">Twins unavailable: {s.twinsError}</p>}
      {!s.twinsLoaded && <p class="muted small">Loading twins…</p>}
      <ul class="twin-list" data-testid="twin-list">
        {s.twins.map((t) => {
          const session = s.sessions.get(store.sessionIdFor(t.id));
          // The planner's view (busy across every session) or this browser's own running job.
          const status = t.status !== "idle" ? t.status : session && isBusy(session) ? "thinking" : "idle";
          return (
            <li key={t.id}>
              <a href={`/twins/${encodeURIComponent(t.id)}`} class={`twin-item ${active === t.id ? "active" : ""}`}
                onClick={(e) => onLink(e, t.id === "orchestrator" ? "/" : `/twins/${encodeURIComponent(t.id)}`)}>
                <Avatar twin={t} size={34} />
                <span class="twin-names">
                  <span class="twin-codename">{t.codename}</span>
                  <span class="twin-designation">{t.designation || t.id}</span>
                </span>
                <span class={`status-dot ${status}`} title={status} aria-label={`status ${status}`} />
              </a>
            </li>
          );
        })}
      </ul>
      <button class="btn create-twin" onClick={onCreate}>+ Create Twin</button>
      <div class="sidebar-foot muted small">
        {s.auth.user ? <>signed in as <code>{s.user}</code> · <button class="link" onClick={() => void s.signOut()}>sign out</button></>
          : <>local user <code>{s.user}</code>{s.auth.required ? "" : " (no authentication on this edge)"}</>}
      </div>
    </nav>
  );
}
