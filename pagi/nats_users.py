"""Who may do what on the bus: one NATS user per service, and the nats.conf rendered from it.

`nats.conf` is generated from this table (`python -m pagi.nats_users > nats.conf`; a test checks the
committed file matches), so the permissions are reviewed in one place and the permission tests read
the same table they check.

Every user gets allow lists (anything not listed is refused), its own inbox prefix
(`_INBOX_<user>`, see `inbox_prefix`), so no service can read the replies and pull deliveries
meant for another, and the JetStream API subjects of its own durable consumers and buckets. Where a
user may create consumers of any name on a stream (its history reads), a deny list takes every
other service's durable out of that wildcard.

No service creates or changes a stream, bucket, object store or durable consumer: the operator
does, once, in `pagi up` or `pagi init` (pagi/bus/_topology.py); a service only looks them up. No
service may purge a stream or delete a message by sequence through the JetStream API: a KV delete is
a marker published on the key's own subject, which its write right covers. The why of every right:
docs/deploy.md, "Bus users".
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from bus_schemas import agents as agent_protocol
from bus_schemas import streams
from bus_schemas import subjects as s
from bus_schemas.heartbeat import HEARTBEAT_PREFIX, PING
from bus_schemas.memory import MEMORY_API_SUBJECT, MEMORY_SESSION_API_SUBJECT
from bus_schemas.schedules import SCHEDULE_DEF, SCHEDULES_STREAM
from bus_schemas.tool import BUILTIN_TOOL_NAMES, SANDBOX_STATUS_KEY

OPERATOR: Final = "operator"
# The telemetry agent may publish only its own host's subject. nats.conf cannot build a subject
# from a variable, so the whole subject comes from the environment (`pagi up` and compose.yaml
# set it from the host id); a second host gets its own user (docs/deploy.md).
TELEMETRY_SUBJECT_ENV: Final = "PAGI_TELEMETRY_SUBJECT"
EVENTS: Final = streams.EVENTS.name
TELEMETRY: Final = streams.TELEMETRY.name
# The done-ledger's key prefix per worker (records.done.Ledger, as tool_worker/tool_run.py and
# build_worker/build_req.py open it): each worker may write only its own requests' records.
TOOL_LEDGER: Final = "tool"
BUILD_LEDGER: Final = "build"
# The PAGI users who may call twins over the Synadia agent protocol on NATS, comma-separated: each gets
# a NATS user `agent_<user>` (see `agent_caller`). Read when the table is built, so `pagi up` (which
# renders nats.conf and generates the passwords from this table) gives every one its password.
AGENT_CALLERS_ENV: Final = "PAGI_NATS_AGENT_CALLERS"
AGENT_CALLER_PREFIX: Final = "agent_"
# The inbox prefix the agent SDKs use for every reply (synadia_ai.agents._inbox): fixed, not settable.
AGENT_SDK_INBOX: Final = "_INBOX.agents"


def password_env(user: str) -> str:
    return f"PAGI_NATS_{user.upper()}_PASSWORD"


def inbox_prefix(user: str | None) -> str:
    return f"_INBOX_{user}" if user else "_INBOX"


@dataclass
class User:
    name: str
    service: str | None  # the `python -m` module that connects as this user
    publish: list[str] = field(default_factory=list)
    subscribe: list[str] = field(default_factory=list)
    allow_responses: bool = False
    # Variables (from the environment) that are whole entries of the publish list.
    publish_vars: list[str] = field(default_factory=list)
    # Taken out of `publish` (deny wins over allow): the durables (see `deny_durables`).
    deny_publish: list[str] = field(default_factory=list)
    # The durables it owns and the streams on which it may create consumers of any name.
    durables: list[streams.ConsumerSpec] = field(default_factory=list)
    any_consumer_on: list[str] = field(default_factory=list)

    def pub(self, *subjects: str) -> User:
        self.publish += [x for x in subjects if x not in self.publish]
        return self

    def sub(self, *subjects: str) -> User:
        self.subscribe += [x for x in subjects if x not in self.subscribe]
        return self

    def looks_up(self, stream: str) -> User:
        """STREAM.INFO: that the stream is there (a service waits for the bootstrap), its state."""
        return self.pub(f"$JS.API.STREAM.INFO.{stream}")

    @property
    def stream_names(self) -> list[str]:
        """The streams, buckets and object stores this user works with: what it waits for at start."""
        prefix = "$JS.API.STREAM.INFO."
        return [x[len(prefix) :] for x in self.publish if x.startswith(prefix)]

    def consumer(self, spec: streams.ConsumerSpec) -> User:
        """Inspect, pull from and ack one durable consumer (the work it shares with its copies).

        Not create or delete it: the bootstrap creates every durable as specified, so no service can
        point its durable at other subjects (memory, chat) or delete it (which would lose its acks
        and, re-created, deliver the whole stream again)."""
        self.durables.append(spec)
        self.looks_up(spec.stream)
        return self.pub(
            f"$JS.API.CONSUMER.INFO.{spec.stream}.{spec.durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{spec.stream}.{spec.durable}",
            f"$JS.ACK.{spec.stream}.{spec.durable}.>",
        )

    def _any_consumer(self, stream: str, unnamed: bool) -> User:
        """Consumers of any name on `stream` (history reads, KV watches): a named one is created on
        `CONSUMER.CREATE.<stream>.<name>[.<filter>]`, so the deny list can keep other services'
        durables out. An unnamed create (`CONSUMER.CREATE.<stream>`) names the consumer in the
        request body only, where the server lets it replace any consumer of that name: granted only
        on buckets (nats-py's KV watches create theirs unnamed; no bucket has a durable). The bus
        names every consumer it creates itself (pagi/bus/_client.py)."""
        self.any_consumer_on.append(stream)
        self.looks_up(stream)
        if unnamed:
            self.pub(f"$JS.API.CONSUMER.CREATE.{stream}")
        return self.pub(
            f"$JS.API.CONSUMER.CREATE.{stream}.>",
            f"$JS.API.CONSUMER.INFO.{stream}.*",
            f"$JS.API.CONSUMER.DELETE.{stream}.*",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.*",
        )

    def read_stream(self, stream: str) -> User:
        """Ephemeral consumers with any filter on `stream`: the edge (the user-facing reader) and the
        planner (a session's history) read whole sessions."""
        self._any_consumer(stream, unnamed=False)
        return self.pub(
            f"$JS.API.STREAM.MSG.GET.{stream}",  # the last event of a subject (Bus.last_event)
            f"$JS.API.DIRECT.GET.{stream}",
            f"$JS.API.DIRECT.GET.{stream}.>",
        )

    def _store(self, stream: str) -> User:
        """Read a bucket: get (direct get), list and watch keys (an ordered consumer, unnamed in nats-py)."""
        self._any_consumer(stream, unnamed=True)
        return self.pub(
            f"$JS.API.STREAM.MSG.GET.{stream}",
            f"$JS.API.DIRECT.GET.{stream}",
            f"$JS.API.DIRECT.GET.{stream}.>",
        )

    def kv(self, spec: streams.KVSpec, write: bool = False, keys: tuple[str, ...] = (">",)) -> User:
        """Read a KV bucket; with `write`, put, create, update and delete `keys` (subject patterns).

        A delete is a marker published on the key's own subject (KV-Operation: DEL), so the write
        right is all it takes: no STREAM.PURGE or STREAM.MSG.DELETE. The buckets refuse roll-up
        headers (pagi/bus/_topology.py), so a writer cannot purge a whole bucket through a key either."""
        self._store(f"KV_{spec.bucket}")
        if write:
            self.pub(*(f"$KV.{spec.bucket}.{key}" for key in keys))
        return self

    def objects(self, spec: streams.ObjectStoreSpec, write: bool = False) -> User:
        """Read an object store; with `write`, store objects. nats-py's object store purges a replaced
        object's old chunks (STREAM.PURGE with a subject filter) and cleans up a failed put the same
        way: the one purge right any service has (docs/deploy.md, "Known gaps")."""
        stream = f"OBJ_{spec.bucket}"
        self._store(stream)
        if write:
            self.pub(f"$O.{spec.bucket}.>", f"$JS.API.STREAM.PURGE.{stream}")
        return self

    def events(self, *event_types: str) -> User:
        return self.looks_up(EVENTS).pub(*(s.all_sessions(t) for t in event_types))


def deny_durables(table: list[User]) -> None:
    """Take the durables out of a user's any-name consumer rights: without this, a reader of
    PAGI_EVENTS could pull (steal) the planner's work, delete its durable or re-create it with
    another filter. Its own durables too, but for looking them up and pulling: creating and changing
    them is the bootstrap's."""
    owned = [spec for user in table for spec in user.durables]
    for user in table:
        for spec in owned:
            if spec.stream not in user.any_consumer_on:
                continue
            api_subject = f"$JS.API.CONSUMER.%s.{spec.stream}.{spec.durable}"
            user.deny_publish += [api_subject % "CREATE", (api_subject % "CREATE") + ".>", api_subject % "DELETE"]
            if spec not in user.durables:
                user.deny_publish += [
                    api_subject % "INFO",
                    api_subject % "MSG.NEXT",
                    f"$JS.ACK.{spec.stream}.{spec.durable}.>",
                ]


# NATS micro's control subjects (ADR-32, as nats.micro builds them): `$SRV.<VERB>` for all services,
# `$SRV.<VERB>.<name>` for one kind and `$SRV.<VERB>.<name>.<id>` for one instance. Spelled here rather
# than imported from pagi.micro, which imports the bus runtime, which imports this table.
MICRO_PREFIX: Final = "$SRV"


MICRO_VERBS: Final = ("PING", "INFO", "STATS")


def micro_control(name: str) -> list[str]:
    """The control subjects a micro service called `name` answers: the all-services verbs and its own
    name's only, so no service can answer `$SRV.INFO.planner` as if it were the planner.

    The all-services verbs are spelled out: an allowed `$SRV.*` would also let a client subscribe to
    `$SRV.>` (nats-server matches the `>` token as any other), which is every service's subjects."""
    return [
        *(f"{MICRO_PREFIX}.{verb}" for verb in MICRO_VERBS),
        f"{MICRO_PREFIX}.*.{name}",
        f"{MICRO_PREFIX}.*.{name}.*",
    ]


def agent_callers(environ: Mapping[str, str] | None = None) -> list[str]:
    """The PAGI users named in PAGI_NATS_AGENT_CALLERS, in order, each once. A name that cannot be an
    owner token (bus_schemas.agents.OWNER_RE) is refused: its subjects and password variable need it."""
    raw = (os.environ if environ is None else environ).get(AGENT_CALLERS_ENV, "")
    names: list[str] = []
    for item in raw.split(","):
        name = item.strip()
        if not name:
            continue
        if not agent_protocol.OWNER_RE.fullmatch(name):
            raise ValueError(f"{AGENT_CALLERS_ENV}: {name[:40]!r} is not a usable caller name (1-32 of a-z 0-9 _)")
        if name not in names:
            names.append(name)
    return names


def agent_caller_user(owner: str) -> str:
    return f"{AGENT_CALLER_PREFIX}{owner}"


def agent_caller(owner: str) -> User:
    """A caller of the agent protocol, speaking as PAGI user `owner` and as nobody else: it may prompt
    only the owner's own agents (`agents.prompt.pagi.<owner>.>`, which also holds its approval
    replies) and ask their status, discover agents (`$SRV.PING|INFO.agents`), read heartbeats, and
    read replies on the SDK's fixed inbox prefix. nats-server authenticates it; the edge takes the
    owner token as the caller, because no other user may publish there (the edge subscribes only).

    Known gap: the SDK's inbox prefix is the same for every caller (`_INBOX.agents`), so a caller may
    subscribe to another caller's reply streams; only a NATS account per caller closes that
    (docs: notes of issue 19)."""
    user = User(agent_caller_user(owner), None)
    user.pub(agent_protocol.owner_prompts(owner), agent_protocol.owner_status(owner))
    for verb in ("PING", "INFO"):
        user.pub(f"{MICRO_PREFIX}.{verb}.agents", f"{MICRO_PREFIX}.{verb}.agents.*")
    return user.sub(f"{AGENT_SDK_INBOX}.>", "agents.hb.*.*.*")


def _service(name: str, module: str) -> User:
    """What every service needs: its inbox, heartbeats, its micro service, flow control.

    No STREAM.CREATE or UPDATE: the streams and buckets are the bootstrap's (`pagi up`, `pagi init`).
    Its micro service (named after its module) answers PING/INFO/STATS on the asker's inbox:
    allow_responses, which lets it publish one reply to a request it received and nothing else."""
    user = User(name, module, allow_responses=True)
    user.sub(f"{inbox_prefix(name)}.>", PING, *micro_control(module))
    # STREAM.NAMES: nats-py looks streams up by subject (object store reads and writes); names only.
    # Heartbeats under its own service name only: no service can pass for another in /health.
    return user.pub(f"{HEARTBEAT_PREFIX}.{module}.*", "$JS.FC.>", "$JS.API.INFO", "$JS.API.STREAM.NAMES")


def _consuming(user: User, *specs: streams.ConsumerSpec) -> User:
    """A service with durable consumers: the consume loop dead-letters what it cannot handle."""
    for spec in specs:
        user.consumer(spec)
    return user.pub(f"{s.DEAD_LETTER_PREFIX}.>").events(s.JOB_LOG)


def users(callers: Sequence[str] | None = None) -> list[User]:
    """The table; `callers` are the agent protocol's callers (default: PAGI_NATS_AGENT_CALLERS)."""
    edge = _service("edge", "edge")
    edge.read_stream(EVENTS).read_stream(TELEMETRY)
    # memory.store: Save to Memory, an explicit human action the edge sends as a memory write.
    # job.log: an admin's read of someone else's session is recorded in it (edge/api/read_access.py).
    edge.events(s.CHAT_IN, s.APPROVE_DECISION, s.JOB_CANCEL, s.MEMORY_STORE, s.JOB_LOG).pub(PING, MEMORY_API_SUBJECT)
    edge.sub(f"{HEARTBEAT_PREFIX}.>")
    edge.kv(streams.SESSIONS, write=True).kv(streams.TWINS, write=True).kv(streams.PROMPTS, write=True)
    edge.kv(streams.APPROVALS).kv(streams.JOBS).kv(streams.TOOLS)
    edge.kv(streams.REVOKED, write=True)  # logout: a session cookie revoked for every edge
    # Uploads (edge/uploads.py): the file by digest, and who uploaded it (what they may attach).
    edge.objects(streams.DOCUMENTS, write=True).kv(streams.UPLOADS, write=True)
    # MCP servers: registered and removed by an admin over HTTP (edge/api/mcp_api.py); the tools
    # they list (and their status) for GET /v1/tools and the console.
    edge.kv(streams.MCP_SERVERS, write=True).kv(streams.MCP_TOOLS)
    # Usage (edge/api/usage_api.py): the ledger's totals, read; the price table, edited by an admin.
    edge.kv(streams.USAGE).kv(streams.PRICES, write=True)
    # Budgets set over HTTP (edge/api/budgets_api.py); eval sets created from sessions and runs asked
    # for (edge/api/evals_api.py): the planner's eval runner answers on eval.result.
    edge.kv(streams.BUDGETS, write=True).kv(streams.EVALS, write=True).events(s.EVAL_RUN)
    # Schedules (edge/api/schedules_api.py): the records, and the definitions in their own stream,
    # published (and replaced, to pause or remove one) on the schedule's subject.
    edge.kv(streams.SCHEDULES_KV, write=True).looks_up(SCHEDULES_STREAM).pub(f"{SCHEDULE_DEF}.*")
    # The Synadia agent protocol (edge/doors/agents_nats.py): the edge serves every twin as a micro
    # service `agents` (its control subjects), takes prompts, status asks and approval replies, and
    # streams the chunks of a reply (many messages: allow_responses allows one) to the caller's inbox.
    edge.sub(*micro_control("agents"), agent_protocol.all_prompts(), agent_protocol.all_status())
    edge.pub(agent_protocol.all_heartbeats(), f"{AGENT_SDK_INBOX}.>")

    planner = _consuming(
        _service("planner", "planner"),
        streams.PLANNER_CHAT_IN,
        streams.PLANNER_CONTROL,
        streams.PLANNER_RESULTS,
        streams.USAGE_LEDGER,
        streams.PLANNER_EVALS,
        streams.PLANNER_EVAL_GATE,
        streams.PLANNER_SCHEDULES,
    )
    planner.read_stream(EVENTS)  # a session's recent history for the prompt
    planner.events(
        s.PLAN_ACTION, s.APPROVE_REQUEST, s.APPROVE_DECISION, s.MEMORY_QUERY, s.MEMORY_STORE, s.MEMORY_PARSE,
        s.MEMORY_INGEST, s.TOOL_RUN, s.BUILD_REQ, s.CHAT_OUT,
    )  # fmt: skip
    for bucket in (streams.TWINS, streams.APPROVALS, streams.PROMPTS, streams.JOBS):
        planner.kv(bucket, write=True)
    planner.kv(streams.TOOLS).kv(streams.MCP_TOOLS)  # MCP tools: judged, and offered to the model
    # The usage ledger (planner/usage.py, planner/ledger.py): one event per LLM call, priced from the
    # operator's table, and the totals the ledger keeps.
    planner.events(s.USAGE_LLM).kv(streams.PRICES).kv(streams.USAGE, write=True)
    # Budgets (planner/budget.py): read before a call, raised by an approval's "approve and raise".
    planner.kv(streams.BUDGETS, write=True)
    # Evals (planner/evals): sets read, runs and kept replies written, results published; the eval gate
    # writes a self-improvement's result onto its approval and denies one below the gate.
    planner.events(s.EVAL_RESULT).kv(streams.EVALS, write=True).kv(streams.EVAL_REPLIES, write=True)
    # Schedule firings (planner/schedules.py): each starts a job as the schedule owner's message; the
    # record notes its last run and job.
    planner.kv(streams.SCHEDULES_KV, write=True)
    # A twin's pinned memories for its prompt, asked of the memory worker by request/reply (`pinned`).
    planner.pub(MEMORY_API_SUBJECT)

    memory = _consuming(
        _service("memory", "memory_worker"), streams.MEMORY_WORKER, streams.MEMORY_INDEX, streams.MEMORY_DOCUMENTS
    )
    # Its micro endpoints (answered as above): the edge's API and the tool worker's session search.
    # memory.changed: every edit, pin and forget of a memory is recorded as an event (the audit session).
    memory.events(s.MEMORY_RESULT, s.MEMORY_CHANGED).sub(MEMORY_API_SUBJECT, MEMORY_SESSION_API_SUBJECT)
    memory.kv(streams.SESSIONS)  # a session's owner: whose memory namespaces it may use (records.access)
    # Documents: the uploaded file (read only), the approval an ingest or an approved memory names, and
    # the job, read between batches so a cancelled ingest stops.
    memory.objects(streams.DOCUMENTS).kv(streams.APPROVALS).kv(streams.JOBS)

    tool = _consuming(_service("tool", "tool_worker"), streams.TOOL_WORKER)
    tool.events(s.TOOL_RESULT, s.USAGE_RUN)
    # The approved `vector_query` built-in asks the memory worker by request/reply, answered on the
    # tool worker's own inbox; the memory worker checks the session's owner may use the namespace.
    tool.pub(MEMORY_SESSION_API_SUBJECT)
    # Its sandbox's report for /health, and the built-ins' records (the edge and planner read their schemas).
    tool.kv(streams.TOOLS, write=True, keys=(SANDBOX_STATUS_KEY, *sorted(BUILTIN_TOOL_NAMES)))
    tool.kv(streams.DONE, write=True, keys=(f"{TOOL_LEDGER}.>",))
    tool.kv(streams.TWINS).kv(streams.APPROVALS)
    # The MCP servers it will run (stdio, in the sandbox) or call (http); it never registers one.
    tool.kv(streams.MCP_SERVERS)
    # Its MCP host lists each server's tools (and the server's status) after initialize.
    tool.kv(streams.MCP_TOOLS, write=True)
    tool.objects(streams.ARTIFACTS)

    build = _consuming(_service("build", "build_worker"), streams.BUILD_WORKER)
    build.events(s.BUILD_RESULT, s.USAGE_RUN)
    build.kv(streams.TOOLS, write=True)  # registers what it built
    build.kv(streams.DONE, write=True, keys=(f"{BUILD_LEDGER}.>",))
    build.kv(streams.TWINS).kv(streams.APPROVALS)
    build.kv(streams.SESSIONS)  # a session's owner: who may build over a tool (records.tools)
    build.objects(streams.ARTIFACTS, write=True)

    telemetry = _service("telemetry", "telemetry_agent")
    telemetry.looks_up(TELEMETRY)
    telemetry.publish_vars.append(TELEMETRY_SUBJECT_ENV)

    operator = User(OPERATOR, None, publish=[">"], subscribe=[">"])
    table = [operator, edge, planner, memory, tool, build, telemetry]
    table += [agent_caller(owner) for owner in (agent_callers() if callers is None else callers)]
    deny_durables(table)
    return table


def user_for_service(module: str) -> User:
    for user in users():
        if user.service == module:
            return user
    raise KeyError(module)


def _quoted(items: list[str]) -> str:
    return "".join(f'        "{item}"\n' for item in items)


def render_conf(callers: Sequence[str] | None = None) -> str:
    out = [HEADER]
    out.append("authorization {\n  users = [\n")
    for user in users(callers):
        out.append(f"    {{\n      user: {user.name}\n      password: ${password_env(user.name)}\n")
        out.append("      permissions: {\n        publish: {allow: [\n")
        out.append(_quoted(user.publish).replace("        ", "          "))
        out.append("".join(f"          ${var}\n" for var in user.publish_vars))
        out.append("        ]")
        if user.deny_publish:
            out.append(", deny: [\n")
            out.append(_quoted(user.deny_publish).replace("        ", "          "))
            out.append("        ]")
        out.append("}\n        subscribe: {allow: [\n")
        out.append(_quoted(user.subscribe).replace("        ", "          "))
        out.append("        ]}\n")
        if user.allow_responses:
            out.append("        allow_responses: true\n")
        out.append("      }\n    }\n")
    out.append("  ]\n}\n")
    return "".join(out)


HEADER: Final = """\
# nats-server configuration for PAGI: `pagi up` (embedded) and compose.yaml both run with it.
# GENERATED by `python -m pagi.nats_users > nats.conf` from pagi/nats_users.py (the permission
# table); edit that, not this file. tests/security_bus checks the two agree.
#
# Passwords come from the environment (PAGI_NATS_<USER>_PASSWORD): `pagi up` generates them on
# first start into <data-dir>/nats-passwords.env (mode 0600); compose reads them from .env.
# `pagi up` adds the listen host and port and the JetStream store on the command line.

server_name: pagi

# Bounded everything: no event is larger than bus_schemas.limits.MAX_EVENT_BYTES.
max_payload: 1MB
max_connections: 4096
max_subscriptions: 100000
max_pending: 64MB
max_control_line: 4KB
write_deadline: "10s"
ping_interval: "20s"

jetstream {
  max_memory_store: 256MB
  max_file_store: 20GB
  # fsync every write before the ack: an acknowledged event survives a power loss (the default,
  # a lazy fsync every 2 minutes, can lose acknowledged writes; Jepsen, NATS 2.12.1, 2025).
  # What it costs: docs/deploy.md.
  sync_interval: always
}

"""


if __name__ == "__main__":
    sys.stdout.write(render_conf())
