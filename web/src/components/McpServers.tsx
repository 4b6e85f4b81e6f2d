// Settings → MCP servers: the servers an operator registered (GET /v1/mcp/servers), added and removed
// by admins (POST/DELETE); a member sees the list only. Whether a stdio server gets a network is
// shown plainly: it is the one thing a stdio server may reach beyond its sandbox.
import { useEffect, useState } from "preact/hooks";
import { api, errorText } from "../api";
import type { McpNamed, McpServerView } from "../generated/bus";

// The shapes are bus_schemas/mcp.py's (McpServerView as served: header names, never values; `status`
// as the host running the server last reported it; resources' and prompts' words are the server's).

function Offered({ what, items, server }: { what: string; items: McpNamed[]; server: string }) {
  if (!items.length) return null;
  return (
    <div class="kv-block"><span>{what} (as server {server} describes them)</span>
      <ul class="hints">{items.map((i) => <li key={i.uri ?? i.name}><code>{i.name}</code>{i.description && <span class="muted"> {i.description}</span>}</li>)}</ul>
    </div>
  );
}

function Status({ server }: { server: McpServerView }) {
  const st = server.status;
  if (!st) return <p class="muted small" data-testid="mcp-status">No tool worker has reported on this server yet.</p>;
  return (
    <div data-testid="mcp-status">
      <div class="kv"><span>Running</span><b class={st.running ? "" : "warn-text"}>{st.running ? "yes" : "no"}</b>
        <span class="muted small">on {st.host} · isolation {st.isolation} · {st.tools} tools{st.restarts ? ` · ${st.restarts} restarts` : ""}</span></div>
      {st.last_error && <div class="kv-block"><span>Last error</span><pre class="args">{st.last_error}</pre></div>}
      {st.warning && <p class="warn-text small">{st.warning}</p>}
      <Offered what="Resources" items={st.resources} server={server.name} />
      <Offered what="Prompts" items={st.prompts} server={server.name} />
    </div>
  );
}

/** Whether the signed-in person may register servers (the edge's routes check again). */
async function mayAdminister(): Promise<boolean> {
  return (await api<{ admin: boolean }>("/v1/auth/session")).admin;
}

function lines(text: string): string[] {
  return text.split("\n").map((l) => l.trim()).filter(Boolean);
}

function headersOf(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines(text)) {
    const at = line.indexOf(":");
    if (at <= 0) throw new Error(`header line ${JSON.stringify(line.slice(0, 60))} is not "Name: value"`);
    headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return headers;
}

