"""The one JSON spelling of captured prompts and completions, for every instrumentation."""

from __future__ import annotations

import json
from typing import Any


def to_json(value: Any) -> str:
    """Compact JSON, text kept as written (no ``\\u`` escapes); what JSON cannot hold becomes its str()."""
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
