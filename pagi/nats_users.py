"""Who may do what on the bus: one NATS user per service, and the nats.conf rendered from it.

`nats.conf` is generated from this table (`python -m pagi.nats_users > nats.conf`; a test checks the
committed file matches), so the permissions are reviewed in one place and the permission tests read
the same table they check.

Every user gets only allow lists (anything not listed is refused), its own inbox prefix
(`_INBOX_<user>`, see `inbox_prefix`), so no service can read the replies and pull deliveries
meant for another, and the JetStream API subjects of its own durable consumers and buckets.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Final

from bus_schemas import streams
from bus_schemas import subjects as s
from bus_schemas.heartbeat import HEARTBEAT_PREFIX, PING
from bus_schemas.memory import MEMORY_API_SUBJECT

OPERATOR: Final = "operator"
# The telemetry agent may publish only its own host's subject. nats.conf cannot build a subject
# from a variable, so the whole subject comes from the environment (`pagi up` and compose.yaml
# set it from the host id); a second host gets its own user (docs/deploy.md).
TELEMETRY_SUBJECT_ENV: Final = "PAGI_TELEMETRY_SUBJECT"
EVENTS: Final = streams.EVENTS.name
TELEMETRY: Final = streams.TELEMETRY.name


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

    def pub(self, *subjects: str) -> User:
        self.publish += [x for x in subjects if x not in self.publish]
        return self

    def sub(self, *subjects: str) -> User:
        self.subscribe += [x for x in subjects if x not in self.subscribe]
        return self

    def consumer(self, spec: streams.ConsumerSpec) -> User:
        """Create, inspect, pull from and ack one durable consumer (the work it shares with its copies).

        A durable with one filter may only be created with that filter in the API subject (the
        server checks it matches the request), so the service cannot point it elsewhere. One with
        several filters cannot be pinned this way (docs/deploy.md, "Known gaps")."""
        stream, durable = spec.stream, spec.durable
        if len(spec.filter_subjects) == 1:
            self.pub(f"$JS.API.CONSUMER.CREATE.{stream}.{durable}.{spec.filter_subjects[0]}")
        else:
            self.pub(f"$JS.API.CONSUMER.CREATE.{stream}.{durable}")
        return self.pub(
            f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
            f"$JS.API.CONSUMER.DELETE.{stream}.{durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
            f"$JS.ACK.{stream}.{durable}.>",
        )

    def read_stream(self, stream: str) -> User:
        """Ephemeral consumers with any filter on `stream`: the edge (the user-facing reader) and the
        planner (a session's history) read whole sessions."""
        return self.pub(
            f"$JS.API.CONSUMER.CREATE.{stream}",
            f"$JS.API.CONSUMER.CREATE.{stream}.>",
            f"$JS.API.CONSUMER.INFO.{stream}.*",
            f"$JS.API.CONSUMER.DELETE.{stream}.*",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.*",
            f"$JS.API.STREAM.MSG.GET.{stream}",  # the last event of a subject (Bus.last_event)
            f"$JS.API.DIRECT.GET.{stream}",
            f"$JS.API.DIRECT.GET.{stream}.>",
        )

    def _store(self, stream: str, data_subjects: str, write: bool) -> User:
        self.pub(
            f"$JS.API.STREAM.MSG.GET.{stream}",
            f"$JS.API.DIRECT.GET.{stream}",
            f"$JS.API.DIRECT.GET.{stream}.>",
            f"$JS.API.CONSUMER.CREATE.{stream}",
            f"$JS.API.CONSUMER.CREATE.{stream}.>",
            f"$JS.API.CONSUMER.INFO.{stream}.*",
            f"$JS.API.CONSUMER.DELETE.{stream}.*",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.*",
        )
        if write:
            self.pub(data_subjects, f"$JS.API.STREAM.PURGE.{stream}", f"$JS.API.STREAM.MSG.DELETE.{stream}")
        return self

    def kv(self, spec: streams.KVSpec, write: bool = False) -> User:
        return self._store(f"KV_{spec.bucket}", f"$KV.{spec.bucket}.>", write)

    def objects(self, spec: streams.ObjectStoreSpec, write: bool = False) -> User:
        return self._store(f"OBJ_{spec.bucket}", f"$O.{spec.bucket}.>", write)

    def events(self, *event_types: str) -> User:
        return self.pub(*(s.all_sessions(t) for t in event_types))


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


def _topology_streams() -> list[str]:
    names = [spec.name for spec in streams.STREAMS]
    names += [f"KV_{spec.bucket}" for spec in streams.KV_BUCKETS]
    names += [f"OBJ_{spec.bucket}" for spec in streams.OBJECT_STORES]
    return names


def _service(name: str, module: str) -> User:
    """What every service needs: its inbox, heartbeats, its micro service, flow control, the topology.

    Every service creates (or finds) the streams and buckets at start so any one can come up first;
    that takes STREAM.CREATE/UPDATE/INFO. It does not let a service read them. Its micro service
    (named after its module) answers PING/INFO/STATS on the asker's inbox: allow_responses, which
    lets it publish one reply to a request it received and nothing else."""
    user = User(name, module, allow_responses=True)
    user.sub(f"{inbox_prefix(name)}.>", PING, *micro_control(module))
    # STREAM.NAMES: nats-py looks streams up by subject (object store reads and writes); names only.
    # Heartbeats under its own service name only: no service can pass for another in /health.
    user.pub(f"{HEARTBEAT_PREFIX}.{module}.*", "$JS.FC.>", "$JS.API.INFO", "$JS.API.STREAM.NAMES")
    for stream in _topology_streams():
        user.pub(f"$JS.API.STREAM.INFO.{stream}", f"$JS.API.STREAM.CREATE.{stream}", f"$JS.API.STREAM.UPDATE.{stream}")
    return user


def _consuming(user: User, *specs: streams.ConsumerSpec) -> User:
    """A service with durable consumers: the consume loop dead-letters what it cannot handle."""
    for spec in specs:
        user.consumer(spec)
    return user.pub(f"{s.DEAD_LETTER_PREFIX}.>").events(s.JOB_LOG)


def users() -> list[User]:
    edge = _service("edge", "edge")
    edge.read_stream(EVENTS).read_stream(TELEMETRY)
    # memory.store: Save to Memory, an explicit human action the edge sends as a memory write.
    # job.log: an admin's read of someone else's session is recorded in it (edge/api/read_access.py).
    edge.events(s.CHAT_IN, s.APPROVE_DECISION, s.JOB_CANCEL, s.MEMORY_STORE, s.JOB_LOG).pub(PING, MEMORY_API_SUBJECT)
    edge.sub(f"{HEARTBEAT_PREFIX}.>")
    edge.kv(streams.SESSIONS, write=True).kv(streams.TWINS, write=True).kv(streams.PROMPTS, write=True)
    edge.kv(streams.APPROVALS).kv(streams.JOBS).kv(streams.TOOLS)
    edge.kv(streams.REVOKED, write=True)  # logout: a session cookie revoked for every edge

    planner = _consuming(
        _service("planner", "planner"), streams.PLANNER_CHAT_IN, streams.PLANNER_CONTROL, streams.PLANNER_RESULTS
    )
    planner.read_stream(EVENTS)  # a session's recent history for the prompt
    planner.events(
        s.PLAN_ACTION, s.APPROVE_REQUEST, s.APPROVE_DECISION, s.MEMORY_QUERY, s.MEMORY_STORE, s.TOOL_RUN,
        s.BUILD_REQ, s.CHAT_OUT,
    )  # fmt: skip
    for bucket in (streams.TWINS, streams.APPROVALS, streams.PROMPTS, streams.JOBS, streams.DONE):
        planner.kv(bucket, write=True)
    planner.kv(streams.TOOLS)

    memory = _consuming(_service("memory", "memory_worker"), streams.MEMORY_WORKER, streams.MEMORY_INDEX)
    memory.events(s.MEMORY_RESULT).sub(MEMORY_API_SUBJECT)  # its micro endpoint (answers as above)
    memory.kv(streams.SESSIONS)  # a session's owner: whose memory namespaces it may use (records.access)

    tool = _consuming(_service("tool", "tool_worker"), streams.TOOL_WORKER)
    tool.events(s.TOOL_RESULT)
    # The approved `vector_query` built-in asks the memory worker and waits for its answer: the one
    # memory subject the tool worker may see (docs/deploy.md, "Known gaps").
    tool.events(s.MEMORY_QUERY).sub(s.all_sessions(s.MEMORY_RESULT))
    tool.kv(streams.TOOLS, write=True).kv(streams.DONE, write=True).kv(streams.TWINS).kv(streams.APPROVALS)
    tool.objects(streams.ARTIFACTS)

    build = _consuming(_service("build", "build_worker"), streams.BUILD_WORKER)
    build.events(s.BUILD_RESULT)
    build.kv(streams.TOOLS, write=True).kv(streams.DONE, write=True).kv(streams.TWINS).kv(streams.APPROVALS)
    build.objects(streams.ARTIFACTS, write=True)

    telemetry = _service("telemetry", "telemetry_agent")
    telemetry.publish_vars.append(TELEMETRY_SUBJECT_ENV)

    operator = User(OPERATOR, None, publish=[">"], subscribe=[">"])
    return [operator, edge, planner, memory, tool, build, telemetry]


def user_for_service(module: str) -> User:
    for user in users():
        if user.service == module:
            return user
    raise KeyError(module)


def _quoted(items: list[str]) -> str:
    return "".join(f'        "{item}"\n' for item in items)


def render_conf() -> str:
    out = [HEADER]
    out.append("authorization {\n  users = [\n")
    for user in users():
        out.append(f"    {{\n      user: {user.name}\n      password: ${password_env(user.name)}\n")
        out.append("      permissions: {\n        publish: {allow: [\n")
        out.append(_quoted(user.publish).replace("        ", "          "))
        out.append("".join(f"          ${var}\n" for var in user.publish_vars))
        out.append("        ]}\n        subscribe: {allow: [\n")
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
