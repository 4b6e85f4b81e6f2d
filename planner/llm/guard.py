"""The planner's HTTP session to providers, with a resolver that applies the endpoint rule to the
addresses it actually connects to.

The decider checks a twin's base URL before each call (records/endpoints.py), but a name may be
made to resolve to a public address for that check and to an internal one a moment later (DNS
rebinding). Here the addresses aiohttp is about to connect to are the ones checked. (aiohttp does not
resolve IP literals, and the decider's check refuses internal ones.)
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from records.endpoints import EndpointPolicy, is_internal


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, and refuses a name that resolves to an internal
    address unless the operator allows private addresses or listed that host and port."""

    def __init__(self, policy: EndpointPolicy) -> None:
        self.policy = policy
        self.inner = DefaultResolver()
        listed = [*policy.allowed, *([policy.operator_url] if policy.operator_url else [])]
        self.listed_hosts = {_host_port(url) for url in listed}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        if self.policy.allow_private or (host.lower(), port) in self.listed_hosts:
            return results
        for result in results:
            if is_internal(ipaddress.ip_address(result["host"].split("%", 1)[0])):
                reason = f"{host} resolves to an internal address ({result['host']}): refused"
                raise OSError(errno.EACCES, reason)  # aiohttp shows strerror, not args[0]
        return results

    async def close(self) -> None:
        await self.inner.close()


def guarded_session(env: Mapping[str, str] | None = None) -> aiohttp.ClientSession:
    """A client session whose connections follow the endpoint rule (`env`: the planner's)."""
    resolver = GuardedResolver(EndpointPolicy.from_env(env))
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=resolver))


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return ((parts.hostname or "").lower(), parts.port or default)
