"""What the OpenAI-compatible provider SDKs share (groq, together): Stainless-generated clients
whose ``chat.completions.create``, ``completions.create`` and ``embeddings.create`` take the OpenAI
request, answer with OpenAI-shaped documents, and stream with the SDK's own ``Stream`` /
``AsyncStream``. A provider module names its provider and methods, and says where its streams keep
what OpenAI's do not (Groq's usage in ``x_groq``, Together's ``finish_reason`` on legacy chunks).

Each wrapper describes the request, then hands the SDK call to ``lifecycle.invoke`` / ``ainvoke``:
span, errors, budgets and pricing live there. The result is a whole response, a stream (proxied so
the span ends however it ends), or a raw HTTP response (``with_raw_response``: its JSON is read from
the bytes the SDK already holds; a body still unread belongs to the caller).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import Tracer

from genai_cost import attributes as attr
from genai_cost.attributes import Status
from genai_cost.budget.estimate import count_input_tokens
from genai_cost.instrumentation.budget_hook import BudgetAsk
from genai_cost.instrumentation import lifecycle
from genai_cost.instrumentation._chat_shape import ChunkReader, output_messages, read_choices, request_messages
from genai_cost.instrumentation._read import get, given, put_given, read_usage
from genai_cost.instrumentation._server import Server, server_from_base_url
from genai_cost.instrumentation.lifecycle import CallResult, GenAICall, log_once
from genai_cost.usage import TokenUsage

CHAT = "chat"
TEXT_COMPLETION = "text_completion"
EMBEDDINGS = "embeddings"
RAW_RESPONSE_HEADER = "x-stainless-raw-response"


def server_of(resource: Any, provider: str) -> Server:
    """The endpoint behind an SDK resource (``client.chat.completions`` ...)."""
    return server_from_base_url(provider, getattr(getattr(resource, "_client", None), "base_url", None))


@dataclass(slots=True)
class Request:
    """One call as the caller made it: what the span starts with, and what streams need later."""

    operation: str
    model: str | None
    kwargs: Mapping[str, Any]
    attributes: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    # with_raw_response / with_streaming_response: the caller reads the body itself.
    raw: bool = False
    capture_content: bool = False


def _raw(kwargs: Mapping[str, Any]) -> bool:
    headers = given(kwargs.get("extra_headers"))
    return isinstance(headers, Mapping) and any(
        isinstance(key, str) and key.lower() == RAW_RESPONSE_HEADER for key in headers
    )


def describe(operation: str, kwargs: Mapping[str, Any], capture: bool) -> Request:
    """Any wrapped ``create``: chat and legacy completions, embeddings."""
    model = given(kwargs.get("model"))
    stream = given(kwargs.get("stream")) is True
    request = Request(
        operation,
        model if isinstance(model, str) and model else None,
        kwargs,
        stream=stream,
        raw=_raw(kwargs),
        capture_content=capture and operation != EMBEDDINGS,
    )
    attributes = request.attributes
    if stream:
        attributes[attr.REQUEST_STREAM] = True
    max_tokens = given(kwargs.get("max_completion_tokens"))
    put_given(attributes, attr.REQUEST_MAX_TOKENS, kwargs.get("max_tokens") if max_tokens is None else max_tokens, int)
    put_given(attributes, attr.REQUEST_TEMPERATURE, kwargs.get("temperature"), (int, float))
    put_given(attributes, attr.REQUEST_TOP_P, kwargs.get("top_p"), (int, float))
    put_given(attributes, attr.REQUEST_TOP_K, kwargs.get("top_k"), int)
    put_given(attributes, attr.REQUEST_SEED, kwargs.get("seed"), int)
    put_given(attributes, attr.REQUEST_PRESENCE_PENALTY, kwargs.get("presence_penalty"), (int, float))
    put_given(attributes, attr.REQUEST_FREQUENCY_PENALTY, kwargs.get("frequency_penalty"), (int, float))
    n = given(kwargs.get("n"))
    if isinstance(n, int) and not isinstance(n, bool) and n != 1:
        attributes[attr.REQUEST_CHOICE_COUNT] = n
    stop = given(kwargs.get("stop"))
    if isinstance(stop, str):
        attributes[attr.REQUEST_STOP_SEQUENCES] = [stop]
    elif isinstance(stop, list | tuple) and stop and all(isinstance(s, str) for s in stop):
        attributes[attr.REQUEST_STOP_SEQUENCES] = list(stop)
    encoding = given(kwargs.get("encoding_format"))
    if operation == EMBEDDINGS and isinstance(encoding, str):
        attributes[attr.REQUEST_ENCODING_FORMATS] = [encoding]
    if request.capture_content:
        messages = given(kwargs.get("messages"))
        if messages is None:  # a legacy completion's prompt
            prompt = given(kwargs.get("prompt"))
            messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else []
        request_messages(messages, attributes)
    return request


def budget_input_tokens(kwargs: Mapping[str, Any]) -> int:
    """The request's input, counted offline and conservatively (``budget.estimate``): messages and
    tool definitions, a prompt, or the texts to embed."""
    parts = (given(kwargs.get(name)) for name in ("messages", "tools", "prompt", "input"))
    return sum(count_input_tokens(part) for part in parts if part is not None)


# --- results -----------------------------------------------------------------------------------


def token_usage(usage: Any) -> TokenUsage | None:
    """An OpenAI-style usage (object or dict) -> TokenUsage; None when absent. ``prompt_tokens``
    includes a cached prefix and ``completion_tokens`` reasoning, each detailed where reported."""
    if usage is None:
        return None
    prompt_details = get(usage, "prompt_tokens_details")
    completion_details = get(usage, "completion_tokens_details")
    return TokenUsage(
        input_tokens=get(usage, "prompt_tokens") or 0,
        output_tokens=get(usage, "completion_tokens") or 0,
        cache_read_tokens=(get(prompt_details, "cached_tokens") or 0) if prompt_details is not None else 0,
        reasoning_tokens=(get(completion_details, "reasoning_tokens") or 0) if completion_details is not None else 0,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def completion_result(
    capture: bool,
    *,
    model: Any,
    response_id: Any,
    finish_reasons: tuple[str, ...],
    usage: Any,
    choices: list[Any] | None,
) -> CallResult:
    """A chat or legacy completion, whole or as a stream assembled it so far (its output messages
    only with content ``capture`` on). Also Mistral's, whose usage is OpenAI-shaped."""
    token_counts, status = read_usage(token_usage, usage)
    result = CallResult(
        response_model=_text(model),
        response_id=_text(response_id),
        finish_reasons=finish_reasons,
        usage=token_counts,
        status=status,
    )
    if capture and choices is not None:
        result.attributes[attr.OUTPUT_MESSAGES] = output_messages(choices)
    return result


