"""Where a twin's LLM requests may go, and which keys may go with them: the one rule the edge (when
a twin is written) and the planner (before every provider call) both apply.

- An address on this machine or its private network (loopback, link-local such as the cloud
  metadata service at 169.254.169.254, RFC 1918, unique-local IPv6, CGNAT, unspecified, multicast,
  and any name resolving there) is refused unless the operator allows it: `PAGI_LLM_ALLOW_PRIVATE=1`
  (local Ollama, vLLM, LM Studio), or the base URL itself listed in `PAGI_LLM_ALLOWED_BASE_URLS`.
- A provider key from the environment goes only to that provider's own preset base URL, to the
  operator's own `LLM_BASE_URL`, or to a base URL listed in `PAGI_LLM_ALLOWED_BASE_URLS`; any other
  base URL gets only the key given for that twin.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

ALLOW_PRIVATE_ENV: Final = "PAGI_LLM_ALLOW_PRIVATE"
ALLOWED_URLS_ENV: Final = "PAGI_LLM_ALLOWED_BASE_URLS"
OPERATOR_URL_ENV: Final = "LLM_BASE_URL"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
# Names that mean this machine whatever a resolver says (and that a resolver may not be asked about).
_LOCAL_NAMES: Final = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class EndpointRefused(ValueError):
    """A base URL the rules refuse; the text names the rule and how an operator allows it."""


def normalize(url: str) -> str:
    """A base URL as compared: scheme and host lowercased, no trailing slash."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}"


@dataclass(frozen=True)
class EndpointPolicy:
    """What the operator allowed, read from the environment (or a mapping standing in for it)."""

    allowed: frozenset[str] = frozenset()
    allow_private: bool = False
    operator_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EndpointPolicy:
        env = os.environ if env is None else env
        listed = (u for u in env.get(ALLOWED_URLS_ENV, "").split(",") if u.strip())
        operator = env.get(OPERATOR_URL_ENV, "").strip()
        return cls(
            allowed=frozenset(normalize(u) for u in listed),
            allow_private=env.get(ALLOW_PRIVATE_ENV, "").strip().lower() in _TRUE,
            operator_url=normalize(operator) if operator else None,
        )

    def listed(self, url: str) -> bool:
        """Allowed by name: in the operator's list, or the operator's own `LLM_BASE_URL`."""
        target = normalize(url)
        return target in self.allowed or target == self.operator_url


def may_receive_operator_key(url: str, preset_url: str, policy: EndpointPolicy) -> bool:
    """Whether a provider key from the environment may be sent to `url`: only to the provider's own
    preset URL, the operator's `LLM_BASE_URL`, or a URL the operator listed."""
    if preset_url and normalize(url) == normalize(preset_url):
        return True
    return policy.listed(url)


def is_internal(address: IPAddress) -> bool:
    """Loopback, link-local, private, unique-local, shared (CGNAT), unspecified, multicast, reserved:
    anything not on the public internet."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and is_internal(embedded):
            return True
    return not address.is_global or address.is_multicast


def check_literal(url: str, policy: EndpointPolicy) -> None:
    """The rules that need no resolver: the URL's shape and a host that is an address or a local name."""
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # a port that is no number or out of range raises here
    except ValueError as exc:  # that, or an unbalanced '[' (an IPv6 host)
        raise EndpointRefused(f"base_url {url[:200]!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointRefused(f"base_url {url!r} must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused("base_url must not carry credentials (user:password@); give the twin an api_key")
    if policy.listed(url) or policy.allow_private:
        return
    host = parts.hostname.rstrip(".").lower()
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        raise EndpointRefused(_private_refusal(url, host))
    address = _as_address(host)
    if address is not None and is_internal(address):
        raise EndpointRefused(_private_refusal(url, str(address)))


async def check_base_url(url: str, policy: EndpointPolicy) -> None:
    """`check_literal`, then the addresses the host resolves to now: any internal one refuses it
    (a name the resolver does not know is left to fail when it is called)."""
    check_literal(url, policy)
    if policy.listed(url) or policy.allow_private:
        return
    host = urlsplit(url.strip()).hostname or ""
    for address in await _resolve(host):
        if is_internal(address):
            raise EndpointRefused(_private_refusal(url, f"{host} resolves to {address}"))


def _private_refusal(url: str, where: str) -> str:
    return (
        f"base_url {url!r} points at an internal address ({where}): refused unless the operator allows it "
        f"(set {ALLOW_PRIVATE_ENV}=1 for local servers such as Ollama, vLLM or LM Studio, "
        f"or list the URL in {ALLOWED_URLS_ENV})"
    )


def _as_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        # What a resolver reads as an IPv4 address besides dotted quads ("2130706433", "0x7f.1", "127.1").
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


async def _resolve(host: str) -> Iterable[IPAddress]:
    literal = _as_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    found: list[IPAddress] = []
    for info in infos:
        try:
            found.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except ValueError:
            continue
    return found


async def check_twin_base_url(base_url: str | None, env: Mapping[str, str] | None = None) -> None:
    """The check when a twin is written (the edge answers 400 with the text). None is the provider's
    preset URL, which the planner checks before it calls (a local preset needs the operator's switch)."""
    if base_url is not None:
        await check_base_url(base_url, EndpointPolicy.from_env(env))
