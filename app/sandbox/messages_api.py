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

As strict as the API (what a client bug would trip there trips here, with the API's status, error type
and JSON shape `{"type": "error", "error": {"type", "message"}, "request_id"}`):

- every body is checked against the SDK's own TypedDicts (`MessageCreateParams*`, the beta ones for
  `?beta=true`, `MessageCountTokensParams`): an unknown key is 400 "...: Extra inputs are not permitted";
- the model must be one the catalog knows and has not retired (404 not_found_error otherwise);
- `max_tokens` at least 1 and at most the model's output limit; at most 4 `cache_control` breakpoints;
  a cache `ttl` only "5m" or "1h"; custom tool names match ^[a-zA-Z0-9_-]{1,64}$ and are unique
  (Anthropic-defined tools, e.g. `bash_20250124` / `text_editor_20250728`, must carry their fixed names);
  thinking cannot be combined with forced tool use (tool_choice any/tool), nor can a model whose
  thinking is always on be forced; roles alternate and every tool_use is answered by a tool_result;
- caching follows the model's minimum: a breakpoint whose prefix is shorter writes and reads nothing
  (usage then reports 0 cache tokens), as the API does silently;
- server-held threads (`thread` {"type": "create"} / {"type": "continue", "previous_message_id"}), which
  the SDK's tool runner uses: a continuation is checked and answered as the whole conversation;
- `anthropic-beta` headers (tool runner, context management) are accepted and recorded; a request
  carrying one (or `?beta=true`) is checked against the SDK's beta TypedDicts instead.

It serves `POST /v1/messages` (streamed as server-sent events when `stream` is true),
`POST /v1/messages/count_tokens`, `GET /v1/models` and `GET /v1/models/{id}` (from app/model/catalog.py).
A request with `output_config.format` (structured outputs) gets a scripted dict back as JSON text; a
scripted `ToolCalls` is one assistant turn of several tool calls, so a script of them is a whole agent run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from anthropic.types import message_count_tokens_params, message_create_params
from anthropic.types.beta import message_count_tokens_params as beta_count_tokens_params
from anthropic.types.beta import message_create_params as beta_create_params
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from app.loopback import LoopbackServer
from app.model import catalog
from app.model.request_schema import check

# --- what a test can script -------------------------------------------------------------------


@dataclass(frozen=True)
class ToolUse:
    """A `tool_use` reply; `name` defaults to the tool the request forced (tool_choice) or its only tool."""

    input: dict[str, Any]
    name: str | None = None
    text: str | None = None  # optional text block before the tool_use block, as models sometimes emit


@dataclass(frozen=True)
class ToolCalls:
    """One assistant turn calling several tools (in order); each needs its `name` unless there is one tool."""

    calls: tuple[ToolUse, ...]
    text: str | None = None

    def __init__(self, *calls: ToolUse, text: str | None = None) -> None:
        object.__setattr__(self, "calls", tuple(calls))
        object.__setattr__(self, "text", text)


@dataclass(frozen=True)
class Text:
    """A plain text reply; `stop_reason` "max_tokens" or "refusal" scripts a cut-off or a refusal."""

    text: str
    stop_reason: str = "end_turn"


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


Reply = ToolUse | ToolCalls | Text | Fault | Slow | Malformed | dict[str, Any] | str


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
    """A tool_use whose input does not fit the tool's schema (the double returns it as scripted); to a
    structured-output request without tools, the same data as the JSON answer."""
    return ToolUse(input=data, name=name)


def cut_off(partial: str = '{"story": {"as_a": "shop') -> Text:
    """An answer stopped by `max_tokens` (stop_reason "max_tokens"), its text incomplete."""
    return Text(partial, stop_reason="max_tokens")


def refusal(text: str = "") -> Text:
    """The model declining (stop_reason "refusal")."""
    return Text(text, stop_reason="refusal")


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
    beta: bool = False
    conversation: dict[str, Any] | None = None  # the whole request a thread continuation stands for

    @property
    def betas(self) -> list[str]:
        """The `anthropic-beta` header's values."""
        raw = self.headers.get("anthropic-beta", "")
        return [part.strip() for part in raw.split(",") if part.strip()]

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


