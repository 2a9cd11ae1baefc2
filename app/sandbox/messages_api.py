"""The LLM double: a loopback server speaking Anthropic's Messages API, with scripted replies and faults.

The real `anthropic` SDK runs against it (`AsyncAnthropic(api_key="test", base_url=double.base_url)`),
so the model client's wire format, retries, timeouts and usage accounting are exercised for real.
A test scripts the replies it expects (`double.script(...)`); a request nobody scripted is answered
with a loud 500 (and `x-should-retry: false`, so the SDK does not hammer it) and recorded in
`double.unscripted`, which the pytest fixture turns into a test error. A test with more calls than
it can count (a burst of stories) sets `double.fallback`, the reply when the script has run out.

`double.fault(overloaded(), ratio=0.1, seed=1)` fails about a tenth of the requests, spread over the run
(each request draws from the rule's own seeded generator), before any scripted reply is used: a faulted
request consumes no scripted reply, so the retry gets it. Rules are looked at in the order they were
added; `hits` and `seen` count what each one failed and looked at.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.loopback import LoopbackServer

# --- what a test can script -------------------------------------------------------------------


@dataclass(frozen=True)
class ToolUse:
    """A `tool_use` reply; `name` defaults to the tool the request forced (tool_choice) or its only tool."""

    input: dict[str, Any]
    name: str | None = None
    text: str | None = None  # optional text block before the tool_use block, as models sometimes emit


@dataclass(frozen=True)
class Text:
    """A plain text reply (stop_reason end_turn)."""

    text: str


@dataclass(frozen=True)
class Fault:
    """An HTTP failure: status, Anthropic error type and message, optional retry-after (seconds)."""

    status: int
    error_type: str
    message: str
    retry_after: float | None = None


@dataclass(frozen=True)
class Slow:
    """Answer `reply` after `seconds` (to exercise the client's timeout)."""

    reply: Reply
    seconds: float


@dataclass(frozen=True)
class Malformed:
    """A 200 response whose body is not JSON."""

    body: str = '{"id": "msg_broken", "type": "message", "content": ['


Reply = ToolUse | Text | Fault | Slow | Malformed | dict[str, Any] | str


def rate_limited(retry_after: float = 0.05) -> Fault:
    """429 rate_limit_error with a retry-after header."""
    return Fault(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit",
                 retry_after)


def overloaded() -> Fault:
    """529 overloaded_error, Anthropic's "try again later"."""
    return Fault(529, "overloaded_error", "Overloaded")


def server_error() -> Fault:
    """500 api_error."""
    return Fault(500, "api_error", "Internal server error")


def bad_tool_input(data: dict[str, Any], name: str | None = None) -> ToolUse:
    """A tool_use whose input does not fit the tool's schema (the double returns it as scripted)."""
    return ToolUse(input=data, name=name)


@dataclass
class FaultRule:
    """Answer `reply` (a Fault) to about `ratio` of the requests, at most `times` of them (None: no limit)."""

    reply: Fault
    ratio: float = 1.0
    times: int | None = 1
    seed: int = 0
    hits: int = 0  # requests answered with the fault
    seen: int = 0  # requests the rule looked at while not exhausted
    _draws: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.ratio <= 1.0:
            raise ValueError(f"a fault's ratio must be in (0, 1], not {self.ratio!r}")
        self._draws = random.Random(self.seed)

    @property
    def exhausted(self) -> bool:
        """True when the rule has fired `times` times already."""
        return self.times is not None and self.hits >= self.times

    def fires(self) -> bool:
        """Whether this request gets the fault (counted in `seen`, and in `hits` when it does)."""
        if self.exhausted:
            return False
        self.seen += 1
        if self.ratio < 1.0 and self._draws.random() >= self.ratio:
            return False
        self.hits += 1
        return True


# --- what a test can read back ----------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request the double received, and what it answered."""

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: dict[str, Any] | None
    status: int = 0
    response: dict[str, Any] | None = None

    @property
    def system_text(self) -> str:
        """The system prompt as one string (blocks joined)."""
        system = (self.body or {}).get("system") or ""
        if isinstance(system, str):
            return system
        return "\n".join(block.get("text", "") for block in system if isinstance(block, dict))

    @property
    def user_text(self) -> str:
        """All text sent in user turns (text blocks and tool_result contents), joined."""
        parts: list[str] = []
        for message in (self.body or {}).get("messages", []):
            if message.get("role") != "user":
                continue
            parts.extend(_texts(message.get("content")))
        return "\n".join(parts)


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    for block in content or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            out.append(str(block.get("text", "")))
        elif block.get("type") == "tool_result":
            out.extend(_texts(block.get("content")))
    return out


def _tokens(value: Any) -> int:
    """A rough token count (about four characters a token), enough for usage and cost accounting."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return max(1, len(text) // 4)


class RequestInvalid(Exception):
    """The request would be refused by the real API (400 invalid_request_error)."""


def _validate(body: Any) -> None:
    """The checks the real Messages API makes that a client bug would trip."""
    if not isinstance(body, dict):
        raise RequestInvalid("request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise RequestInvalid("model: Field required")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise RequestInvalid("max_tokens: Field required (a positive integer)")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestInvalid("messages: at least one message is required")
    if body.get("stream"):
        raise RequestInvalid("the LLM double does not stream; call messages.create without stream")
    expected = "user"
    pending_tool_ids: set[str] = set()
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise RequestInvalid(f"messages.{index}.role: must be 'user' or 'assistant'")
        if message["role"] != expected:
            raise RequestInvalid(f"messages.{index}: roles must alternate, starting with 'user'")
        content = message.get("content")
        if not content:
            raise RequestInvalid(f"messages.{index}.content: must not be empty")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        if message["role"] == "user" and pending_tool_ids:
            answered = {b.get("tool_use_id") for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"}
            missing = pending_tool_ids - answered
            if missing:
                raise RequestInvalid(
                    f"messages.{index}: tool_use ids were found without tool_result blocks: {sorted(missing)}"
                )
        pending_tool_ids = {
            str(b.get("id")) for b in blocks
            if message["role"] == "assistant" and isinstance(b, dict) and b.get("type") == "tool_use"
        }
        expected = "assistant" if expected == "user" else "user"
    tools = body.get("tools") or []
    names = {tool.get("name") for tool in tools if isinstance(tool, dict)}
    for tool in tools:
        if not isinstance(tool, dict) or not tool.get("name") or not isinstance(tool.get("input_schema"), dict):
            raise RequestInvalid("tools: each tool needs a name and an input_schema object")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool" and choice.get("name") not in names:
        raise RequestInvalid(f"tool_choice: tool {choice.get('name')!r} is not among the tools")


class MessagesDouble:
    """The loopback Messages API. Start it once, `script()` replies per test, read `requests` back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: deque[Reply] = deque()
        self.fallback: Reply | None = None  # the reply once the script has run out (None: a loud 500)
        self.faults: list[FaultRule] = []
        self.requests: list[RecordedRequest] = []
        self.unscripted: list[RecordedRequest] = []
        self._cached_prefixes: set[str] = set()
        self._counter = 0
        self._loopback: LoopbackServer | None = None
        self.port = 0
        self.app = Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])

    # -- lifecycle --

    @property
    def base_url(self) -> str:
        """What to pass as the SDK's `base_url`."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MessagesDouble:
        """Serve on a free loopback port in a background thread; returns when it accepts connections."""
        self._loopback = LoopbackServer(self.app, name="LLM double", graceful_seconds=1).start(timeout=10)
        self.port = self._loopback.port
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._loopback is not None:
            self._loopback.stop(timeout=5)
            self._loopback = None

    def reset(self) -> None:
        """Forget the script, the fallback, the faults, the recorded requests and the prompt cache (between tests)."""
        with self._lock:
            self._script.clear()
            self.fallback = None
            self.faults.clear()
            self.requests.clear()
            self.unscripted.clear()
            self._cached_prefixes.clear()

    # -- scripting --

    def script(self, *replies: Reply) -> None:
        """Queue replies, answered in order: a dict is a tool input, a str is text, or a Fault/Slow/..."""
        with self._lock:
            self._script.extend(replies)

    def fault(self, reply: Fault, *, ratio: float = 1.0, times: int | None = 1, seed: int = 0) -> FaultRule:
        """Answer `reply` to about `ratio` of the requests from now on, `times` at most (None: no limit);
        like the GitHub double's `fault()`, see the module docstring."""
        rule = FaultRule(reply, ratio=ratio, times=times, seed=seed)
        with self._lock:
            self.faults.append(rule)
        return rule

    @property
    def remaining(self) -> int:
        """How many scripted replies are still unused."""
        with self._lock:
            return len(self._script)

    @property
    def answered(self) -> list[RecordedRequest]:
        """The requests answered with a 200 message."""
        return [r for r in self.requests if r.status == 200]

    # -- serving --

    async def _messages(self, request: Request) -> Response:
        raw = await request.body()
        recorded = RecordedRequest("POST", request.url.path, dict(request.headers), raw, None)
        with self._lock:
            self.requests.append(recorded)
        try:
            recorded.body = json.loads(raw)
        except ValueError:
            return self._error(recorded, 400, "invalid_request_error", "request body is not valid JSON")
        try:
            _validate(recorded.body)
        except RequestInvalid as exc:
            return self._error(recorded, 400, "invalid_request_error", str(exc))
        with self._lock:
            reply: Reply | None = next((rule.reply for rule in self.faults if rule.fires()), None)
            if reply is None:
                reply = self._script.popleft() if self._script else self.fallback
        if reply is None:
            with self._lock:
                self.unscripted.append(recorded)
            return self._error(
                recorded, 500, "api_error",
                f"LLM double: unscripted request #{len(self.requests)} (script a reply with llm.script(...))",
                retry=False,
            )
        return await self._answer(recorded, reply)

    async def _answer(self, recorded: RecordedRequest, reply: Reply) -> Response:
        if isinstance(reply, Slow):
            await asyncio.sleep(reply.seconds)
            return await self._answer(recorded, reply.reply)
        if isinstance(reply, Fault):
            return self._error(recorded, reply.status, reply.error_type, reply.message, retry_after=reply.retry_after)
        if isinstance(reply, Malformed):
            recorded.status = 200
            return Response(reply.body, status_code=200, media_type="application/json")
        body = recorded.body or {}
        if isinstance(reply, dict):
            reply = ToolUse(input=reply)
        elif isinstance(reply, str):
            reply = Text(reply)
        self._counter += 1
        content: list[dict[str, Any]] = []
        if isinstance(reply, ToolUse):
            name = reply.name or self._forced_tool(body)
            if name is None:
                return self._error(recorded, 500, "api_error",
                                   "LLM double: a tool_use reply was scripted but the request offers no tool",
                                   retry=False)
            if reply.text:
                content.append({"type": "text", "text": reply.text})
            content.append({"type": "tool_use", "id": f"toolu_double_{self._counter:04d}", "name": name,
                            "input": reply.input})
            stop_reason = "tool_use"
        else:
            content.append({"type": "text", "text": reply.text})
            stop_reason = "end_turn"
        message = {
            "id": f"msg_double_{self._counter:04d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": self._usage(body, content),
        }
        recorded.status = 200
        recorded.response = message
        return JSONResponse(message)

    @staticmethod
    def _forced_tool(body: dict[str, Any]) -> str | None:
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") == "tool":
            return str(choice.get("name"))
        tools = body.get("tools") or []
        return str(tools[0]["name"]) if len(tools) == 1 else None

    def _usage(self, body: dict[str, Any], content: list[dict[str, Any]]) -> dict[str, int]:
        """Usage like the real API: the prefix up to the last cache_control breakpoint is cached."""
        # The cacheable prefix, in the API's order: tools, then system, then messages.
        prefix: list[Any] = []
        cached_upto: list[Any] | None = None
        for tool in body.get("tools") or []:
            prefix.append(tool)
            if tool.get("cache_control"):
                cached_upto = list(prefix)
        system = body.get("system")
        for block in ([{"type": "text", "text": system}] if isinstance(system, str) else system or []):
            prefix.append(block)
            if isinstance(block, dict) and block.get("cache_control"):
                cached_upto = list(prefix)
        total = _tokens(body.get("tools") or []) + _tokens(system or "") + _tokens(body.get("messages"))
        creation = read = 0
        if cached_upto is not None:
            key = hashlib.sha256(json.dumps([body.get("model"), cached_upto], sort_keys=True).encode()).hexdigest()
            size = _tokens(cached_upto)
            with self._lock:
                if key in self._cached_prefixes:
                    read = size
                else:
                    self._cached_prefixes.add(key)
                    creation = size
        return {
            "input_tokens": max(1, total - creation - read),
            "output_tokens": _tokens(content),
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
        }

    def _error(self, recorded: RecordedRequest, status: int, error_type: str, message: str, *,
               retry_after: float | None = None, retry: bool | None = None) -> Response:
        payload = {"type": "error", "error": {"type": error_type, "message": message}}
        recorded.status = status
        recorded.response = payload
        headers: dict[str, str] = {"request-id": f"req_double_{len(self.requests):04d}"}
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        if retry is not None:
            headers["x-should-retry"] = "true" if retry else "false"
        return JSONResponse(payload, status_code=status, headers=headers)
