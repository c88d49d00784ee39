"""Which webhook URLs we may call, and the addresses we then connect to (SSRF).

A URL is resolved once per use and every address it resolves to must be
public — global, unicast — looked at through the IPv4 address that an
IPv4-mapped, 6to4, Teredo or NAT64 address carries, unless configuration allows
it (`webhook_allow_private`, `webhook_allowed_networks`). Checked when a webhook
is registered and at every delivery attempt; the attempt then connects only to
the addresses it checked (`PinnedBackend`), so a DNS server that answers a public
address to the check and an internal one a moment later (DNS rebinding) never
gets a connection to the internal one. TLS still verifies the certificate
against the URL's host name, and the `Host` header stays that name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

import httpcore
import httpx

from cloudtaskhub.errors import RuleViolated
from modules.notification.settings import NotificationSettings

__all__ = [
    "HostDoesNotResolve",
    "PinnedBackend",
    "Target",
    "TargetRefused",
    "is_public",
    "resolve_target",
    "tls_context",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Not public although Python 3.11's `is_global` says so: the IETF protocol
#: assignments, the 6to4 relay anycast, local-use NAT64, the new IPv6
#: documentation range, and IPv6 site-local (deprecated, still routed in some
#: networks). Multicast and reserved ranges are refused by their own flags.
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(network)
    for network in ("192.0.0.0/24", "192.88.99.0/24", "64:ff9b:1::/48", "3fff::/20", "fec0::/10")
)
#: Well-known NAT64 prefix (RFC 6052): the last 32 bits are the IPv4 destination.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetRefused(RuleViolated):
    """The webhook URL is not one we may call."""


class HostDoesNotResolve(TargetRefused):
    """The webhook's host name has no address (now): at delivery time, worth a retry."""


@dataclass(frozen=True)
class Target:
    """A webhook URL with the addresses checked for it, in resolver order."""

    url: httpx.URL
    host: str  # ASCII (IDNA) host name or IP literal, as the connection sees it
    port: int
    addresses: tuple[Address, ...]


def _carried(ip: Address) -> list[Address]:
    """The IPv4 addresses a tunnelling/translation IPv6 address leads to, else `ip` itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return [ip.ipv4_mapped]
        if ip.sixtofour is not None:
            return [ip.sixtofour]
        if ip.teredo is not None:
            return list(ip.teredo)  # the relay server and the client behind it
        if ip in _NAT64:
            return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return [ip]


def is_public(ip: Address) -> bool:
    """True when `ip`, and every IPv4 address it carries, is a global unicast address."""
    return all(
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not any(address in network for network in _NOT_PUBLIC)
        for address in _carried(ip)
    )


def _allowed(ip: Address, settings: NotificationSettings) -> bool:
    if settings.webhook_allow_private or is_public(ip):
        return True
    networks = [ipaddress.ip_network(network, strict=False) for network in settings.webhook_allowed_networks]
    return any(
        address in network
        for address in {ip, *_carried(ip)}
        for network in networks
        if address.version == network.version
    )


async def resolve_target(url: str, settings: NotificationSettings) -> Target:
    """Resolve `url`'s host once and check every address it resolves to.

    Raises TargetRefused (field `url`): not an absolute http(s) URL, an address that
    is not public and not allowed by configuration, or HostDoesNotResolve.
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise TargetRefused(field="url", message="is not a valid URL") from None
    if parsed.scheme not in {"http", "https"} or not parsed.raw_host:
        raise TargetRefused(field="url", message="must be an absolute http or https URL")
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        async with asyncio.timeout(settings.webhook_timeout_seconds):
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        raise HostDoesNotResolve(field="url", message="host does not resolve") from None
    # A scope id (`fe80::1%eth0`) is not part of the address we judge.
    addresses = tuple(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
    for ip in addresses:
        if not _allowed(ip, settings):
            raise TargetRefused(field="url", message=f"resolves to an address that is not public ({ip})")
    return Target(parsed, host, port, addresses)


def tls_context(settings: NotificationSettings) -> ssl.SSLContext:
    """Verifying TLS context for receivers: certifi's CAs, or the configured CA file."""
    if settings.webhook_ca_file:
        return ssl.create_default_context(cafile=settings.webhook_ca_file)
    return httpx.create_ssl_context()


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects `target.host` to its checked addresses only.

    httpcore asks for a connection to the URL's host name; this backend never
    resolves it again but tries the addresses in `target` in turn. httpcore
    then starts TLS with that host name as server name, so certificates verify
    as usual. Any other host is refused (redirects are not followed, so none is
    expected).
    """

    def __init__(self, target: Target, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._target = target
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if (host, port) != (self._target.host, self._target.port):
            raise httpcore.ConnectError(f"{host}:{port} is not the checked target")
        failure: Exception = httpcore.ConnectError("no address")
        for address in self._target.addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks connect over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
