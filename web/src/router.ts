// A small path router over the History API; the edge answers every client route with index.html.
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { view: "hub"; twinId: string }
  | { view: "settings"; twinId: string }
  | { view: "search" }
  | { view: "mcp" }
  | { view: "usage" }
  | { view: "schedules" }
  | { view: "session"; sessionId: string }
  | { view: "job"; jobId: string; sessionId: string | null };

export function parseRoute(path: string, search = ""): Route {
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "search") return { view: "search" };
  if (parts[0] === "settings" && parts[1] === "mcp") return { view: "mcp" };
  if (parts[0] === "usage") return { view: "usage" };
  if (parts[0] === "schedules") return { view: "schedules" };
  if (parts[0] === "sessions" && parts[1]) return { view: "session", sessionId: parts[1] };
  if (parts[0] === "jobs" && parts[1]) return { view: "job", jobId: parts[1], sessionId: new URLSearchParams(search).get("session") };
  if (parts[0] === "twins" && parts[1]) return parts[2] === "settings" ? { view: "settings", twinId: parts[1] } : { view: "hub", twinId: parts[1] };
  return { view: "hub", twinId: "orchestrator" };
}

export function navigate(to: string): void {
  if (location.pathname + location.search === to) return;
  history.pushState(null, "", to);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname, location.search));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.pathname, location.search));
    window.addEventListener("popstate", on);
    return () => window.removeEventListener("popstate", on);
  }, []);
  return route;
}

/** An <a> that routes on the client; a modified click still opens a new tab. */
export function onLink(ev: MouseEvent, to: string): void {
  if (ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  navigate(to);
}
