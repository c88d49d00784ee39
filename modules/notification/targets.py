"""Which webhook URLs we may call: no private, loopback, link-local, reserved or
multicast address after DNS resolution (SSRF), unless configuration allows it.

Checked when a webhook is registered and again before every attempt, since DNS
answers change.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from cloudtaskhub.errors import RuleViolated
from modules.notification.settings import NotificationSettings

__all__ = ["TargetRefused", "check_target"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(RuleViolated):
    """The webhook URL is not one we may call."""


def _internal(ip: Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


async def check_target(url: str, settings: NotificationSettings) -> None:
    """Raise TargetRefused (field `url`) unless every address `url` resolves to is allowed."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise TargetRefused(field="url", message="must be an absolute http or https URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TargetRefused(field="url", message="has an invalid port") from None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except OSError:
        raise TargetRefused(field="url", message="host does not resolve") from None
    if settings.webhook_allow_private:
        return
    allowed = [ipaddress.ip_network(network, strict=False) for network in settings.webhook_allowed_networks]
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if _internal(ip) and not any(ip in network for network in allowed):
            raise TargetRefused(
                field="url", message=f"resolves to a private, loopback or link-local address ({ip})"
            )