function ServerCard({ server, admin, onRemoved }: { server: McpServerView; admin: boolean; onRemoved: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const remove = async () => {
    if (!confirm(`Remove MCP server ${server.name}? Twins naming it can no longer use its tools.`)) return;
    try {
      await api(`/v1/mcp/servers/${encodeURIComponent(server.name)}`, { method: "DELETE" });
      onRemoved();
    } catch (err) {
      setError(errorText(err));
    }
  };
  const network = server.transport === "http" ? "yes (reached over the network)" : server.network ? "yes" : "no";
  return (
    <li class="card mcp-server" data-testid="mcp-server" data-name={server.name}>
      <header><code class="mcp-name">{server.name}</code> <span class="kind-badge">{server.transport}</span>
        {admin && <button class="btn small danger" data-testid="mcp-remove" onClick={() => void remove()}>Remove</button>}</header>
      {server.transport === "stdio"
        ? <div class="kv-block"><span>Command</span><pre class="args" data-testid="mcp-command">{[server.command, ...server.args].join("\n")}</pre></div>
        : <div class="kv"><span>URL</span><code data-testid="mcp-url">{server.url}</code></div>}
      <div class="kv"><span>Network</span><b data-testid="mcp-network" class={server.network || server.transport === "http" ? "warn-text" : ""}>{network}</b></div>
      {server.header_names.length > 0 && (
        <div class="kv"><span>Headers</span><code data-testid="mcp-headers">{server.header_names.join(", ")}</code> <span class="muted small">(values are never shown)</span></div>
      )}
      {server.description && <p class="muted small" data-testid="mcp-description">{server.description}</p>}
      {"status" in server && <Status server={server} />}
      <p class="muted small">registered by <code>{server.created_by}</code></p>
      {error && <p class="error-text" role="alert">{error}</p>}
    </li>
  );
}

function AddServer({ onAdded }: { onAdded: () => void }) {
  const [name, setName] = useState("");
  const [transport, setTransport] = useState<"stdio" | "http">("stdio");
  const [command, setCommand] = useState("");
  const [args, setArgs] = useState("");
  const [network, setNetwork] = useState(false);
  const [url, setUrl] = useState("");
  const [headers, setHeaders] = useState("");
  const [description, setDescription] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const body = transport === "stdio"
        ? { name, transport, command, args: lines(args), network, description }
        : { name, transport, url, headers: headersOf(headers), description };
      await api("/v1/mcp/servers", { method: "POST", json: body });
      setName(""); setCommand(""); setArgs(""); setNetwork(false); setUrl(""); setHeaders(""); setDescription("");
      onAdded();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card mcp-add" data-testid="mcp-add" onSubmit={(e) => void submit(e)} autocomplete="off">
      <h3>Add a server</h3>
      <label>Name <input name="name" value={name} required pattern="[a-z][a-z0-9_\-]{0,31}" onInput={(e) => setName(e.currentTarget.value)} /></label>
      <label>Transport <select name="transport" value={transport} onChange={(e) => setTransport(e.currentTarget.value as "stdio" | "http")}>
        <option value="stdio">stdio (a program run in the sandbox)</option><option value="http">http (Streamable HTTP)</option></select></label>
      {transport === "stdio" ? (
        <>
          <label>Command <input name="command" value={command} required onInput={(e) => setCommand(e.currentTarget.value)} placeholder="uvx" /></label>
          <label>Arguments, one per line <textarea name="args" rows={3} value={args} onInput={(e) => setArgs(e.currentTarget.value)} placeholder="mcp-server-time" /></label>
          <label class="check"><input type="checkbox" name="network" checked={network} onChange={(e) => setNetwork(e.currentTarget.checked)} />
            This server needs the network (without it the sandbox gives it none)</label>
        </>
      ) : (
        <>
          <label>URL <input name="url" type="url" value={url} required onInput={(e) => setUrl(e.currentTarget.value)} placeholder="https://mcp.example.com/mcp" /></label>
          <label>Headers, one "Name: value" per line (values are stored sealed and never shown) <textarea name="headers" rows={2} value={headers} onInput={(e) => setHeaders(e.currentTarget.value)} /></label>
        </>
      )}
      <label>Description <input name="description" value={description} maxLength={1000} onInput={(e) => setDescription(e.currentTarget.value)} /></label>
      {error && <p class="error-text" role="alert" data-testid="mcp-error">{error}</p>}
      <button class="btn primary" type="submit" disabled={busy}>Register</button>
    </form>
  );
}

export function McpServers() {
  const [servers, setServers] = useState<McpServerView[] | null>(null);
  const [admin, setAdmin] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const load = () => {
    api<{ servers: McpServerView[] }>("/v1/mcp/servers").then((d) => { setServers(d.servers); setError(null); }, (err) => setError(errorText(err)));
  };
  useEffect(() => {
    load();
    mayAdminister().then(setAdmin, () => setAdmin(false));
  }, []);
  return (
    <main class="center settings-view mcp-servers" data-testid="mcp-servers" aria-label="MCP servers">
      <h1>MCP servers</h1>
      <p class="muted small">
        Tools of these servers can be given to a twin in its settings (<code>server/tool</code> or <code>server/*</code>); every call
        still waits for a person's approval. {admin ? "" : "Only an admin may add or remove servers."}
      </p>
      {error && <p class="error-text" role="alert">{error}</p>}
      {servers === null && !error && <p class="muted">Loading…</p>}
      {servers?.length === 0 && <p class="muted" data-testid="mcp-none">No MCP server is registered.</p>}
      <ul class="mcp-list">
        {servers?.map((s) => <ServerCard key={s.name} server={s} admin={admin} onRemoved={load} />)}
      </ul>
      {admin && <AddServer onAdded={load} />}
    </main>
  );
}
