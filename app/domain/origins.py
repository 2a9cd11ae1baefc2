"""Which URLs QA may reach: http(s) on the app under test's origin, plus origins the repository lists.

One set of rules for the QA runner (request interception and the visit step), the QA job (`qa.base_url`
and a deployment's URL) and the spec lint (absolute URLs in steps). Pure: no DNS lookups, so a host
name is private only when it is literally an IP address in a private range or `localhost`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

WEB_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _split(url: str) -> SplitResult | None:
    """The parts of an http(s) URL with a host and a valid port, else None."""
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # raises ValueError on a port that is not a number or out of range
    except ValueError:
        return None
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
        return None
    return parts


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL (lower case, default port left out), else None."""
    parts = _split(url)
    if parts is None or parts.hostname is None:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal keeps its brackets in an origin
    port = parts.port
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != _DEFAULT_PORTS[scheme] else "")


def host_of(url: str) -> str | None:
    """The host of an http(s) URL (lower case, IPv6 without brackets), else None."""
    parts = _split(url)
    return parts.hostname.lower() if parts is not None and parts.hostname else None


def web_url_problem(url: str) -> str | None:
    """Why `url` is not an http(s) URL with a host (a short reason), or None when it is one."""
    if _split(url) is not None:
        return None
    scheme = urlsplit(url.strip()).scheme.lower() if ":" in url else ""
    if scheme in WEB_SCHEMES:
        return "it has no host (or an invalid port)"
    return f"its scheme is `{scheme}:`" if scheme else "it is not an absolute URL"


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address a host literally is, including the short and numeric IPv4 forms browsers accept."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # `127.1`, `2130706433` and `0x7f000001` are 127.0.0.1 to a browser (the URL standard's IPv4 parser).
    if host and all(part and (part.isdigit() or part.lower().startswith("0x")) for part in host.split(".")):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_private_host(host: str) -> bool:
    """Whether a host is `localhost` or a literal private, loopback, link-local or unspecified IP address."""
    name = host.strip().lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = _ip(name)
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    # is_private covers RFC 1918, loopback, link-local and unique-local; carrier-grade NAT (100.64/10) is
    # neither private nor global, and reaches inside a provider's network just the same.
    return bool(address.is_private or address.is_loopback or address.is_link_local or address.is_unspecified
                or address.is_reserved or address.is_multicast or not address.is_global)


def is_allowed(url: str, origins: Iterable[str]) -> bool:
    """Whether `url` is an http(s) URL on one of `origins` (origins as `origin_of` writes them)."""
    origin = origin_of(url)
    return origin is not None and origin in set(origins)


@dataclass(frozen=True)
class Confinement:
    """Where a QA browser may go: the app's own origin, and listed origins (public ones unless allowed)."""

    app_origin: str
    extra_origins: frozenset[str] = frozenset()
    allow_private: bool = False

    @classmethod
    def around(cls, base_url: str, extra: Iterable[str] = (), *, allow_private: bool = False) -> Confinement:
        """The confinement for an app at `base_url` (an http(s) URL) plus the `extra` origins."""
        app_origin = origin_of(base_url)
        if app_origin is None:
            raise ValueError(f"not an http(s) URL with a host: {base_url}")
        listed = frozenset(o for o in (origin_of(e) for e in extra) if o is not None)
        return cls(app_origin, listed, allow_private)

    def allows(self, url: str) -> bool:
        """Whether the browser may request `url`."""
        origin = origin_of(url)
        if origin is None:
            return False
        if origin == self.app_origin:
            return True  # the app under test itself, even on 127.0.0.1 (`qa.start`, the demo)
        if origin not in self.extra_origins:
            return False
        return self.allow_private or not is_private_host(host_of(url) or "")

    def describe(self) -> str:
        """The origins QA may reach, for messages: the app's first."""
        return ", ".join([self.app_origin, *sorted(self.extra_origins)])
