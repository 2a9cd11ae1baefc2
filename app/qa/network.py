"""Where a QA browser context's connections go: through a SOCKS5 proxy that only opens allowed endpoints.

Request interception (`app.qa.scenario`) sees navigations and sub-resources, but not WebSockets opened by
workers, and Chromium resolves host names itself: a listed origin whose name resolves (or re-resolves,
mid-run) to 127.0.0.1, 10.x or 169.254.169.254 would reach the worker's own network. So every context of
a run gets a `NetworkFence`: a SOCKS5 proxy on a loopback port. Chromium sends every connection of the
context through it with the host *name* (SOCKS5 resolves remotely; Playwright also stops Chromium from
bypassing a proxy for loopback), so the browser never resolves a name itself. The fence resolves each
host once (off the event loop, with a short timeout), pins the answer for the context's lifetime, refuses
an endpoint that is not the app's own or a listed origin's, or a listed one with any private address
(unless the operator allows them), and connects to exactly the addresses it checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
from collections.abc import Callable

from app.domain.origins import Confinement, endpoint_of, ip_literal, socket_as_web

BLOCKED = "blocked: not the app under test"
RESOLVE_TIMEOUT_S = 3.0  # a name that takes longer than this to resolve is refused
CONNECT_TIMEOUT_S = 10.0
HANDSHAKE_TIMEOUT_S = 10.0
_SOCKS_VERSION = 5
# SOCKS5 replies (RFC 1928): succeeded, not allowed by ruleset, host unreachable, refused, command unsupported.
_OK, _NOT_ALLOWED, _UNREACHABLE, _REFUSED, _UNSUPPORTED = 0, 2, 4, 5, 7


async def resolve(host: str, *, timeout: float = RESOLVE_TIMEOUT_S) -> tuple[str, ...]:
    """Every address `host` resolves to (an IP literal is itself); () when it does not resolve in time.

    The lookup runs in the default executor (`getaddrinfo` blocks), never on the event loop.
    """
    literal = ip_literal(host)
    if literal is not None:
        return (literal,)
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host.rstrip(".") or host, None, type=socket.SOCK_STREAM),
                                       timeout)
    except (OSError, TimeoutError, UnicodeError):
        return ()
    found: dict[str, None] = {}
    for _family, _type, _proto, _name, address in infos:
        found[str(ipaddress.ip_address(str(address[0]).split("%")[0]))] = None
    return tuple(found)


class NetworkFence:
    """One browser context's confinement at the network level: pinned resolutions and the SOCKS5 proxy."""

    def __init__(self, confinement: Confinement, report: Callable[[str], None] | None = None) -> None:
        self.confinement = confinement
        self._report = report or (lambda line: None)
        self._pins: dict[str, asyncio.Task[tuple[str, ...]]] = {}
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    # --- decisions ---------------------------------------------------------------------------

    async def addresses(self, host: str) -> tuple[str, ...]:
        """The addresses of `host`, resolved once for this context (later look-ups get the same answer)."""
        key = host.strip().strip("[]").lower().rstrip(".")
        task = self._pins.get(key)
        if task is None:
            task = self._pins[key] = asyncio.ensure_future(resolve(key))
        return await task

    async def endpoint_problem(self, host: str, port: int) -> str | None:
        """Why the context must not connect to `host:port` (None when it may), after resolving `host`."""
        return self.confinement.address_problem(host, port, await self.addresses(host))

    async def refusal(self, url: str) -> str | None:
        """Why the context must not request `url` (http(s) or ws(s)), for the report; None when it may."""
        web = socket_as_web(url) or url
        if not self.confinement.allows(web):
            return f"{BLOCKED} ({self.confinement.describe()})"
        endpoint = endpoint_of(web)
        assert endpoint is not None  # allowed URLs are http(s) URLs with a host
        problem = await self.endpoint_problem(*endpoint)
        return f"{BLOCKED}: {problem}" if problem is not None else None

    # --- the proxy ---------------------------------------------------------------------------

    async def start(self) -> dict[str, str]:
        """Start the proxy on a loopback port: Playwright's `proxy` option for the context."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return {"server": f"socks5://127.0.0.1:{port}"}

    async def close(self) -> None:
        """Stop the proxy and cut every connection still open through it."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._open):
            writer.close()
        for task in self._pins.values():
            task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            target = await asyncio.wait_for(self._handshake(reader, writer), HANDSHAKE_TIMEOUT_S)
            if target is None:
                return
            connected = await self._connect(writer, *target)
            if connected is None:
                return
            upstream_reader, upstream = connected
            self._open.add(upstream)
            await asyncio.gather(_pipe(reader, upstream), _pipe(upstream_reader, writer))
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            for stream in (writer, upstream):
                if stream is not None:
                    self._open.discard(stream)
                    stream.close()

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[str, int] | None:
        """Read a SOCKS5 greeting and CONNECT request: the (host, port) asked for, or None after refusing it."""
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if version != _SOCKS_VERSION or 0 not in methods:
            writer.write(bytes([_SOCKS_VERSION, 0xFF]))  # no acceptable method
            return None
        writer.write(bytes([_SOCKS_VERSION, 0]))
        version, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = socket.inet_ntop(socket.AF_INET, await reader.readexactly(4))
        elif kind == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode("idna")
        elif kind == 4:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        else:
            raise ValueError("unknown SOCKS5 address type")
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        if version != _SOCKS_VERSION or command != 1:  # CONNECT only: no BIND, no UDP
            await _reply(writer, _UNSUPPORTED)
            return None
        problem = await self.endpoint_problem(host, port)
        if problem is not None:
            shown = f"[{host}]" if ":" in host else host
            self._report(f"CONNECT {shown}:{port}: {BLOCKED}: {problem}")
            await _reply(writer, _NOT_ALLOWED)
            return None
        return host, port

    async def _connect(self, writer: asyncio.StreamWriter, host: str,
                       port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """Connect to the first pinned address of `host` that answers: only addresses that were checked."""
        last = _UNREACHABLE
        for address in await self.addresses(host):
            try:
                upstream_reader, upstream = await asyncio.wait_for(asyncio.open_connection(address, port),
                                                                   CONNECT_TIMEOUT_S)
            except ConnectionRefusedError:
                last = _REFUSED
                continue
            except (OSError, TimeoutError):
                continue
            await _reply(writer, _OK)
            return upstream_reader, upstream
        await _reply(writer, last)
        return None


async def _reply(writer: asyncio.StreamWriter, code: int) -> None:
    # the bound address is not used by Chromium: 0.0.0.0:0
    writer.write(bytes([_SOCKS_VERSION, code, 0, 1, 0, 0, 0, 0, 0, 0]))
    await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of file, then pass the end on (half-close), so either side can finish first."""
    with contextlib.suppress(OSError, RuntimeError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
