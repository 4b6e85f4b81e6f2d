#!/usr/bin/env bash
# End-to-end audit check against a running stack: sends one chat request with a chosen X-Trace-ID,
# then proves, link by link, that
#   1. the edge answered with the same X-Trace-ID,
#   2. the finished job's notification (chat.out) reached a subscriber on the bus,
#   3. the audit log (GET /v1/audit) holds the request and every event of the job,
#   4. every one of those events carries the same trace id, and the services that handled the job
#      (at least the edge and the planner) each published under it.
# It stops at the first broken link with a line saying which, and exits non-zero.
#
# Usage: scripts/verify_e2e_audit.sh [PAGI_URL]
# Reads PAGI_URL and NATS_URL from the environment, else from $PAGI_DATA_DIR/pagi.env (default .pagi).
# PAGI_API_KEY is sent as a bearer token when set. PYTHON is the interpreter with PAGI installed.
set -euo pipefail

data_dir=${PAGI_DATA_DIR:-.pagi}
if [ -f "$data_dir/pagi.env" ]; then
    while IFS='=' read -r key value; do
        case "$key" in
            PAGI_URL) : "${PAGI_URL:=$value}" ;;
            NATS_URL) : "${NATS_URL:=$value}" ;;
        esac
    done < "$data_dir/pagi.env"
fi
PAGI_URL=${1:-${PAGI_URL:-http://127.0.0.1:8181}}
NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
PYTHON=${PYTHON:-$(command -v python3)}
export NATS_URL

fail() { echo "verify_e2e_audit: BROKEN: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

trace=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(16))')
session="audit-$("$PYTHON" -c 'import secrets; print(secrets.token_hex(6))')"
auth=()
[ -n "${PAGI_API_KEY:-}" ] && auth=(-H "Authorization: Bearer $PAGI_API_KEY")
work=$(mktemp -d)
subscriber_pid=""
cleanup() { [ -n "$subscriber_pid" ] && kill "$subscriber_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# A subscriber on the bus for the session's answers: prints READY once subscribed, then the
# first final chat.out it sees (as JSON), then exits.
"$PYTHON" - "$session" > "$work/notified" 2> "$work/subscriber.err" <<'PY' &
import asyncio, json, os, sys
from bus_schemas.subjects import CHAT_OUT
from pagi.bus import Bus

async def main(session: str) -> None:
    bus = await Bus.connect(os.environ["NATS_URL"], "e2e-audit-check", connect_timeout_s=10)
    done = asyncio.Event()

    async def on_event(event) -> None:
        if event.type == CHAT_OUT and event.body.is_final:
            print(json.dumps({"job_id": event.job_id, "status": event.body.status}), flush=True)
            done.set()

    await bus.observe(f"chat.out.{session}", on_event)
    await bus.nc.flush()
    print("READY", flush=True)
    await asyncio.wait_for(done.wait(), 60)
    await bus.close()

asyncio.run(main(sys.argv[1]))
PY
subscriber_pid=$!
for _ in $(seq 1 100); do
    grep -q READY "$work/notified" 2>/dev/null && break
    kill -0 "$subscriber_pid" 2>/dev/null || fail "could not subscribe on the bus at ${NATS_URL##*@}: $(tail -1 "$work/subscriber.err")"
    sleep 0.1
done
grep -q READY "$work/notified" || fail "the bus subscriber did not start within 10 s"
ok "subscribed to chat.out.$session on the bus"

status=$(curl -sS -o "$work/answer.json" -D "$work/headers" -w '%{http_code}' --max-time 60 "${auth[@]}" \
    -H "Content-Type: application/json" -H "X-Trace-ID: $trace" \
    -d "{\"message\": \"end-to-end audit check\", \"session_id\": \"$session\"}" "$PAGI_URL/v1/chat") \
    || fail "POST $PAGI_URL/v1/chat did not answer"
[ "$status" = 200 ] || fail "POST /v1/chat answered HTTP $status: $(cat "$work/answer.json")"
returned=$(grep -i '^x-trace-id:' "$work/headers" | tr -d '\r' | awk '{print tolower($2)}')
[ "$returned" = "$trace" ] || fail "X-Trace-ID sent $trace, returned '${returned:-none}'"
job_id=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["job_id"])' "$work/answer.json")
ok "the edge answered job $job_id with X-Trace-ID $trace"

wait "$subscriber_pid" || fail "no chat.out for session $session reached the bus subscriber within 60 s"
subscriber_pid=""
notified_job=$(grep -v READY "$work/notified" | "$PYTHON" -c 'import json,sys; print(json.loads(sys.stdin.readline())["job_id"])')
[ "$notified_job" = "$job_id" ] || fail "the subscriber was notified of job $notified_job, not $job_id"
ok "the finished job's notification reached a subscriber on the bus"

curl -sS --max-time 30 "${auth[@]}" "$PAGI_URL/v1/audit?session=$session" -o "$work/audit.json" \
    || fail "GET /v1/audit did not answer"
"$PYTHON" - "$work/audit.json" "$trace" "$job_id" <<'PY' || exit 1
import json, sys

path, trace, job_id = sys.argv[1:4]
def fail(message: str) -> None:
    print(f"verify_e2e_audit: BROKEN: {message}", file=sys.stderr)
    sys.exit(1)

try:
    entries = json.load(open(path))["events"]
except (ValueError, KeyError) as exc:
    fail(f"GET /v1/audit did not return events: {exc}")
job = [e for e in entries if (e.get("event") or {}).get("job_id") == job_id]
types = {e["type"] for e in job}
for needed in ("chat.in", "plan.action", "chat.out", "job.log"):
    if needed not in types:
        fail(f"the audit log has no {needed} event for job {job_id} (found: {sorted(types)})")
print(f"ok: the audit log holds the request and {len(job)} events of the job ({', '.join(sorted(types))})")
stray = [f"#{e['seq']} {e['type']} ({e.get('trace_id')})" for e in job if e.get("trace_id") != trace]
if stray:
    fail(f"events of the job without trace id {trace}: {', '.join(stray)}")
services = sorted({e.get("service") or "?" for e in job})
for needed in ("edge", "planner"):
    if needed not in services:
        fail(f"no event of the job was published by the {needed} (publishers: {', '.join(services)})")
print(f"ok: trace {trace} reached every service that handled the job: {', '.join(services)}")
PY
echo "verify_e2e_audit: every link holds"
