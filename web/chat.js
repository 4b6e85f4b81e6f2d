// Minimal chat client for the seed's WebSocket protocol; the full console is its own piece of work.
const userId = localStorage.getItem("pagi.user") || `user-${crypto.randomUUID().slice(0, 8)}`;
const sessionId = localStorage.getItem("pagi.session") || `s-${crypto.randomUUID().slice(0, 12)}`;
localStorage.setItem("pagi.user", userId);
localStorage.setItem("pagi.session", sessionId);

const messages = document.getElementById("messages");
const activity = document.getElementById("activity");
const connection = document.getElementById("connection");
const form = document.getElementById("composer");
const input = document.getElementById("message");
const pending = [];
const drafts = new Map(); // job id -> element being streamed into
let socket;
let retryMs = 500;

function show(text, role, jobId) {
  const item = document.createElement("li");
  item.className = role;
  item.textContent = text;
  if (jobId) item.dataset.job = jobId;
  messages.append(item);
  messages.scrollTop = messages.scrollHeight;
  return item;
}

function setConnection(state, label) {
  connection.dataset.state = state;
  connection.textContent = label;
}

function onFrame(frame) {
  if (frame.type === "message_chunk") {
    const draft = drafts.get(frame.job_id) || show("", "assistant", frame.job_id);
    drafts.set(frame.job_id, draft);
    draft.textContent += frame.content_chunk;
  } else if (frame.type === "complete_message") {
    const draft = drafts.get(frame.job_id);
    drafts.delete(frame.job_id);
    if (draft) draft.textContent = frame.content;
    else show(frame.content, "assistant", frame.job_id);
    activity.textContent = frame.latency_ms != null ? `answered in ${Math.round(frame.latency_ms)} ms` : "";
  } else if (frame.type === "status_update") {
    if (frame.status === "error") show(frame.details || "error", "error");
    // The answer itself says the job completed (and how fast); keep that line.
    else if (frame.status !== "completed") activity.textContent = `${frame.status}${frame.details ? ": " + frame.details : ""}`;
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/chat/${encodeURIComponent(userId)}`);
  socket.onopen = () => {
    retryMs = 500;
    setConnection("open", "connected");
    while (pending.length) socket.send(pending.shift());
  };
  socket.onmessage = (event) => onFrame(JSON.parse(event.data));
  socket.onclose = (event) => {
    setConnection("closed", `disconnected${event.reason ? ": " + event.reason : ""}; retrying`);
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  };
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const message = input.value.trim();
  if (!message) return;
  show(message, "user");
  const frame = JSON.stringify({ session_id: sessionId, user_id: userId, timestamp: Date.now(), message });
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(frame);
  else pending.push(frame);
  input.value = "";
});

connect();
input.focus();