# --- the API's rules --------------------------------------------------------------------------


class ApiError(Exception):
    """A request the real API refuses: status, error type and message as it would answer."""

    def __init__(self, message: str, *, status: int = 400, error_type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type


RequestInvalid = ApiError  # the old name

MAX_BREAKPOINTS = 4
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _params_type(body: dict[str, Any], *, beta: bool, count: bool) -> type:
    """The SDK TypedDict that types this request."""
    if count:
        return beta_count_tokens_params.MessageCountTokensParams if beta else \
            message_count_tokens_params.MessageCountTokensParams
    if beta:
        return beta_create_params.MessageCreateParamsStreaming if body.get("stream") else \
            beta_create_params.MessageCreateParamsNonStreaming
    return message_create_params.MessageCreateParamsStreaming if body.get("stream") else \
        message_create_params.MessageCreateParamsNonStreaming


def _model_spec(body: dict[str, Any]) -> catalog.ModelSpec:
    model = body.get("model")
    try:
        spec = catalog.lookup(str(model))
    except catalog.UnknownModel:
        raise ApiError(f"model: {model}", status=404, error_type="not_found_error") from None
    if spec.lifecycle == "retired":
        raise ApiError(f"model: {model} (retired)", status=404, error_type="not_found_error")
    return spec


def _blocks(content: Any) -> list[Any]:
    return content if isinstance(content, list) else [{"type": "text", "text": content}]


def _breakpoints(body: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(position in the prompt's block order, cache_control) of every breakpoint: tools, system, messages."""
    found: list[tuple[int, dict[str, Any]]] = []
    position = 0
    for tool in body.get("tools") or []:
        position += 1
        if isinstance(tool, dict) and tool.get("cache_control"):
            found.append((position, tool["cache_control"]))
    system = body.get("system")
    for block in _blocks(system) if system else []:
        position += 1
        if isinstance(block, dict) and block.get("cache_control"):
            found.append((position, block["cache_control"]))
    for message in body.get("messages") or []:
        for block in _blocks(message.get("content")):
            position += 1
            if not isinstance(block, dict):
                continue
            if block.get("cache_control"):
                found.append((position, block["cache_control"]))
            if block.get("type") == "tool_result" and isinstance(block.get("content"), list):
                found.extend((position, inner["cache_control"]) for inner in block["content"]
                             if isinstance(inner, dict) and inner.get("cache_control"))
    if body.get("cache_control"):  # automatic caching: the last block, and it takes a slot
        found.append((position, body["cache_control"]))
    return found


def _flat_blocks(body: dict[str, Any]) -> list[Any]:
    """The prompt's blocks in cache order (tools, system, messages), each with its role for messages."""
    flat: list[Any] = [{"tool": tool} for tool in body.get("tools") or []]
    system = body.get("system")
    flat += [{"system": block} for block in (_blocks(system) if system else [])]
    for message in body.get("messages") or []:
        flat += [{message.get("role", "?"): block} for block in _blocks(message.get("content"))]
    return flat


def check_schema(body: Any, *, beta: bool = False, count: bool = False) -> None:
    """The body against the SDK's TypedDicts (unknown keys refused); raises ApiError."""
    if not isinstance(body, dict):
        raise ApiError("request body must be a JSON object")
    problem = check(body, _params_type(body, beta=beta, count=count))
    if problem:
        raise ApiError(problem)


def validate(body: Any, *, beta: bool = False, count: bool = False) -> catalog.ModelSpec:
    """The API's checks, in its order; raises ApiError. Returns the model's catalog row."""
    check_schema(body, beta=beta, count=count)
    return check_rules(body, count=count)


def check_rules(body: dict[str, Any], *, count: bool = False) -> catalog.ModelSpec:
    """The API's rules beyond the schema, on the whole conversation (a thread's included)."""
    spec = _model_spec(body)
    if not count:
        max_tokens = body["max_tokens"]
        if max_tokens < 1:
            raise ApiError("max_tokens: Input should be greater than or equal to 1")
        if max_tokens > spec.max_output:
            raise ApiError(f"max_tokens: {max_tokens} > {spec.max_output}, which is the maximum allowed number "
                           f"of output tokens for {body['model']}")
    _check_messages(body["messages"])
    _check_tools(body, spec)
    breakpoints = _breakpoints(body)
    if len(breakpoints) > MAX_BREAKPOINTS:
        raise ApiError(f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
                       f"Found {len(breakpoints)}.")
    return spec


def _check_messages(messages: list[Any]) -> None:
    if not messages:
        raise ApiError("messages: at least one message is required")
    expected = "user"
    pending_tool_ids: set[str] = set()
    for index, message in enumerate(messages):
        if message["role"] != expected:
            raise ApiError(f"messages.{index}: roles must alternate between 'user' and 'assistant', "
                           "starting with 'user'")
        content = message.get("content")
        if not content:
            raise ApiError(f"messages.{index}: all messages must have non-empty content")
        blocks = _blocks(content)
        if message["role"] == "user" and pending_tool_ids:
            answered = {b.get("tool_use_id") for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"}
            missing = pending_tool_ids - answered
            if missing:
                raise ApiError(
                    f"messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately "
                    f"after: {', '.join(sorted(missing))}. Each `tool_use` block must have a corresponding "
                    "`tool_result` block in the next message."
                )
        pending_tool_ids = {
            str(b.get("id")) for b in blocks
            if message["role"] == "assistant" and isinstance(b, dict) and b.get("type") == "tool_use"
        }
        expected = "assistant" if expected == "user" else "user"


def _check_tools(body: dict[str, Any], spec: catalog.ModelSpec) -> None:
    names: list[str] = []
    for index, tool in enumerate(body.get("tools") or []):
        name = str(tool.get("name", ""))
        if tool.get("type") in (None, "custom") and not TOOL_NAME.match(name):
            raise ApiError(f"tools.{index}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
        names.append(name)
    if len(set(names)) != len(names):
        raise ApiError("tools: Tool names must be unique.")
    choice = body.get("tool_choice") or {}
    forced = choice.get("type") in ("any", "tool")
    if choice.get("type") == "tool" and choice.get("name") not in names:
        raise ApiError(f"tool_choice.name: Tool '{choice.get('name')}' not found in tools")
    if choice and not names and choice.get("type") != "none":
        raise ApiError("tool_choice: may only be specified while providing tools")
    thinking = body.get("thinking") or {}
    if forced and thinking.get("type") in ("enabled", "adaptive"):
        raise ApiError("Thinking may not be enabled when tool_choice forces tool use.")
    if forced and not spec.forced_tool_use:
        raise ApiError(f"tool_choice: forced tool use (type '{choice['type']}') is not supported by "
                       f"{body['model']}; use tool_choice 'auto' or structured outputs (output_config.format)")


# --- the server -------------------------------------------------------------------------------


class MessagesDouble:
    """The loopback Messages API. Start it once, `script()` replies per test, read `requests` back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: deque[Reply] = deque()
        self.fallback: Reply | None = None  # the reply once the script has run out (None: a loud 500)
        self.faults: list[FaultRule] = []
        self.requests: list[RecordedRequest] = []  # POST /v1/messages (plain, beta, streamed)
        self.other_requests: list[RecordedRequest] = []  # count_tokens and models: never scripted or faulted
        self.unscripted: list[RecordedRequest] = []
        self.refused: list[RecordedRequest] = []  # refused by the API's rules (not scripted faults)
        self._cached_prefixes: set[str] = set()
        self._threads: dict[str, dict[str, Any]] = {}  # message id -> the conversation a thread holds
        self._counter = 0
        self._loopback: LoopbackServer | None = None
        self.port = 0
        self.app = Starlette(routes=[
            Route("/v1/messages", self._messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", self._count_tokens, methods=["POST"]),
            Route("/v1/models", self._list_models, methods=["GET"]),
            Route("/v1/models/{model_id:path}", self._get_model, methods=["GET"]),
        ])

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
            self.other_requests.clear()
            self.unscripted.clear()
            self.refused.clear()
            self._cached_prefixes.clear()
            self._threads.clear()

    # -- scripting --

    def script(self, *replies: Reply) -> None:
        """Queue replies, answered in order: a dict is a tool input (or, for a request with
        `output_config.format`, the JSON answer), a str is text, or a ToolCalls/Fault/Slow/..."""
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

    async def _record(self, request: Request, into: list[RecordedRequest]) -> RecordedRequest:
        raw = await request.body()
        # the beta surface (client.beta.messages, the tool runner) is told apart by `?beta=true` or an
        # `anthropic-beta` header; its bodies are checked against the SDK's beta TypedDicts
        beta = request.query_params.get("beta") == "true" or bool(request.headers.get("anthropic-beta"))
        recorded = RecordedRequest(request.method, request.url.path, dict(request.headers), raw, None, beta=beta)
        with self._lock:
            into.append(recorded)
        return recorded

    def _auth(self, recorded: RecordedRequest) -> Response | None:
        if not (recorded.headers.get("x-api-key") or recorded.headers.get("authorization")):
            return self._error(recorded, 401, "authentication_error", "x-api-key header is required")
        return None

    async def _authorised_json(self, request: Request,
                               into: list[RecordedRequest]) -> tuple[RecordedRequest, Response | None]:
        """The request recorded in `into` with its JSON body read, or the API's refusal (401, 400)."""
        recorded = await self._record(request, into)
        refused = self._auth(recorded)
        if refused is not None:
            return recorded, refused
        try:
            recorded.body = json.loads(recorded.raw)
        except ValueError:
            return recorded, self._refuse(recorded, ApiError("request body is not valid JSON"))
        return recorded, None

    async def _messages(self, request: Request) -> Response:
        recorded, refused = await self._authorised_json(request, self.requests)
        if refused is not None:
            return refused
        try:
            check_schema(recorded.body, beta=recorded.beta)
            recorded.conversation = self._resolve_thread(recorded.body or {})
            spec = check_rules(recorded.conversation)
        except ApiError as exc:
            return self._refuse(recorded, exc)
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
        return await self._answer(recorded, reply, spec)

    async def _count_tokens(self, request: Request) -> Response:
        recorded, refused = await self._authorised_json(request, self.other_requests)
        if refused is not None:
            return refused
        try:
            validate(recorded.body, beta=recorded.beta, count=True)
        except ApiError as exc:
            return self._refuse(recorded, exc)
        body = recorded.body or {}
        answer = {"input_tokens": _tokens(body.get("tools") or []) + _tokens(body.get("system") or "")
                  + _tokens(body.get("messages"))}
        recorded.status, recorded.response = 200, answer
        return JSONResponse(answer)

    def _resolve_thread(self, body: dict[str, Any]) -> dict[str, Any]:
        """The whole request a thread continuation stands for: the held conversation (its tools, system and
        messages up to the previous answer) plus this turn's messages; any other body as it is."""
        thread = body.get("thread") or {}
        if thread.get("type") != "continue":
            return body
        previous = thread.get("previous_message_id")
        with self._lock:
            held = self._threads.get(str(previous))
        if held is None:
            raise ApiError(f"thread.previous_message_id: no thread holds the message {previous}",
                           status=404, error_type="not_found_error")
        merged = {**held, **{k: v for k, v in body.items() if k not in ("messages", "thread")}}
        merged["messages"] = [*held["messages"], *body["messages"]]
        return merged

    def _hold_thread(self, recorded: RecordedRequest, message: dict[str, Any]) -> None:
        """Keep the conversation under the answer's id when the request asked for a thread."""
        body = recorded.body or {}
        if not (body.get("thread") or {}).get("type") in ("create", "continue"):
            return
        conversation = {k: v for k, v in (recorded.conversation or body).items() if k != "thread"}
        conversation["messages"] = [*conversation["messages"],
                                    {"role": "assistant", "content": message["content"]}]
        with self._lock:
            self._threads[message["id"]] = conversation

    @staticmethod
    def _model_info(spec: catalog.ModelSpec, model_id: str) -> dict[str, Any]:
        return {
            "type": "model", "id": model_id, "display_name": model_id.replace("-", " ").title(),
            "created_at": "2026-01-01T00:00:00Z", "lifecycle": spec.lifecycle,
            "deprecated_at": None if spec.lifecycle == "active" else "2026-01-01T00:00:00Z",
            "max_tokens": spec.max_output, "max_input_tokens": 1_000_000,
        }

    async def _get_model(self, request: Request) -> Response:
        recorded = await self._record(request, self.other_requests)
        refused = self._auth(recorded)
        if refused is not None:
            return refused
        model_id = request.path_params["model_id"]
        try:
            spec = catalog.lookup(model_id)
        except catalog.UnknownModel:
            return self._error(recorded, 404, "not_found_error", f"model: {model_id}")
        info = self._model_info(spec, model_id)
        recorded.status, recorded.response = 200, info
        return JSONResponse(info)

    async def _list_models(self, request: Request) -> Response:
        recorded = await self._record(request, self.other_requests)
        refused = self._auth(recorded)
        if refused is not None:
            return refused
        data = [self._model_info(spec, spec.id) for spec in catalog.MODELS if spec.lifecycle != "retired"]
        page = {"data": data, "first_id": data[0]["id"], "last_id": data[-1]["id"], "has_more": False}
        recorded.status, recorded.response = 200, page
        return JSONResponse(page)

    async def _answer(self, recorded: RecordedRequest, reply: Reply, spec: catalog.ModelSpec) -> Response:
        if isinstance(reply, Slow):
            await asyncio.sleep(reply.seconds)
            return await self._answer(recorded, reply.reply, spec)
        if isinstance(reply, Fault):
            return self._error(recorded, reply.status, reply.error_type, reply.message, retry_after=reply.retry_after)
        body = recorded.body or {}
        if isinstance(reply, Malformed):
            recorded.status = 200
            if body.get("stream"):
                return Response(f"event: message_start\ndata: {reply.body}\n\n", status_code=200,
                                media_type="text/event-stream")
            return Response(reply.body, status_code=200, media_type="application/json")
        conversation = recorded.conversation or body
        structured = bool((conversation.get("output_config") or {}).get("format"))
        if isinstance(reply, ToolUse) and reply.name is None and structured and not conversation.get("tools"):
            reply = reply.input  # bad_tool_input(...) for a structured-output request: the answer itself
        if isinstance(reply, dict):
            reply = Text(json.dumps(reply)) if structured else ToolUse(input=reply)
        elif isinstance(reply, str):
            reply = Text(reply)
        self._counter += 1
        content: list[dict[str, Any]] = []
        if isinstance(reply, ToolUse | ToolCalls):
            calls = reply.calls if isinstance(reply, ToolCalls) else (reply,)
            offered = {str(tool.get("name")) for tool in conversation.get("tools") or []}
            lead = reply.text
            if lead:
                content.append({"type": "text", "text": lead})
            for number, call in enumerate(calls):
                name = call.name or self._forced_tool(conversation)
                if name is None or name not in offered:
                    return self._error(recorded, 500, "api_error",
                                       f"LLM double: a tool_use of {name!r} was scripted but the request offers "
                                       f"{sorted(offered) or 'no tool'}", retry=False)
                if call.text and isinstance(reply, ToolCalls):
                    content.append({"type": "text", "text": call.text})
                content.append({"type": "tool_use", "id": f"toolu_double_{self._counter:04d}_{number}",
                                "name": name, "input": call.input})
            stop_reason = "tool_use"
        else:
            if reply.text or reply.stop_reason != "refusal":
                content.append({"type": "text", "text": reply.text})
            stop_reason = reply.stop_reason
        message = {
            "id": f"msg_double_{self._counter:04d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": self._usage(conversation, content, spec),
        }
        recorded.status = 200
        recorded.response = message
        self._hold_thread(recorded, message)
        if body.get("stream"):
            return StreamingResponse(self._events(message), media_type="text/event-stream",
                                     headers={"request-id": self._request_id()})
        return JSONResponse(message, headers={"request-id": self._request_id()})

    @staticmethod
    async def _events(message: dict[str, Any]) -> AsyncIterator[str]:
        """The message as the API streams it: message_start, per block start/deltas/stop, message_delta, stop."""

        def event(kind: str, data: dict[str, Any]) -> str:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

        usage = message["usage"]
        start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
                 "usage": {**usage, "output_tokens": 1}}
        yield event("message_start", {"message": start})
        yield event("ping", {})
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                yield event("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
                text = block["text"]
                for at in range(0, len(text), 16):
                    yield event("content_block_delta", {"index": index,
                                                        "delta": {"type": "text_delta", "text": text[at:at + 16]}})
            else:
                yield event("content_block_start", {"index": index, "content_block": {**block, "input": {}}})
                partial = json.dumps(block["input"])
                for at in range(0, len(partial), 16):
                    yield event("content_block_delta", {
                        "index": index, "delta": {"type": "input_json_delta", "partial_json": partial[at:at + 16]}})
            yield event("content_block_stop", {"index": index})
        yield event("message_delta", {"delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                                      "usage": {"output_tokens": usage["output_tokens"]}})
        yield event("message_stop", {})

    @staticmethod
    def _forced_tool(body: dict[str, Any]) -> str | None:
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") == "tool":
            return str(choice.get("name"))
        tools = body.get("tools") or []
        return str(tools[0]["name"]) if len(tools) == 1 else None

    def _usage(self, body: dict[str, Any], content: list[dict[str, Any]], spec: catalog.ModelSpec) -> dict[str, Any]:
        """Usage like the real API: the longest cached prefix at a breakpoint is read, the prefix at the last
        breakpoint is written; a prefix below the model's caching minimum is neither."""
        flat = _flat_blocks(body)
        total = _tokens(body.get("tools") or []) + _tokens(body.get("system") or "") + _tokens(body.get("messages"))
        eligible: list[tuple[str, int, str]] = []  # (key, size, ttl) of breakpoints long enough to cache
        for position, control in _breakpoints(body):
            prefix = flat[:position]
            size = _tokens(prefix)
            if size >= spec.cache_minimum:
                key = hashlib.sha256(json.dumps([spec.id, prefix], sort_keys=True).encode()).hexdigest()
                eligible.append((key, size, str(control.get("ttl") or "5m")))
        read = creation = 0
        ttl = "5m"
        with self._lock:
            hits = [size for key, size, _ in eligible if key in self._cached_prefixes]
            read = max(hits, default=0)
            if eligible:
                key, size, ttl = eligible[-1]
                if key not in self._cached_prefixes:
                    self._cached_prefixes.add(key)
                    creation = max(0, size - read)
        return {
            "input_tokens": max(1, total - creation - read),
            "output_tokens": _tokens(content),
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
            "cache_creation": {"ephemeral_5m_input_tokens": creation if ttl == "5m" else 0,
                               "ephemeral_1h_input_tokens": creation if ttl == "1h" else 0},
        }

    def _refuse(self, recorded: RecordedRequest, exc: ApiError) -> Response:
        with self._lock:
            self.refused.append(recorded)
        return self._error(recorded, exc.status, exc.error_type, str(exc))

    def _request_id(self) -> str:
        return f"req_double_{len(self.requests) + len(self.other_requests):04d}"

    def _error(self, recorded: RecordedRequest, status: int, error_type: str, message: str, *,
               retry_after: float | None = None, retry: bool | None = None) -> Response:
        request_id = self._request_id()
        payload = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}
        recorded.status = status
        recorded.response = payload
        headers: dict[str, str] = {"request-id": request_id}
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        if retry is not None:
            headers["x-should-retry"] = "true" if retry else "false"
        return JSONResponse(payload, status_code=status, headers=headers)
