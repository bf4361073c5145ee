"""InvokeModel response bodies, read ahead of the caller and handed back unread.

Kept apart from ``wrappers`` so that instrumenting imports no botocore module: this one is
imported on the first ``invoke_model`` call, when botocore is loaded anyway.
"""

from __future__ import annotations

import io
from typing import Any

from botocore.response import StreamingBody


class _UnreadableBody(StreamingBody):  # type: ignore[misc]
    """The body of a response whose bytes failed to arrive: reading it raises the error the
    caller would have got reading the original."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(io.BytesIO(b""), 0)
        self._error = error

    def read(self, amt: int | None = None) -> bytes:
        raise self._error


def read_ahead(response: dict[str, Any]) -> tuple[bytes | None, BaseException | None]:
    """Read ``response["body"]`` and put an identical unread body in its place: (the bytes, or
    None with the error reading raised, which the new body raises again when read)."""
    try:
        data = response["body"].read()
    except Exception as error:
        response["body"] = _UnreadableBody(error)
        return None, error
    response["body"] = StreamingBody(io.BytesIO(data), len(data))
    return data, None
