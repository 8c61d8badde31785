"""Where the server may connect on a brand's behalf: public addresses only, plus hosts an operator allows."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import structlog

log = structlog.get_logger(__name__)

ALLOWED_HOSTS_ENV = "NOTICE_SOURCE_ALLOWED_HOSTS"
DEFAULT_PORTS = {"http": 80, "https": 443}

Resolver = Callable[[str, int], list[str]]


def _resolve(host: str, port: int) -> list[str]:
    """Every address the host resolves to (IP literals resolve to themselves, without a DNS query)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _host_port(entry: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]:port` or a URL, as (lower-case host, port or None for any port)."""
    text = entry.strip()
    parts = urlsplit(text if "://" in text else f"//{text}")
    return (parts.hostname or "").lower(), parts.port


class OutboundPolicy:
    """Refuses URLs whose host resolves to a private, loopback, link-local (cloud metadata), multicast or
    otherwise non-public address, unless the host is on the operator's allow-list.

    The allow-list comes from NOTICE_SOURCE_ALLOWED_HOSTS (comma-separated `host` or `host:port`); it names
    hosts as written in the URL, so allowing `127.0.0.1:8100` does not allow `localhost:8100`."""

    def __init__(self, allowed: Iterable[str] = (), resolve: Resolver = _resolve) -> None:
        self._allowed: set[tuple[str, int | None]] = set()
        self._resolve = resolve
        for entry in allowed:
            self.allow(entry)

    @classmethod
    def from_env(cls) -> OutboundPolicy:
        """The policy with the allow-list of NOTICE_SOURCE_ALLOWED_HOSTS."""
        raw = os.environ.get(ALLOWED_HOSTS_ENV, "")
        return cls(entry for entry in raw.replace(" ", ",").split(",") if entry.strip())

    def allow(self, entry: str) -> None:
        """Allow a host (any port) or a host and port, e.g. an in-process simulator the operator started."""
        host, port = _host_port(entry)
        if not host:
            raise ValueError(f"not a host or host:port: {entry!r}")
        self._allowed.add((host, port))
        log.info("outbound.host_allowed", host=host, port=port)

    def refusal(self, url: str) -> str | None:
        """Why the server may not call `url`, or None when it may."""
        try:
            parts = urlsplit(url.strip())
            host = (parts.hostname or "").lower()
            port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 80)
        except ValueError:
            return "the URL's host or port is not valid"
        if not host:
            return "the URL names no host"
        if (host, None) in self._allowed or (host, port) in self._allowed:
            return None
        try:
            addresses = self._resolve(host, port)
        except (OSError, UnicodeError):
            return f"host '{host}' does not resolve"
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            if not ip.is_global or ip.is_multicast:
                where = f"'{host}' is" if host == str(ip) else f"'{host}' resolves to {ip},"
                return (
                    f"{where} an address of this network or this server (private, loopback, link-local or "
                    f"reserved); an operator can allow the host in {ALLOWED_HOSTS_ENV}"
                )
        return None
