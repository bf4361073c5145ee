"""Where Bedrock calls are caught, and what each of the four operations hands back.

botocore builds one client class per ``create_client`` call (``ClientCreator._create_client_class``)
and gives it one method per API operation. We wrap that factory and, only when the service is
``bedrock-runtime``, wrap the class's ``converse``, ``converse_stream``, ``invoke_model`` and
``invoke_model_with_response_stream``: S3, DynamoDB and every other client are built and called
exactly as without us (one string comparison per client *creation*, nothing per call), and other
bedrock-runtime operations (``apply_guardrail``, ``count_tokens`` ...) are untouched.

A client built while instrumented keeps its wrapped methods after ``uninstrument()``; they check
the instrumentor's flag and step aside. Clients built before ``instrument()`` are not traced.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import wrapt
from opentelemetry.trace import Tracer

from genai_cost import attributes as attr
from genai_cost import runtime
from genai_cost.budget.estimate import IMAGE_TOKENS, MESSAGE_OVERHEAD_TOKENS, count_input_tokens, count_text_tokens
from genai_cost.instrumentation.budget_hook import BudgetAsk
from genai_cost.instrumentation import lifecycle
from genai_cost.instrumentation.base import Patch
from genai_cost.instrumentation.bedrock import content
from genai_cost.instrumentation.bedrock.models import family_of
from genai_cost.instrumentation.bedrock.results import (
    Tally,
    converse_result,
    headers_of,
    read_document,
    read_headers,
    request_id_of,
)
from genai_cost.instrumentation.bedrock.streams import ConverseStreamObserver, InvokeStreamObserver
from genai_cost.instrumentation.lifecycle import GenAICall, log_once

PROVIDER_NAME = "aws.bedrock"
SERVICE_NAME = "bedrock-runtime"

Enabled = Callable[[], bool]


# --- requests ------------------------------------------------------------------------------------

_INFERENCE_CONFIG = (
    ("maxTokens", attr.REQUEST_MAX_TOKENS),
    ("temperature", attr.REQUEST_TEMPERATURE),
    ("topP", attr.REQUEST_TOP_P),
    ("stopSequences", attr.REQUEST_STOP_SEQUENCES),
)

_servers: dict[str, tuple[str | None, int | None]] = {}


def server_of(client: Any) -> tuple[str | None, int | None]:
    """(address, port) of the client's endpoint; memoised, as a client's endpoint never changes."""
    url = client.meta.endpoint_url
    found = _servers.get(url)
    if found is None:
        parts = urlsplit(url)
        found = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        if len(_servers) < 256:
            _servers[url] = found
    return found


def _converse_attributes(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    config = kwargs.get("inferenceConfig")
    if not isinstance(config, dict):
        return {}
    out: dict[str, Any] = {}
    for key, name in _INFERENCE_CONFIG:
        value = config.get(key)
        if value is not None:
            out[name] = tuple(value) if isinstance(value, list) else value
    return out


def _operation_of(model: str) -> str:
    return "embeddings" if "embed" in model else "chat"


# Each family's name for the output cap in an InvokeModel body (Nova and Titan nest it).
_MAX_OUTPUT_KEYS = ("max_tokens", "max_gen_len", "max_new_tokens", "maxTokens", "maxTokenCount")


def _max_output_of(body: Mapping[str, Any]) -> int | None:
    for config in (body, body.get("inferenceConfig"), body.get("textGenerationConfig")):
        if isinstance(config, dict):
            for key in _MAX_OUTPUT_KEYS:
                value = config.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    return value
    return None


# Converse content blocks that carry bytes: counted as a fixed size, never by their length.
_BINARY_BLOCKS = ("image", "document", "video", "audio")


def _converse_input_tokens(kwargs: Mapping[str, Any]) -> int:
    """The guard's count of a Converse request: text blocks directly (the common case, on every
    budgeted call), bytes-carrying blocks at a fixed size, anything else through the generic count."""
    blocks = list(kwargs.get("system") or ())
    for message in kwargs.get("messages") or ():
        if isinstance(message, dict):
            blocks.extend(message.get("content") or ())
    total = 0
    for block in blocks:
        text = block.get("text") if isinstance(block, dict) else None
        if isinstance(text, str):
            total += count_text_tokens(text) + MESSAGE_OVERHEAD_TOKENS
        elif isinstance(block, dict) and any(key in block for key in _BINARY_BLOCKS):
            total += IMAGE_TOKENS
        else:
            total += count_input_tokens(block)
    return total


def budget_ask(operation: Operation, kwargs: dict[str, Any]) -> Callable[[], BudgetAsk]:
    """The guard's view of the request, built only when budgets are configured. A downgrade
    replaces ``modelId``; for ``invoke_model`` only with a model that reads the same body."""

    def swap(model: str) -> None:
        kwargs["modelId"] = model

    def ask() -> BudgetAsk:
        if operation.converse:
            # Output: inferenceConfig.maxTokens, which the guard reads from the span's attributes.
            return BudgetAsk(_converse_input_tokens(kwargs), None, swap)
        raw = kwargs.get("body")
        try:
            body = json.loads(raw) if isinstance(raw, str | bytes | bytearray) else None
        except ValueError:
            body = None
        if not isinstance(body, dict):  # a file-like body is not read ahead of the SDK
            return BudgetAsk(0, None, None)
        model = str(kwargs.get("modelId") or "")
        family = family_of(model)
        output = 0 if _operation_of(model) == "embeddings" else _max_output_of(body)

        def swap_same_family(cheaper: str) -> bool:
            if family is None or family_of(cheaper) != family:
                return False  # the body would not parse for the other model: the call goes as made
            swap(cheaper)
            return True

        return BudgetAsk(count_input_tokens(body), output, swap_same_family)

    return ask


# --- responses -----------------------------------------------------------------------------------


def _finish_converse(call: GenAICall, response: Any) -> Any:
    result = converse_result(response)
    if lifecycle.capture_message_content():
        message = (response.get("output") or {}).get("message")
        result.attributes.update(content.output_attributes(message, response.get("stopReason")))
    call.set_result(result)
    call.end()
    return response


def _finish_invoke(call: GenAICall, response: Any) -> Any:
    tally = Tally()
    read_headers(tally, headers_of(response))
    if response.get("body") is not None and "json" in (response.get("contentType") or ""):
        # The body is one JSON document the caller will read whole: read it here (usage and
        # cache counts are in it) and hand over an identical, unread body.
        from genai_cost.instrumentation.bedrock.bodies import read_ahead

        data, error = read_ahead(response)
        if data is not None:
            read_document(tally, json.loads(data))
        elif error is not None:
            call.fail(error)
    call.set_result(tally.result(request_id_of(response)))
    call.end()
    return response


def _finish_converse_stream(call: GenAICall, response: Any) -> Any:
    stream = response["stream"]
    observer = ConverseStreamObserver(request_id_of(response), capture=lifecycle.capture_message_content())
    response["stream"] = lifecycle.SyncStream(stream, call, observer)
    return response


def _finish_invoke_stream(call: GenAICall, response: Any) -> Any:
    stream = response["body"]
    response["body"] = lifecycle.SyncStream(stream, call, InvokeStreamObserver(request_id_of(response)))
    return response


def describe_error(error: BaseException) -> dict[str, Any]:
    """error.type users can catch (the error factory's classes are not importable) and the code."""
    from botocore.exceptions import ClientError  # loaded: botocore raised it

    if not isinstance(error, ClientError):
        return {}
    out: dict[str, Any] = {}
    if type(error).__module__ == "botocore.errorfactory":
        out[attr.ERROR_TYPE] = "botocore.exceptions.ClientError"
    response = error.response if isinstance(error.response, dict) else {}
    code = (response.get("Error") or {}).get("Code")
    if code:
        out[attr.AWS_ERROR_CODE] = code
    request_id = request_id_of(response)
    if request_id:
        out[attr.AWS_REQUEST_ID] = request_id
    return out


# --- the four operations --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    stream: bool
    finish: Callable[[GenAICall, Any], Any]
    converse: bool


OPERATIONS = (
    Operation("converse", False, _finish_converse, converse=True),
    Operation("converse_stream", True, _finish_converse_stream, converse=True),
    Operation("invoke_model", False, _finish_invoke, converse=False),
    Operation("invoke_model_with_response_stream", True, _finish_invoke_stream, converse=False),
)


def _start(tracer: Tracer, operation: Operation, client: Any, kwargs: dict[str, Any]) -> Callable[[], GenAICall]:
    def start() -> GenAICall:
        model = kwargs.get("modelId")
        model = model if isinstance(model, str) else None
        request = _converse_attributes(kwargs) if operation.converse else {}
        if operation.converse and lifecycle.capture_message_content():
            request.update(content.input_attributes(kwargs))
        if operation.stream:
            request[attr.REQUEST_STREAM] = True
        address, port = server_of(client)
        call = GenAICall(
            tracer,
            operation="chat" if operation.converse or model is None else _operation_of(model),
            provider_name=PROVIDER_NAME,
            request_model=model,
            server_address=address,
            server_port=port,
            request_attributes=request,
        )
        call.describe_error = describe_error
        if runtime.budget_guard is not None:
            call.ask_budget = budget_ask(operation, kwargs)
        return call

    return start


def method_wrapper(tracer: Tracer, operation: Operation, enabled: Enabled) -> Callable[..., Any]:
    finish = operation.finish

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not enabled():
            return wrapped(*args, **kwargs)
        return lifecycle.invoke(_start(tracer, operation, instance, kwargs), wrapped, args, kwargs, finish)

    return wrapper


def client_class_wrapper(tracer: Tracer, enabled: Enabled) -> Callable[..., Any]:
    methods = [(op.method, method_wrapper(tracer, op, enabled)) for op in OPERATIONS]

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        cls = wrapped(*args, **kwargs)
        service_name = args[0] if args else kwargs.get("service_name")
        if service_name != SERVICE_NAME or not enabled():
            return cls
        try:
            for name, method in methods:
                original = cls.__dict__.get(name)
                if original is not None:  # an older botocore without Converse has fewer methods
                    setattr(cls, name, wrapt.FunctionWrapper(original, method))
        except Exception:
            log_once("wrapping a bedrock-runtime client class")
        return cls

    return wrapper


def patches(enabled: Enabled) -> list[Patch]:
    # Lazy: an app with botocore installed but no AWS calls does not pay for importing it; one
    # that imports boto3 gets the patch before it can build a client.
    return [
        Patch(
            "botocore.client",
            "ClientCreator._create_client_class",
            lambda tracer: client_class_wrapper(tracer, enabled),
            lazy=True,
        )
    ]
