"""Git smart HTTP for the double: `git http-backend` as CGI behind token auth, PR sync after pushes."""

from __future__ import annotations

import asyncio
import base64
import re
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from .commits import after_ref_moves
from .hub import Hub
from .state import Repo, User, now

GIT_PATH = re.compile(r"^/(?P<owner>[^/]+)/(?P<repo>[^/]+?)\.git(?P<rest>/.*)?$")
UNAUTHORIZED = Response("Authentication required\n", status_code=401,
                        headers={"WWW-Authenticate": 'Basic realm="GitHub"', "content-type": "text/plain"})


def _credential(header: str | None) -> str | None:
    """The token from `Basic x-access-token:<token>`, `Bearer <token>` or `token <token>`."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return password or user or None
    if scheme.lower() in ("bearer", "token"):
        return value.strip() or None
    return None


def _who(hub: Hub, repo: Repo, token_value: str | None, write: bool) -> tuple[User | None, int]:
    """The pusher/fetcher for a token, or the HTTP status to refuse with (401 unknown, 403 not allowed)."""
    state = hub.state
    token = state.tokens.get(token_value or "")
    if token is None or (token.expires_at is not None and token.expires_at <= datetime.now(UTC)):
        return None, 401
    if token.installation_id is not None:
        inst = state.installations.get(token.installation_id)
        if inst is None or inst.deleted or inst.suspended_at is not None:
            return None, 401
        if repo.full_name.lower() not in inst.repos:
            return None, 404
        app = state.apps.get(token.app_id or state.app_id) or state.app
        return app.bot, 200
    user = state.user(token.login or "ghost")
    role = state.role(repo, user.login)
    if role is None:
        return None, 404
    if write and role not in ("write", "maintain", "admin"):
        return None, 403
    return user, 200


async def serve(hub: Hub, request: Request) -> Response:
    """Answer one smart-HTTP request (info/refs, upload-pack, receive-pack)."""
    m = GIT_PATH.match(request.url.path)
    assert m is not None
    repo = hub.state.repo(f"{m['owner']}/{m['repo']}")
    fault = hub.faults.take("git", request.method, request.url.path)
    if fault is not None:
        if fault.latency:
            await asyncio.sleep(fault.latency)
        answer = fault.response()
        if answer is not None:
            return Response(str(answer[2]), status_code=answer[0], headers=answer[1])
    if repo is None:
        return Response("Repository not found.\n", status_code=404)
    rest = m["rest"] or "/"
    write = "git-receive-pack" in rest or request.query_params.get("service") == "git-receive-pack"
    who, status = _who(hub, repo, _credential(request.headers.get("authorization")), write)
    if who is None:
        if status == 401:
            return UNAUTHORIZED
        return Response("Permission denied\n" if status == 403 else "Repository not found.\n", status_code=status)
    body = await request.body()
    env = {
        "GIT_PROJECT_ROOT": str(hub.state.root / "repos"), "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{repo.owner.login}/{repo.name}.git{rest}", "QUERY_STRING": request.url.query,
        "REQUEST_METHOD": request.method, "CONTENT_TYPE": request.headers.get("content-type", ""),
        "CONTENT_LENGTH": str(len(body)), "REMOTE_USER": who.login, "REMOTE_ADDR": "127.0.0.1",
        "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(hub.state.root), "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    if request.headers.get("content-encoding"):
        env["HTTP_CONTENT_ENCODING"] = request.headers["content-encoding"]  # http-backend inflates gzip itself
    if request.headers.get("git-protocol"):
        env["GIT_PROTOCOL"] = request.headers["git-protocol"]
    before = repo.git.refs("refs/heads/") if write else {}
    proc = await asyncio.create_subprocess_exec("git", "http-backend", stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                env=env)
    out, _err = await proc.communicate(body)
    head, sep, payload = out.partition(b"\r\n\r\n")
    if not sep:
        head, sep, payload = out.partition(b"\n\n")
    headers: dict[str, str] = {}
    code = 200
    for line in head.decode(errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.lower() == "status":
            code = int(value.strip().split()[0])
        elif key:
            headers[key.strip()] = value.strip()
    if write and rest.endswith("git-receive-pack"):
        after = repo.git.refs("refs/heads/")
        moves = {ref: (before.get(ref), after.get(ref)) for ref in set(before) | set(after)
                 if before.get(ref) != after.get(ref)}
        if moves:
            repo.pushed_at = now()
            # run the PR bookkeeping off the event loop: it takes the state lock and shells out to git
            await asyncio.to_thread(_after_push, hub, repo, moves, who)
    return Response(payload, status_code=code, headers=headers)


def _after_push(hub: Hub, repo: Repo, moves: dict[str, tuple[str | None, str | None]], who: User) -> None:
    with hub.state.lock:
        after_ref_moves(hub, repo, moves, who, wait=False)
