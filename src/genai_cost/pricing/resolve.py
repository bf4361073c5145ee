"""How spans name providers and models, mapped onto the price catalog's names.

Spans say ``gen_ai.provider.name=aws.bedrock`` and ``gen_ai.request.model=arn:aws:bedrock:...``;
genai-prices says provider ``aws`` and model ``us.anthropic.claude-...``. These functions are pure
and cheap; the catalog memoises their results.
"""

from __future__ import annotations

import re

# Semantic-convention provider names (and the older gen_ai.system spellings seen in the wild,
# lower-cased) -> genai-prices provider ids.
_PROVIDER_IDS = {
    "openai": "openai",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.openai": "azure",
    "az.ai.inference": "azure",
    "azure": "azure",
    "azure_openai": "azure",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "aws_bedrock": "aws",
    "bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "vertex_ai": "google",
    "google": "google",
    "gemini": "google",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "mistral": "mistral",
    "cohere": "cohere",
    "groq": "groq",
    "deepseek": "deepseek",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "perplexity": "perplexity",
    "together": "together",
    "together_ai": "together",
    "togetherai": "together",
    "fireworks": "fireworks",
    "fireworks_ai": "fireworks",
    "openrouter": "openrouter",
    "cerebras": "cerebras",
    "novita": "novita",
    "moonshot": "moonshotai",
    "moonshotai": "moonshotai",
}

# Hosts whose calls are priced by model alone would be wrong to guess: a local server runs the
# user's own weights, so it is priced only by an override (or reported as unknown).
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "host.docker.internal"})


def provider_id_for_name(provider_name: str | None) -> str | None:
    if not provider_name:
        return None
    name = provider_name.strip().lower()
    return _PROVIDER_IDS.get(name, name)


def api_url_for_address(server_address: str | None) -> str | None:
    """A URL genai-prices can match its providers' ``api_pattern`` against."""
    if not server_address or server_address in LOCAL_HOSTS:
        return None
    return f"https://{server_address}/"


_ARN_PREFIX = re.compile(r"^arn:aws[\w-]*:bedrock:[^:]*:[^:]*:(?:inference-profile|foundation-model|[\w-]+)/")
_BEDROCK_REGION_PREFIX = re.compile(r"^(?:us|eu|apac|ap|us-gov|ca|jp|au|global)\.(?=[a-z]+\.)")
_VERTEX_VERSION = re.compile(r"@(\d{8})$")
_VERTEX_ANY_VERSION = re.compile(r"@[\w.-]+$")


def model_ref_candidates(model: str) -> list[str]:
    """Spellings of ``model`` to try in order, most specific first (the first is ``model``)."""
    candidates = [model]

    def add(ref: str) -> None:
        if ref and ref not in candidates:
            candidates.append(ref)

    ref = model.strip()
    add(ref)
    if ref.startswith("models/"):  # Gemini REST resource names
        ref = ref.removeprefix("models/")
        add(ref)
    if ref.startswith("arn:"):  # Bedrock inference-profile / foundation-model ARNs
        ref = _ARN_PREFIX.sub("", ref)
        add(ref)
    if _BEDROCK_REGION_PREFIX.match(ref):  # cross-region inference profiles
        add(_BEDROCK_REGION_PREFIX.sub("", ref))
    if "@" in ref:  # Vertex: claude-3-5-sonnet-v2@20241022, gemini-1.5-pro@002
        add(_VERTEX_VERSION.sub(r"-\1", ref))
        add(_VERTEX_ANY_VERSION.sub("", ref))
    if ref.startswith("ft:"):  # OpenAI fine-tunes: ft:<base>:<org>:<suffix>:<id>
        add("ft:" + ref[3:].split(":", 1)[0])
    if "/" in ref:  # OpenRouter / LiteLLM style "<vendor>/<model>"
        add(ref.split("/", 1)[1])
    return candidates


def vendor_prefix(model: str) -> str | None:
    """``openai`` for ``openai/gpt-4o``: the provider an OpenRouter-style ref names."""
    if "/" in model and not model.startswith(("arn:", "models/")):
        return model.split("/", 1)[0]
    return None
