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

Inside the repository-code sandbox the network is only the sandbox's own loopback. For an app outside it
(`qa.base_url` without `qa.start`, a deployment) the worker runs an `EgressRelay` on a Unix socket in the
sandbox's workspace, named to the QA child by `SPECLOOP_QA_EGRESS`: the child's fences then connect
nowhere themselves, they ask the relay (one line, `CONNECT host port` or `CHECK host port`, answered
`OK` or `NO reason`; after `OK` to CONNECT, raw bytes both ways). The relay makes the same decision with
its own fence, in the worker, from the worker's settings: whatever runs in the sandbox (step code
included) reaches the app and the listed origins through it, and nothing else (docs/sandbox.md).

For an app `qa.start` runs inside the sandbox (the confinement's `private_app`), a run that lists origins
gets a relay too, one that opens only the listed origins (`EgressRelay(..., listed_only=True)`): the
child's fences connect to the app's own endpoint directly, on the sandbox's loopback, and send every other
endpoint to the relay. Without listed origins there is no relay: the sandbox's loopback is all there is.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import os
import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

from app.domain.origins import Confinement, endpoint_of, ip_literal, socket_as_web

BLOCKED = "blocked: not the app under test"
RESOLVE_TIMEOUT_S = 3.0  # a name that takes longer than this to resolve is refused
CONNECT_TIMEOUT_S = 10.0
HANDSHAKE_TIMEOUT_S = 10.0
_SOCKS_VERSION = 5
# SOCKS5 replies (RFC 1928): succeeded, not allowed by ruleset, host unreachable, refused, command unsupported.
_OK, _NOT_ALLOWED, _UNREACHABLE, _REFUSED, _UNSUPPORTED = 0, 2, 4, 5, 7
EGRESS_ENV = "SPECLOOP_QA_EGRESS"  # in the sandbox: the path of the worker's egress relay socket
RELAY_LINE_MAX = 512  # a relay request is one short line
RELAY_MAX_CONNECTIONS = 256  # at once, per relay: the worker's file descriptors are not the sandbox's to spend
_FROM_ENV = "from the environment"
_UNIX_PATH_MAX = 100  # sun_path holds 108 bytes; longer paths go through /proc/self/fd/<dir>

log = logging.getLogger(__name__)


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

    def __init__(self, confinement: Confinement, report: Callable[[str], None] | None = None, *,
                 relay: str | None = _FROM_ENV) -> None:
        self.confinement = confinement
        self._report = report or (lambda line: None)
        self._pins: dict[str, asyncio.Task[tuple[str, ...]]] = {}
        # Where the connections go: here, or (in the sandbox) through the worker's egress relay.
        self.relay = (os.environ.get(EGRESS_ENV) or None) if relay == _FROM_ENV else relay
        self._checked: dict[tuple[str, int], asyncio.Task[str | None]] = {}
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    # --- decisions ---------------------------------------------------------------------------

    async def addresses(self, host: str) -> tuple[str, ...]:
        """The addresses of `host`, resolved once for this context (later look-ups get the same answer)."""
        key = _key(host)
        task = self._pins.get(key)
        if task is None:
            task = self._pins[key] = asyncio.ensure_future(resolve(key))
        return await task

    def local(self, host: str, port: int) -> bool:
        """Whether `host:port` is connected here rather than through the relay: always without a relay;
        with one, only the app's own endpoint when the app is one QA started (`private_app`: it runs in
        the sandbox, on the loopback the relay, in the worker, cannot reach)."""
        if self.relay is None:
            return True
        return self.confinement.private_app and (_key(host), int(port)) == endpoint_of(self.confinement.app_origin)

    async def endpoint_problem(self, host: str, port: int) -> str | None:
        """Why the context must not connect to `host:port` (None when it may), after resolving `host`
        (through the relay, which resolves and decides in the worker, when there is one)."""
        if self.local(host, port):
            return self.confinement.address_problem(host, port, await self.addresses(host))
        key = (_key(host), int(port))
        task = self._checked.get(key)
        if task is None:
            task = self._checked[key] = asyncio.ensure_future(self._ask_relay(*key))
        return await task

    async def _ask_relay(self, host: str, port: int) -> str | None:
        try:
            _, writer = await relay_request(self.relay or "", "CHECK", host, port)
        except RelayRefused as refused:
            return str(refused)
        writer.close()
        return None

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
        for task in (*self._pins.values(), *self._checked.values()):
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
        """Connect (and reply to the SOCKS5 client) to the first pinned address of `host` that answers,
        or through the relay when there is one (and the endpoint is not the started app's own)."""
        if not self.local(host, port):
            try:
                connected = await relay_request(self.relay or "", "CONNECT", host, port)
            except RelayRefused as refused:
                self._report(f"CONNECT {host}:{port}: {BLOCKED}: {refused}")
                await _reply(writer, _NOT_ALLOWED if refused.refused else _UNREACHABLE)
                return None
            await _reply(writer, _OK)
            return connected
        streams, code = await self.dial(host, port)
        await _reply(writer, code)
        return streams

    async def dial(self, host: str, port: int) -> tuple[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None, int]:
        """Connect to the first pinned address of `host` that answers (only addresses that were checked):
        the streams and `_OK`, or None and the SOCKS5 reply code saying why not."""
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
            return (upstream_reader, upstream), _OK
        return None, last


def _key(host: str) -> str:
    return host.strip().strip("[]").lower().rstrip(".")


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


# --- the egress relay (worker side) and its client (the sandbox side) --------------------------------


class RelayRefused(Exception):
    """The relay would not (or could not) open a connection; `refused` when it decided so."""

    def __init__(self, reason: str, *, refused: bool = True) -> None:
        super().__init__(reason)
        self.refused = refused


@contextlib.contextmanager
def unix_path(path: str | Path) -> Iterator[str]:
    """`path` as an AF_UNIX address: itself when short enough, else through `/proc/self/fd/<its folder>`
    (a socket path holds at most 108 bytes; a job's workspace under a deep temp dir can be longer)."""
    text = str(path)
    if len(text.encode()) <= _UNIX_PATH_MAX:
        yield text
        return
    folder = os.open(os.path.dirname(text) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{folder}/{os.path.basename(text)}"
    finally:
        os.close(folder)


async def relay_request(path: str, verb: str, host: str,
                        port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Ask the egress relay at `path` to CHECK or CONNECT `host:port`: the open streams after its `OK`
    (raw bytes to the endpoint for CONNECT), else RelayRefused with its reason."""
    try:
        with unix_path(path) as address:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(address), CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as error:
        raise RelayRefused(f"the egress relay is not reachable ({error})", refused=False) from None
    try:
        writer.write(f"{verb} {host} {int(port)}\n".encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.readline(), CONNECT_TIMEOUT_S + RESOLVE_TIMEOUT_S + 5)
    except (OSError, TimeoutError, ValueError) as error:
        writer.close()
        raise RelayRefused(f"the egress relay did not answer ({error})", refused=False) from None
    line = answer.decode("utf-8", "replace").strip()
    if line == "OK":
        return reader, writer
    writer.close()
    if line.startswith("NO"):
        raise RelayRefused(line[2:].strip() or "refused")
    raise RelayRefused(f"the egress relay answered {line[:80]!r}", refused=False)


class EgressRelay:
    """The worker's end of a sandbox's only way out: a Unix socket server that opens a connection to an
    endpoint the confinement allows (resolved once, pinned, private answers refused unless allowed, the
    checked address connected) and refuses everything else, in the worker's event loop.

        relay = EgressRelay(Confinement.around(url, allowed, allow_private=..., private_app=False),
                            workspace / ".qa" / "egress.sock")
        await relay.start()          # before the sandbox's command starts; then close() after it

    With `listed_only` (an app `qa.start` runs inside the sandbox), it opens only the listed origins: never
    the app's own endpoint (the app is in the sandbox; that host and port in the worker are the worker's),
    and a listed one on a private address only when private hosts are allowed.
    """

    def __init__(self, confinement: Confinement, path: Path, *, listed_only: bool = False) -> None:
        self.path = Path(path)
        self.refused: list[str] = []  # what it refused, in words (for logs and tests)
        # listed only: the app's own host gets no private exemption either (it is refused before, anyway)
        self._listed_only = endpoint_of(confinement.app_origin) if listed_only else None
        if listed_only:
            confinement = dataclasses.replace(confinement, private_app=False)
        self._fence = NetworkFence(confinement, report=self.refused.append, relay=None)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._clients: set[asyncio.StreamWriter] = set()  # one per connection to the relay
        self._folder: int | None = None  # the socket's folder, held open while it listens

    async def start(self) -> Path:
        """Listen on `path` (mode 0600, replacing whatever was there): the socket to bind into the sandbox."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # the folder is held open: the sandbox may replace it with a link before close() removes the socket
        self._folder = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path.name, dir_fd=self._folder)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with unix_path(self.path) as address:
                sock.bind(address)
            os.chmod(self.path.name, 0o600, dir_fd=self._folder, follow_symlinks=False)
            self._server = await asyncio.start_unix_server(self._serve, sock=sock)
        except BaseException:
            sock.close()
            raise
        return self.path

    async def close(self) -> None:
        """Stop listening, cut every connection still open through it, remove the socket."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.close()
        await self._fence.close()
        if self._folder is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path.name, dir_fd=self._folder)
            os.close(self._folder)
            self._folder = None

    def _refuse(self, what: str, reason: str) -> bytes:
        self.refused.append(f"{what}: {BLOCKED}: {reason}")
        log.warning("egress relay refused %s: %s", what, reason)
        return f"NO {reason}\n".encode("utf-8", "replace")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._clients) >= RELAY_MAX_CONNECTIONS:
            writer.write(self._refuse("a connection", f"more than {RELAY_MAX_CONNECTIONS} open at once"))
            writer.close()
            return
        self._clients.add(writer)
        self._open.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            line = await asyncio.wait_for(reader.readline(), HANDSHAKE_TIMEOUT_S)
            request = _parse_request(line)
            if request is None:
                writer.write(self._refuse("a request", "not `CONNECT host port` or `CHECK host port`"))
                await writer.drain()
                return
            verb, host, port = request
            shown = f"{verb} {f'[{host}]' if ':' in host else host}:{port}"
            if (host, port) == self._listed_only:
                problem: str | None = (f"{host}:{port} is the app under test, which runs in the sandbox: "
                                       "the relay opens only the listed origins")
            else:
                problem = await self._fence.endpoint_problem(host, port)
            if problem is not None:
                writer.write(self._refuse(shown, problem))
                await writer.drain()
                return
            if verb == "CHECK":
                writer.write(b"OK\n")
                await writer.drain()
                return
            streams, code = await self._fence.dial(host, port)
            if streams is None:
                writer.write(f"NO {'connection refused' if code == _REFUSED else 'unreachable'}\n".encode())
                await writer.drain()
                return
            upstream_reader, upstream = streams
            self._open.add(upstream)
            writer.write(b"OK\n")
            await writer.drain()
            await asyncio.gather(_pipe(reader, upstream), _pipe(upstream_reader, writer))
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self._clients.discard(writer)
            for stream in (writer, upstream):
                if stream is not None:
                    self._open.discard(stream)
                    stream.close()


def _parse_request(line: bytes) -> tuple[str, str, int] | None:
    """`CONNECT host port` / `CHECK host port` (one line, ASCII): (verb, host, port), else None."""
    if not line.endswith(b"\n") or len(line) > RELAY_LINE_MAX:
        return None
    try:
        verb, host, port_text = line.decode("ascii").split()
        port = int(port_text)
    except (UnicodeError, ValueError):
        return None
    if verb not in ("CONNECT", "CHECK") or not 0 < port < 65536 or not port_text.isdigit():
        return None
    host = host.strip("[]").lower().rstrip(".")
    if not host or len(host) > 253:
        return None
    return verb, host, port