def response_result(response: Any, request: Request) -> CallResult:
    """A whole response (or its JSON, for raw responses)."""
    if request.operation == EMBEDDINGS:
        token_counts, status = read_usage(token_usage, get(response, "usage"))
        if token_counts is None and status is None:
            status = (Status.NO_USAGE, "the embeddings response reports no usage")
        result = CallResult(response_model=_text(get(response, "model")), usage=token_counts, status=status)
        data = get(response, "data") or ()
        vector = get(data[0], "embedding") if data else None
        if isinstance(vector, list) and vector:
            result.attributes[attr.EMBEDDINGS_DIMENSION_COUNT] = len(vector)
        return result
    legacy = request.operation == TEXT_COMPLETION
    finishes, choices = read_choices(response, request.capture_content and not legacy)
    if legacy and request.capture_content:
        choices = [
            ("assistant", _completion_text(choice), get(choice, "finish_reason"))
            for choice in get(response, "choices") or ()
        ]
    return completion_result(
        request.capture_content,
        model=get(response, "model"),
        response_id=get(response, "id"),
        finish_reasons=finishes,
        usage=get(response, "usage"),
        choices=choices,
    )


def _completion_text(choice: Any) -> list[dict[str, Any]]:
    text = get(choice, "text")
    return [{"type": "text", "content": text}] if isinstance(text, str) and text else []


# --- streams -----------------------------------------------------------------------------------


