import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { KNOWLEDGE_BASES } from "../types";

let known: Promise<string[]> | null = null;
/** The namespaces the edge lets this person read (GET /v1/memory/namespaces), fetched once a minute at most. */
function knownNamespaces(): Promise<string[]> {
  if (!known) {
    known = api<{ namespaces: Record<string, unknown> }>("/v1/memory/namespaces").then((d) => Object.keys(d.namespaces ?? {}), () => []);
    window.setTimeout(() => { known = null; }, 60_000);
  }
  return known;
}

/** A namespace: any name, with the known ones offered. */
export function NamespacePicker({ value, onChange, placeholder, testid, label = "Namespace" }: {
  value: string; onChange: (v: string) => void; placeholder?: string; testid: string; label?: string;
}) {
  const [names, setNames] = useState<string[]>([]);
  useEffect(() => { void knownNamespaces().then(setNames); }, []);
  const list = `${testid}-list`;
  return (
    <label class="picker">{label}
      <input data-testid={testid} list={list} value={value} placeholder={placeholder} pattern="[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}"
        maxLength={64} onInput={(e) => onChange(e.currentTarget.value)} />
      <datalist id={list}>{[...new Set(["default", ...names])].map((n) => <option key={n} value={n} />)}</datalist>
    </label>
  );
}

/** A knowledge base: one of PAGI's five; "" means "as proposed" (or the server's default) when `blank` is given. */
export function KbPicker({ value, onChange, testid, blank, label = "Knowledge base" }: {
  value: string; onChange: (v: string) => void; testid: string; blank?: string; label?: string;
}) {
  return (
    <label class="picker">{label}
      <select data-testid={testid} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        {blank !== undefined && <option value="">{blank}</option>}
        {KNOWLEDGE_BASES.map((kb) => <option key={kb} value={kb}>{kb}</option>)}
      </select>
    </label>
  );
}
