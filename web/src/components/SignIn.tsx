import { useState } from "preact/hooks";
import { store } from "../store";

/** Shown when the edge requires an API key: the key buys a session cookie (HttpOnly); it is not stored here. */
export function SignIn() {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await store.signIn(key.trim());
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="signin">
      <form class="modal" onSubmit={submit} aria-labelledby="signin-title">
        <header><h2 id="signin-title">◆ PAGI: sign in</h2></header>
        <p class="muted small">This PAGI edge requires an API key. It is exchanged for a session cookie and not kept by the page.</p>
        <label>API key <input type="password" autoFocus autocomplete="current-password" value={key} onInput={(e) => setKey(e.currentTarget.value)} required /></label>
        {error && <p class="error-text" role="alert">{error}</p>}
        <footer><button class="btn primary" type="submit" disabled={busy || !key.trim()}>Sign in</button></footer>
      </form>
    </div>
  );
}
