import { api, errorText } from "../api";
import { bytes } from "../format";
import { onLink } from "../router";
import { useStore } from "../store";
import { store } from "../store";
import { fileState, finished } from "../uploads";

/** A document is one job: cancelled like any other (the worker stops between batches). */
function cancel(jobId: string): void {
  api(`/v1/jobs/${encodeURIComponent(jobId)}/cancel`, { method: "POST", json: { requested_by: store.user, reason: "upload cancelled" } })
    .then(() => store.notify("Cancelling the upload's job"), (err) => store.notify(`not cancelled: ${errorText(err)}`, "error"));
}

/** This session's uploads and what became of each (uploading, reading, waiting for approval, stored, failed). */
export function UploadList({ sessionId }: { sessionId: string }) {
  const s = useStore();
  const entries = s.uploadsOf(sessionId);
  if (!entries.length) return null;
  return (
    <ul class="uploads" data-testid="uploads" aria-label="Uploaded files">
      {entries.map((e) => {
        const st = fileState(e, s.sessions.get(e.reply?.session_id ?? sessionId));
        const jobId = e.reply?.job_id;
        return (
          <li key={e.key} class={`upload upload-${st.state}`} data-testid="upload" data-state={st.state} data-file={e.name}>
            <span class="upload-name" title={e.name}>{e.name}</span>
            <span class="muted small">{bytes(e.size)}{e.reply?.duplicate ? " · already uploaded" : ""}</span>
            <span class={`badge upload-state ${st.state}`} data-testid="upload-state">{st.label}</span>
            {e.progress !== null && st.state !== "failed" && st.state !== "denied" && (
              <span class="progress upload-progress" data-testid="upload-progress" role="progressbar" aria-valuemin={0} aria-valuemax={100}
                aria-valuenow={Math.round(e.progress * 100)} title={e.progressLine}><i style={{ width: `${Math.round(e.progress * 100)}%` }} /></span>
            )}
            {st.detail && <span class={`small ${st.state === "failed" ? "error-text" : "muted"}`} data-testid="upload-detail">{st.detail}</span>}
            {jobId && !finished(st) && <button type="button" class="link small" data-testid="upload-cancel" onClick={() => cancel(jobId)}>cancel</button>}
            {jobId && <a class="small" href={`/jobs/${jobId}?session=${sessionId}`} onClick={(ev) => onLink(ev, `/jobs/${jobId}?session=${sessionId}`)}>job</a>}
          </li>
        );
      })}
    </ul>
  );
}

