"""Observers of the two Bedrock streams, for ``lifecycle.SyncStream``.

botocore decodes the eventstream framing and hands out one dict per event: ConverseStream's
``{"metadata": {"usage": ...}}`` style events, and InvokeModelWithResponseStream's
``{"chunk": {"bytes": b"<the model's JSON>"}}``. Nothing is withheld from the caller.
"""

from __future__ import annotations

import json
from typing import Any

from genai_cost.instrumentation.bedrock import content
from genai_cost.instrumentation.bedrock.results import Tally, read_converse_usage, read_document
from genai_cost.instrumentation.lifecycle import CallResult


class _Observer:
    __slots__ = ("tally", "request_id")

    def __init__(self, request_id: str | None) -> None:
        self.tally = Tally()
        self.request_id = request_id

    def result(self) -> CallResult:
        return self.tally.result(self.request_id)


class ConverseStreamObserver(_Observer):
    __slots__ = ("texts",)

    def __init__(self, request_id: str | None, capture: bool = False) -> None:
        super().__init__(request_id)
        # The reply's text, kept only when the user opted in to content capture.
        self.texts: list[str] | None = [] if capture else None

    def observe(self, event: Any) -> bool:
        # Usage comes once, in the last event; most events are text deltas.
        delta = event.get("contentBlockDelta")
        if delta is not None:
            if self.texts is not None:
                text = (delta.get("delta") or {}).get("text")
                if isinstance(text, str):
                    self.texts.append(text)
            return True
        metadata = event.get("metadata")
        if metadata is not None:
            read_converse_usage(self.tally, metadata.get("usage"))
        stop = event.get("messageStop")
        if stop is not None:
            self.tally.finish(stop.get("stopReason"))
        return True

    def result(self) -> CallResult:
        result = super().result()
        if self.texts is not None:
            finish = self.tally.finish_reasons[0] if self.tally.finish_reasons else None
            result.attributes.update(content.streamed_output_attributes(self.texts, finish))
        return result


class InvokeStreamObserver(_Observer):
    __slots__ = ()

    def observe(self, event: Any) -> bool:
        chunk = event.get("chunk")
        if chunk is not None:
            data = chunk.get("bytes")
            # Anthropic's and Nova's text deltas (most chunks) carry no counts: skip parsing them
            # -- unless Bedrock added its own keys: a guardrail that intervened sends its text as a
            # delta that also carries the final invocation metrics, the only output count there is.
            # (The markers cannot occur inside a JSON string, where quotes are escaped.)
            if data and (not data.startswith(_TEXT_DELTAS) or _BEDROCK_KEYS in data):
                # Other families' counts ride in every chunk (Llama's, Titan's): parse them, so a
                # stream that stops early still reports what it had used.
                read_document(self.tally, json.loads(data))
        return True


_TEXT_DELTAS = (b'{"type":"content_block_delta"', b'{"contentBlockDelta"')
_BEDROCK_KEYS = b'"amazon-bedrock-'  # invocation metrics, guardrail action and trace
