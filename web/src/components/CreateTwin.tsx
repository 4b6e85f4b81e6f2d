import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, errorText } from "../api";
import { slug } from "../format";
import { navigate } from "../router";
import { store } from "../store";
import type { Twin } from "../types";
import { trapFocus } from "./ApprovalModal";
import { readAvatar, useBlueprints } from "./TwinSettings";

export function CreateTwinModal({ onClose }: { onClose: () => void }) {
  const blueprints = useBlueprints();
  const [codename, setCodename] = useState("");
  const [designation, setDesignation] = useState("");
  const [mission, setMission] = useState("");
  const [avatar, setAvatar] = useState<string | null>(null);
  const [template, setTemplate] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => {
    first.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose();
      if (e.key === "Tab") trapFocus(e, document.querySelector<HTMLElement>("[data-testid=create-twin]"));
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    if (!codename.trim()) { setError("A name is required."); return; }
    setBusy(true);
    setError(null);
    const body = { codename: codename.trim(), designation, mission, avatar, directive_logic: template ? blueprints[template]?.template ?? "" : "" };
    let id = slug(codename);
    try {
      let twin: Twin;
      try {
        twin = await api<Twin>("/v1/twins", { method: "POST", json: { ...body, id } });
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 409)) throw err;
        id = `${id.slice(0, 40)}-${Math.random().toString(36).slice(2, 6)}`;
        twin = await api<Twin>("/v1/twins", { method: "POST", json: { ...body, id } });
      }
      await store.refreshTwins();
      store.notify(`Twin ${twin.codename} created`);
      onClose();
      navigate(`/twins/${encodeURIComponent(twin.id)}`);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="modal-backdrop" role="presentation" onClick={(e) => { if (e.target === e.currentTarget) onClose(); }}>
      <form class="modal" role="dialog" aria-modal="true" aria-labelledby="create-title" onSubmit={submit} data-testid="create-twin">
        <header><h2 id="create-title">Create Twin</h2></header>
        <label>Name <input ref={first} name="codename" value={codename} maxLength={80} required onInput={(e) => setCodename(e.currentTarget.value)} /></label>
        <label>Role <input name="designation" value={designation} maxLength={200} placeholder="e.g. Threat hunter" onInput={(e) => setDesignation(e.currentTarget.value)} /></label>
        <label>Description <textarea name="mission" rows={3} value={mission} maxLength={4000} onInput={(e) => setMission(e.currentTarget.value)} /></label>
        <label>Avatar (≤ 2 MB) <input type="file" accept="image/png,image/jpeg,image/gif,image/webp,image/svg+xml"
          onChange={(e) => { const f = e.currentTarget.files?.[0]; if (f) readAvatar(f).then(setAvatar, (err: Error) => setError(err.message)); }} /></label>
        <label>Starting template
          <select name="template" value={template} onChange={(e) => setTemplate(e.currentTarget.value)}>
            <option value="">Blank directive</option>
            {Object.entries(blueprints).map(([key, bp]) => <option key={key} value={key}>{bp.name}</option>)}
          </select></label>
        {template && blueprints[template] && <pre class="template-preview">{blueprints[template]!.template}</pre>}
        {codename && <p class="muted small">Id: <code>{slug(codename)}</code></p>}
        {error && <p class="error-text" role="alert">{error}</p>}
        <footer>
          <button type="button" class="btn" onClick={onClose}>Cancel</button>
          <button type="submit" class="btn primary" disabled={busy}>{busy ? "Creating…" : "Create Twin"}</button>
        </footer>
      </form>
    </div>
  );
}
