"""Which body format a Bedrock model id speaks, for the cases that depend on it (a budget
downgrade of ``invoke_model`` may only swap to a model that reads the same body)."""

from __future__ import annotations

_FAMILIES = (
    ("anthropic.", "anthropic"),
    ("meta.", "meta"),
    ("amazon.nova", "nova"),
    ("amazon.titan", "titan"),
    ("mistral.", "mistral"),
    ("cohere.", "cohere"),
)


def family_of(model_id: str) -> str | None:
    """anthropic, meta, nova, titan, mistral or cohere; None for an id that does not say
    (an application-inference-profile or provisioned-model ARN)."""
    ref = model_id.rsplit("/", 1)[-1]
    for marker, family in _FAMILIES:
        if marker in ref:
            return family
    return None
