"""Who may do what: the one place PAGI's authorization rules live (docs/security.md states them).

Every door (HTTP, WebSocket, SSE, the seed's legacy routes, and the doors still to come) turns its
caller into a `Caller` and asks these functions; none writes its own rule. A refusal is a
`Forbidden` (403) or, where even the existence of the thing is private, a `Hidden` (404); both say
what was refused and why, never what the other user has.

- Users come from API keys (`PAGI_API_KEYS="key:alice:admin,key2:bob"`), designed so an SSO front
  door can supply them later: a user is an id and a role. `admin` is the operator's role; `member`
  everyone else's. In development mode (no keys, loopback only) the one person at the keyboard is
  an admin under whatever name the client gives.
- A session belongs to the user who opened it (`records.sessions`). Its approvals are decided, its
  jobs cancelled, its history, audit, search hits and memories read only by that user, or by an
  admin (and the admin's reads and decisions are recorded as an admin's).
- MCP servers are registered and removed by admins only; every user may list them.
- Shared twins (no owner) are changed only by admins; a member may create private twins, which
  only they (and admins) see and change. A twin's policy is part of the twin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Role = Literal["admin", "member"]
ROLES: Final = ("admin", "member")


@dataclass(frozen=True)
class Caller:
    """Who is asking, as every door sees them."""

    user_id: str
    role: Role = "member"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def as_recorded(self) -> str:
        """How a decision by this caller is recorded (`decided_by`): an admin acting on someone
        else's behalf is visible as such."""
        return f"{self.user_id} (admin)" if self.is_admin else self.user_id


class Denied(PermissionError):
    """A refusal; `status` is what an HTTP door answers."""

    status = 403


class Forbidden(Denied):
    status = 403


class Hidden(Denied):
    """The thing exists for someone else: answered as if it did not exist at all."""

    status = 404


def may_use_session(caller: Caller, owner: str | None) -> bool:
    """Read a session's events, history and audit, chat in it, decide its approvals, cancel its
    jobs: its owner, or an admin. A session nobody owns yet is the caller's to claim."""
    return owner is None or owner == caller.user_id or caller.is_admin


def check_session(caller: Caller, session_id: str, owner: str | None) -> None:
    if not may_use_session(caller, owner):
        raise Hidden(f"no session {session_id} of yours")


def may_act_in_session(caller: Caller, owner: str | None) -> bool:
    """Decide a session's approvals, cancel or read its jobs (things that already exist in it): its
    owner or an admin. A session with no recorded owner (or an unreadable one) was not opened through
    a door, so it is nobody's to claim here: only an admin's."""
    return caller.is_admin or (owner is not None and owner == caller.user_id)


def check_session_object(caller: Caller, what: str, owner: str | None) -> None:
    """`what` (e.g. "approval <id>") lives in a session the caller may not act in: answered as missing."""
    if not may_act_in_session(caller, owner):
        raise Hidden(f"no {what}")


def may_see_twin(caller: Caller, twin_owner: str | None) -> bool:
    """Shared twins (no owner) are everyone's to use; a private twin only its owner's (and admins')."""
    return twin_owner is None or twin_owner == caller.user_id or caller.is_admin


def may_change_twin(caller: Caller, twin_owner: str | None) -> bool:
    """Shared twins are changed by admins only; a private twin by its owner (and admins)."""
    return caller.is_admin or (twin_owner is not None and twin_owner == caller.user_id)


def check_twin_change(caller: Caller, twin_id: str, twin_owner: str | None) -> None:
    if not may_see_twin(caller, twin_owner):
        raise Hidden(f"no twin {twin_id}")
    if not may_change_twin(caller, twin_owner):
        raise Forbidden(f"twin {twin_id} is shared: only an admin may change it or its policy")


def reads_as_admin(caller: Caller, owner: str | None) -> bool:
    """True when the caller reads someone else's session or namespace by virtue of being an admin:
    such a read is allowed and recorded (the edge writes it into that session's job log)."""
    return caller.is_admin and owner is not None and owner != caller.user_id


# Memory namespaces. A namespace named `user-<id>` is that user's own (their private twins keep their
# memories there); every other namespace (`default`, the starter KBs, a shared twin's) is shared:
# read by every user, written and deleted in only by admins. Ownership is in the name, so it holds
# without a record to look up, and a user removed from the keys does not leave their memories open.
USER_NAMESPACE_PREFIX: Final = "user-"


def user_namespace(user_id: str) -> str:
    """The namespace that is `user_id`'s own."""
    return f"{USER_NAMESPACE_PREFIX}{user_id}"


def namespace_owner(namespace: str) -> str | None:
    """The user a namespace belongs to, or None for a shared one."""
    if namespace.startswith(USER_NAMESPACE_PREFIX) and len(namespace) > len(USER_NAMESPACE_PREFIX):
        return namespace[len(USER_NAMESPACE_PREFIX) :]
    return None


def may_read_namespace(caller: Caller, namespace: str) -> bool:
    """Search, list and read memories: shared namespaces everyone; a user's own, that user (and admins)."""
    owner = namespace_owner(namespace)
    return owner is None or owner == caller.user_id or caller.is_admin


def may_write_namespace(caller: Caller, namespace: str) -> bool:
    """Save and delete memories: in a user's own namespace that user (and admins); shared ones admins."""
    owner = namespace_owner(namespace)
    return caller.is_admin or (owner is not None and owner == caller.user_id)


def check_namespace_read(caller: Caller, namespace: str) -> None:
    if not may_read_namespace(caller, namespace):
        raise Hidden(f"no memory namespace {namespace}")


def check_namespace_write(caller: Caller, namespace: str) -> None:
    check_namespace_read(caller, namespace)
    if not may_write_namespace(caller, namespace):
        raise Forbidden(
            f"memory namespace {namespace} is shared: only an admin may change it "
            f"(yours is {user_namespace(caller.user_id)})"
        )


def may_replace_tool(caller: Caller, builder: str | None) -> bool:
    """A new build under a built tool's name replaces it for every twin that uses it: only its
    builder (or an admin) may. A tool with no recorded builder (built before builders were
    recorded) is anyone's to rebuild, as it was."""
    return builder is None or builder == caller.user_id or caller.is_admin


def may_use_namespace_in_session(session_owner: str | None, namespace: str) -> bool:
    """What a twin, chat or tool acting in a session may search or save to (the memory worker asks
    on every memory.query and memory.store): a user's own namespace only from that user's sessions,
    so nothing of bob's (a twin's namespace, a chat's, a tool's query) reaches alice's memories;
    shared namespaces from any session (the doors that write them check the caller: Save to Memory,
    the operator's ingest). A session no user opened is a bus client's (the command line): the
    operator's."""
    owner = namespace_owner(namespace)
    return owner is None or session_owner is None or owner == session_owner


def check_mcp_admin(caller: Caller, action: str) -> None:
    """Registering or removing an MCP server is an admin's: a stdio server is a program run on a host
    (sandboxed, but still a command), an http server receives what twins send it. Listing them is
    everyone's (no secret is in a view)."""
    if not caller.is_admin:
        raise Forbidden(f"only an admin may {action} an MCP server")