class ChunkObserver:
    """A ``lifecycle.StreamObserver`` over OpenAI-shaped chunks; ``extra(chunk, observer)`` lets a
    provider read what its chunks carry beyond OpenAI's (it may set ``usage`` / ``finish``)."""

    __slots__ = ("request", "chunks", "extra", "usage", "finish", "text")

    def __init__(self, request: Request, extra: Callable[[Any, ChunkObserver], None] | None = None) -> None:
        self.request = request
        self.chunks = ChunkReader(request.capture_content)
        self.extra = extra
        self.usage: Any = None  # a provider's own usage, when the chunk's usage field is empty
        self.finish: str | None = None  # a finish reason outside the choices (legacy completions)
        self.text: list[str] | None = [] if request.capture_content and request.operation == TEXT_COMPLETION else None

    def observe(self, chunk: Any) -> bool:
        self.chunks.read(chunk)
        if self.text is not None:
            for choice in get(chunk, "choices") or ():
                piece = get(choice, "text")
                if isinstance(piece, str) and not get(choice, "index"):
                    self.text.append(piece)
        if self.extra is not None:
            self.extra(chunk, self)
        return True

    def result(self) -> CallResult:
        chunks = self.chunks
        finishes = chunks.finish_reasons or ((self.finish,) if self.finish else ())
        choices = chunks.choices()
        if self.text is not None:
            text = "".join(self.text)
            choices = [
                ("assistant", [{"type": "text", "content": text}] if text else [], finishes[0] if finishes else None)
            ]
        return completion_result(
            self.request.capture_content,
            model=chunks.model,
            response_id=chunks.response_id,
            finish_reasons=finishes,
            usage=chunks.usage if chunks.usage is not None else self.usage,
            choices=choices,
        )


# --- wrappers ----------------------------------------------------------------------------------

Enabled = Callable[[], bool]
StreamExtra = Callable[[Any, ChunkObserver], None] | None


class Invocation:
    """One wrapped SDK call: its request, its span, and what the caller gets back."""

    __slots__ = ("tracer", "request", "server", "extra", "model_override")

    def __init__(self, tracer: Tracer, request: Request, server: Server, extra: StreamExtra) -> None:
        self.tracer = tracer
        self.request = request
        self.server = server
        self.extra = extra
        self.model_override: str | None = None  # the model a budget downgrade chose

    def start(self) -> GenAICall:
        call = GenAICall.described(self.tracer, self.request, self.server)
        call.ask_budget = self.budget_ask
        return call

    def budget_ask(self) -> BudgetAsk:
        output = 0 if self.request.operation == EMBEDDINGS else None  # None: max_tokens, from the span
        return BudgetAsk(budget_input_tokens(self.request.kwargs), output, self.swap_model)

    def swap_model(self, model: str) -> None:
        self.model_override = model

    def finish(self, call: GenAICall, result: Any) -> Any:
        request = self.request
        if request.raw:
            call.set_result(self._raw_result(result))
        elif request.stream:
            observer = ChunkObserver(request, self.extra)
            if hasattr(result, "__anext__"):
                return lifecycle.AsyncStream(result, call, observer)
            return lifecycle.SyncStream(result, call, observer)
        else:
            call.set_result(response_result(result, request))
        call.end()
        return result

    def _raw_result(self, response: Any) -> CallResult:
        http = getattr(response, "http_response", None)
        if http is not None and http.is_closed and not self.request.stream:
            return response_result(http.json(), self.request)
        return CallResult(status=(Status.NO_USAGE, "the caller reads the raw response body itself"))


@dataclass(frozen=True, slots=True)
class Provider:
    """A compatible SDK: its ``gen_ai.provider.name`` and what its stream chunks add."""

    name: str
    stream_extra: StreamExtra = None


def _invocation(tracer: Tracer, provider: Provider, operation: str, instance: Any, kwargs: dict[str, Any]) -> Any:
    try:
        request = describe(operation, kwargs, lifecycle.capture_message_content())
        return Invocation(tracer, request, server_of(instance, provider.name), provider.stream_extra)
    except Exception:
        log_once(f"describing a {provider.name} request")
        return None


def sync_call(tracer: Tracer, provider: Provider, operation: str, enabled: Enabled) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _invocation(tracer, provider, operation, instance, kwargs) if enabled() else None
        if invocation is None:
            return wrapped(*args, **kwargs)
        run = lifecycle.with_model_override(invocation, wrapped)
        return lifecycle.invoke(invocation.start, run, args, kwargs, invocation.finish)

    return wrapper


def async_call(tracer: Tracer, provider: Provider, operation: str, enabled: Enabled) -> Callable[..., Any]:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _invocation(tracer, provider, operation, instance, kwargs) if enabled() else None
        if invocation is None:
            return await wrapped(*args, **kwargs)
        run = lifecycle.with_model_override(invocation, wrapped)
        return await lifecycle.ainvoke(invocation.start, run, args, kwargs, invocation.finish)

    return wrapper
