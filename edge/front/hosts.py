"""Which `Host` headers the edge answers, so a DNS-rebound name (`evil.example` resolving to
127.0.0.1) reaches neither the API nor the WebSocket.

`PAGI_ALLOWED_HOSTS` (`name` for any port, `name:port`) when set; else derived from where the edge
listens: on loopback the loopback names on the edge's port, on one address that address on the
edge's port, on every address (0.0.0.0, ::) any Host (only allowed with keys, which then guard it).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

from ..settings import EdgeSettings

LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "[::1]"})
EVERY_ADDRESS: Final = frozenset({"", "0.0.0.0", "::", "[::]"})


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address (`127.0.0.5`, `::1`, `[::1]`)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def split_host(header: str) -> tuple[str, int | None]:
    """`name[:port]` (IPv6 in brackets) as a lower-case name and the port, None if there is none;
    an unreadable port gives port -1, which nothing allows."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        if end < 0:
            return header, -1
        name, rest = header[: end + 1], header[end + 1 :]
        if not rest:
            return name, None
        if not rest.startswith(":"):
            return name, -1
        port_text = rest[1:]
    else:
        name, sep, port_text = header.rpartition(":")
        if not sep:
            return header, None
    return (name, int(port_text)) if port_text.isdigit() and len(port_text) <= 5 else (name, -1)


def _bracketed(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host.strip("[]")).version == 6 else host
    except ValueError:
        return host


@dataclass(frozen=True)
class HostAllowList:
    any_host: bool
    names_any_port: frozenset[str]  # configured `name`
    names_with_port: frozenset[tuple[str, int]]  # configured `name:port`
    names_on_edge_port: frozenset[str]  # derived: only on the port the edge serves

    @classmethod
    def from_settings(cls, settings: EdgeSettings) -> HostAllowList:
        configured = settings.hosts
        if configured:
            entries = [split_host(h) for h in configured]
            return cls(
                False,
                frozenset(n for n, p in entries if p is None),
                frozenset((n, p) for n, p in entries if p is not None),
                frozenset(),
            )
        bind = settings.host.strip().lower()
        if bind in EVERY_ADDRESS:
            return cls(True, frozenset(), frozenset(), frozenset())
        names = {_bracketed(bind)}
        if is_loopback(bind):
            names |= LOOPBACK_NAMES
        return cls(False, frozenset(), frozenset(), frozenset(names))

    def allows(self, header: str | None, edge_ports: set[int]) -> bool:
        """Whether `header` names this edge; `edge_ports`: the port configured and the port the
        connection came in on (they differ when the edge listens on port 0, as tests do)."""
        if self.any_host:
            return True
        if not header:
            return False
        name, port = split_host(header)
        if name in self.names_any_port or (name, port) in self.names_with_port:
            return True
        # No port in Host: the client used the scheme's default, i.e. a proxy in front of the edge.
        return name in self.names_on_edge_port and (port is None or port in edge_ports)
