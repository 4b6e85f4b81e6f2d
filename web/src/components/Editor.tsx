// CodeMirror 6, minimal: line numbers, history, bracket matching, highlighting by format.
import { useEffect, useRef } from "preact/hooks";
import { EditorState, type Extension } from "@codemirror/state";
import { EditorView, keymap, lineNumbers, highlightActiveLine, drawSelection } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { bracketMatching, syntaxHighlighting, HighlightStyle } from "@codemirror/language";
import { tags } from "@lezer/highlight";
import { markdown } from "@codemirror/lang-markdown";
import { json } from "@codemirror/lang-json";
import { yaml } from "@codemirror/lang-yaml";
import { python } from "@codemirror/lang-python";

const style = HighlightStyle.define([
  { tag: tags.heading, color: "#a5b4fc", fontWeight: "bold" },
  { tag: [tags.keyword, tags.bool, tags.null], color: "#c084fc" },
  { tag: [tags.string, tags.special(tags.string)], color: "#86efac" },
  { tag: [tags.number], color: "#fbbf24" },
  { tag: [tags.propertyName, tags.definition(tags.propertyName)], color: "#7dd3fc" },
  { tag: [tags.comment], color: "#64748b", fontStyle: "italic" },
  { tag: [tags.list, tags.punctuation], color: "#94a3b8" },
  { tag: [tags.emphasis], fontStyle: "italic" },
  { tag: [tags.strong], fontWeight: "bold" },
]);

const theme = EditorView.theme(
  {
    "&": { backgroundColor: "#0b0d17", color: "#e2e8f0", fontSize: "13px", border: "1px solid #27304a", borderRadius: "8px" },
    ".cm-content": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, monospace", caretColor: "#a5b4fc" },
    ".cm-gutters": { backgroundColor: "#0f1222", color: "#475569", border: "none" },
    ".cm-activeLine": { backgroundColor: "#151a30" },
    ".cm-activeLineGutter": { backgroundColor: "#151a30" },
    "&.cm-focused": { outline: "2px solid #6366f1" },
    ".cm-selectionBackground, &.cm-focused .cm-selectionBackground": { backgroundColor: "#3730a3 !important" },
  },
  { dark: true },
);

export function language(format: string): Extension {
  switch (format) {
    case "json": return json();
    case "yaml": return yaml();
    case "python": return python();
    default: return markdown();
  }
}

export interface EditorProps {
  value: string;
  format: string;
  readOnly?: boolean;
  onChange?: (value: string) => void;
  label: string;
  minHeight?: string;
}

export function CodeEditor({ value, format, readOnly = false, onChange, label, minHeight = "240px" }: EditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const changeRef = useRef(onChange);
  changeRef.current = onChange;

  useEffect(() => {
    if (!host.current) return;
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value,
        extensions: [
          lineNumbers(), history(), drawSelection(), highlightActiveLine(), bracketMatching(),
          keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
          syntaxHighlighting(style), language(format), theme,
          EditorView.theme({ ".cm-scroller": { minHeight } }),
          EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly),
          EditorView.contentAttributes.of({ "aria-label": label }),
          EditorView.updateListener.of((u) => { if (u.docChanged) changeRef.current?.(u.state.doc.toString()); }),
        ],
      }),
    });
    view.current = v;
    return () => v.destroy();
  }, [format, readOnly]);

  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
  }, [value]);

  return <div class="editor" ref={host} data-testid={`editor-${label}`} />;
}
