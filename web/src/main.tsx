import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "./styles.css";
import { ApprovalModal } from "./components/ApprovalModal";
import { Hub } from "./components/Chat";
import { CreateTwinModal } from "./components/CreateTwin";
import { JobLogs } from "./components/JobLogs";
import { McpServers } from "./components/McpServers";
import { MemoryPanel } from "./components/MemoryPanel";
import { RightPanel } from "./components/RightPanel";
import { Search } from "./components/Search";
import { SchedulesView } from "./components/Schedules";
import { SessionReplay } from "./components/SessionReplay";
import { Sidebar } from "./components/Sidebar";
import { SignIn } from "./components/SignIn";
import { TwinSettingsView } from "./components/TwinSettings";
import { UsageView } from "./components/Usage";
import { navigate, useRoute } from "./router";
import { ORCHESTRATOR, store, useStore } from "./store";

function App() {
  const s = useStore();
  const route = useRoute();
  const [creating, setCreating] = useState(false);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const typing = e.target instanceof HTMLElement && /INPUT|TEXTAREA|SELECT/.test(e.target.tagName) || (e.target as HTMLElement | null)?.isContentEditable;
      if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "/") { e.preventDefault(); navigate("/search"); }
      if (e.key === "n") { e.preventDefault(); setCreating(true); }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  const twinId = route.view === "hub" || route.view === "settings" ? route.twinId : ORCHESTRATOR;
  const sessionId = route.view === "job" && route.sessionId ? route.sessionId : route.view === "session" ? route.sessionId : s.sessionIdFor(twinId);
  const approval = s.modalApproval();
  if (!s.auth.checked) return <div class="signin muted">Connecting…</div>;
  if (s.auth.required && !s.auth.user) return <SignIn />;
  return (
    <div class="layout">
      <Sidebar route={route} onCreate={() => setCreating(true)} />
      {route.view === "hub" && <Hub key={route.twinId} twinId={route.twinId} />}
      {route.view === "settings" && <TwinSettingsView key={route.twinId} twinId={route.twinId} />}
      {route.view === "search" && <Search />}
      {route.view === "mcp" && <McpServers />}
      {route.view === "usage" && <UsageView />}
      {route.view === "schedules" && <SchedulesView />}
      {route.view === "session" && <SessionReplay key={route.sessionId} sessionId={route.sessionId} />}
      {route.view === "job" && <JobLogs jobId={route.jobId} sessionId={route.sessionId} />}
      <RightPanel sessionId={sessionId} twinId={twinId} />
      {approval && <ApprovalModal approval={approval} />}
      {!approval && s.openMemoryId && <MemoryPanel memoryId={s.openMemoryId} />}
      {creating && <CreateTwinModal onClose={() => setCreating(false)} />}
      {s.toast && <div class={`toast ${s.toast.kind}`} role="status">{s.toast.text}</div>}
    </div>
  );
}

void store.boot();
(window as unknown as { pagi: typeof store }).pagi = store;
render(<App />, document.getElementById("app")!);
