// CodeMirror is most of the bundle: it loads on first use, so the console's first paint does not wait for it.
import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { EditorProps } from "./Editor";

let loaded: ComponentType<EditorProps> | null = null;

export function detectFormat(text: string): string {
  const t = text.trimStart();
  if (t.startsWith("{") || t.startsWith("[")) return "json";
  if (/^[a-z_]+:\s/m.test(t) && !t.startsWith("#")) return "yaml";
  return "markdown";
}

export function CodeEditor(props: EditorProps) {
  const [Editor, setEditor] = useState<ComponentType<EditorProps> | null>(() => loaded);
  useEffect(() => {
    if (Editor) return;
    void import("./Editor").then((m) => {
      loaded = m.CodeEditor;
      setEditor(() => m.CodeEditor);
    });
  }, []);
  return Editor ? <Editor {...props} /> : <pre class="editor-loading" aria-label={props.label}>{props.value}</pre>;
}
