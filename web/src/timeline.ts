// "Generate Visual Evidence": an SVG timeline of one session's events, rendered in the browser.
import type { TimelineEvent } from "./session";

const COLORS: Record<string, string> = {
  "chat.in": "#818cf8", "complete_message": "#34d399", "approve.request": "#fbbf24", "approve.decision": "#f59e0b",
  "status_update": "#94a3b8", "memory.query": "#c084fc", "memory.result": "#c084fc", "tool.run": "#fbbf24",
  "tool.result": "#fbbf24", "build.req": "#22d3ee", "build.result": "#22d3ee",
};

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function timelineSvg(sessionId: string, events: TimelineEvent[]): string {
  const rows = events.slice(-200);
  const rowH = 22, left = 150, width = 900;
  const height = 60 + rows.length * rowH;
  const t0 = rows.length ? Date.parse(rows[0]!.ts) : 0;
  const t1 = rows.length ? Date.parse(rows[rows.length - 1]!.ts) : 0;
  const span = Math.max(1, t1 - t0);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="ui-monospace,monospace" font-size="11">`,
    `<rect width="100%" height="100%" fill="#0b0d17"/>`,
    `<text x="12" y="22" fill="#e0e7ff" font-size="14">Session ${esc(sessionId)}: ${rows.length} events over ${(span / 1000).toFixed(1)} s</text>`,
    `<line x1="${left}" y1="36" x2="${left}" y2="${height - 10}" stroke="#334155"/>`,
  ];
  rows.forEach((e, i) => {
    const y = 50 + i * rowH;
    const x = left + 10 + ((Date.parse(e.ts) - t0) / span) * 200;
    const color = COLORS[e.type] ?? "#64748b";
    parts.push(
      `<text x="12" y="${y + 4}" fill="#64748b">#${e.seq} ${esc(new Date(e.ts).toLocaleTimeString("en-GB", { hour12: false }))}</text>`,
      `<circle cx="${x.toFixed(1)}" cy="${y}" r="5" fill="${color}"/>`,
      `<text x="${left + 220}" y="${y + 4}" fill="${color}">${esc(e.type)}</text>`,
      `<text x="${left + 360}" y="${y + 4}" fill="#cbd5e1">${esc(e.label.slice(0, 70))}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("");
}
