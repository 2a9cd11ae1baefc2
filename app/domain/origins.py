"""Which URLs QA may reach: http(s) on the app under test's origin, plus origins the repository lists.

One set of rules for the QA runner (request interception and the visit step), the QA job (`qa.base_url`
and a deployment's URL) and the spec lint (absolute URLs in steps). Pure: no DNS lookups here. `is_private_host` judges a host by
its text (an IP address in a private range, or `localhost`); `Confinement.address_problem` judges a host by
the addresses someone resolved it to (`app.qa.network` resolves, pins and connects to exactly those).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

WEB_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A WebSocket URL belongs to the origin of the web URL with the matching scheme (`wss:` is `https:`).
SOCKET_SCHEMES = {"ws": "http", "wss": "https"}
PRIVATE_ADDRESS = "a private, loopback or link-local address"


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


def ip_literal(host: str) -> str | None:
    """The IP address a host literally is (`127.1` is `127.0.0.1`), as text; None for a host name."""
    address = _ip(host.strip().lower().rstrip("."))
    return str(address) if address is not None else None


def is_private_host(host: str) -> bool:
    """Whether a host is `localhost` or a literal private, loopback, link-local or unspecified IP address."""
    name = host.strip().lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    return _ip(name) is not None and is_private_address(name)


def is_private_address(text: str) -> bool:
    """Whether an IP address (as text) is anything but a global unicast address; True for a non-address."""
    address = _ip(text)
    if address is None:
        return True  # not an address at all: never treat it as a public one
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    # is_private covers RFC 1918, loopback, link-local and unique-local; carrier-grade NAT (100.64/10) is
    # neither private nor global, and reaches inside a provider's network just the same.
    return bool(address.is_private or address.is_loopback or address.is_link_local or address.is_unspecified
                or address.is_reserved or address.is_multicast or not address.is_global)


def socket_as_web(url: str) -> str | None:
    """The http(s) URL a ws(s) URL stands for (same host, port and path), else None."""
    scheme, sep, rest = url.strip().partition(":")
    web = SOCKET_SCHEMES.get(scheme.lower())
    return f"{web}:{rest}" if sep and web is not None else None


def endpoint_of(url: str) -> tuple[str, int] | None:
    """(host, port) an http(s) URL connects to: the host lower case, without brackets or a final dot."""
    parts = _split(url)
    if parts is None or parts.hostname is None:
        return None
    return _host_key(parts.hostname), parts.port or _DEFAULT_PORTS[parts.scheme.lower()]


def _host_key(host: str) -> str:
    return host.strip().strip("[]").lower().rstrip(".")


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
    private_app: bool = True  # the app's own host may resolve to a private address (`qa.start`: loopback)

    @classmethod
    def around(cls, base_url: str, extra: Iterable[str] = (), *, allow_private: bool = False,
               private_app: bool = True) -> Confinement:
        """The confinement for an app at `base_url` (an http(s) URL) plus the `extra` origins."""
        app_origin = origin_of(base_url)
        if app_origin is None:
            raise ValueError(f"not an http(s) URL with a host: {base_url}")
        listed = frozenset(o for o in (origin_of(e) for e in extra) if o is not None)
        return cls(app_origin, listed, allow_private, private_app)

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

    def allows_socket(self, url: str) -> bool:
        """Whether a page may open a WebSocket to `url`: ws(s) to an origin it may request over http(s)."""
        web = socket_as_web(url)
        return web is not None and self.allows(web)

    def address_problem(self, host: str, port: int, addresses: Sequence[str]) -> str | None:
        """Why the browser must not connect to `host:port` resolved to `addresses`, or None when it may.

        The endpoint must be the app's own or a listed origin's; a listed one must resolve to public
        addresses only (every one of them: a browser may pick any), unless private hosts are allowed.
        The app's own host may be private (`qa.start` serves it on loopback) unless `private_app` is off
        (a deployment's URL). Nothing resolved: refused, as there is nothing checked to connect to.
        """
        key = (_host_key(host), int(port))
        app = endpoint_of(self.app_origin)
        listed = {endpoint_of(origin) for origin in self.extra_origins}
        if key != app and key not in listed:
            return f"{host}:{port} is not the app under test ({self.describe()})"
        if not addresses:
            return f"{host} could not be resolved"
        if self.allow_private or (key == app and self.private_app):
            return None
        private = [address for address in addresses if is_private_address(address)]
        if private:
            shown = host if ip_literal(host) is not None else f"{host} resolves to {private[0]}, which"
            return f"{shown} is {PRIVATE_ADDRESS} (QA_ALLOW_PRIVATE_HOSTS allows it)"
        return None

    def describe(self) -> str:
        """The origins QA may reach, for messages: the app's first."""
        return ", ".join([self.app_origin, *sorted(self.extra_origins)])
