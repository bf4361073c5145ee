"""Normalised token usage of one provider call.

Every provider reports usage differently (OpenAI counts cached tokens inside ``prompt_tokens``,
Anthropic reports ``input_tokens`` *excluding* cache reads and writes, some SDKs nest details, some
omit them). Instrumentations and the span reader convert to this one shape, which uses the
semantic-convention meaning: ``input_tokens`` includes cache reads and writes, ``output_tokens``
includes reasoning. Pricing and metrics only ever see this shape.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from genai_cost import plausibility


class InvalidUsage(ValueError):
    """Usage numbers that cannot describe a real call (negative, above the plausible bound of
    ``plausibility.max_usage_tokens``, not integers, or parts larger than the whole)."""


@dataclass(slots=True)
class TokenUsage:
    """Token counts of one call. Treat as immutable (not frozen: frozen dataclasses are slow to
    build, and one is built per call)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    # The share of cache_write_tokens written with a 5-minute / 1-hour TTL, where the provider
    # says (Anthropic). Their sum never exceeds cache_write_tokens.
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0
    input_audio_tokens: int = 0
    output_audio_tokens: int = 0
    input_image_tokens: int = 0
    output_image_tokens: int = 0
    # Hosted tool calls billed per call (OpenAI web search, Anthropic server tools ...).
    web_searches: int = 0
    code_executions: int = 0
    # Modalities Gemini bills at their own rates (video in and out, cached audio).
    input_video_tokens: int = 0
    output_video_tokens: int = 0
    cache_audio_read_tokens: int = 0
    # Searches billed per unit (Cohere's rerank "search units": a query over up to 100 documents).
    rerank_searches: int = 0

    def __post_init__(self) -> None:
        # One cheap combined check on the hot path; the detailed diagnosis runs only on failure.
        try:
            ok = (
                min(
                    self.input_tokens,
                    self.output_tokens,
                    self.cache_read_tokens,
                    self.cache_write_tokens,
                    self.cache_write_5m_tokens,
                    self.cache_write_1h_tokens,
                    self.reasoning_tokens,
                    self.input_audio_tokens,
                    self.output_audio_tokens,
                    self.input_image_tokens,
                    self.output_image_tokens,
                    self.web_searches,
                    self.code_executions,
                    self.input_video_tokens,
                    self.output_video_tokens,
                    self.cache_audio_read_tokens,
                    self.rerank_searches,
                )
                >= 0
                and self.cache_read_tokens + self.cache_write_tokens <= self.input_tokens
                and self.cache_write_5m_tokens + self.cache_write_1h_tokens <= self.cache_write_tokens
                and self.reasoning_tokens <= self.output_tokens
                and self.input_audio_tokens + self.input_image_tokens + self.input_video_tokens <= self.input_tokens
                and self.output_audio_tokens + self.output_image_tokens + self.output_video_tokens <= self.output_tokens
                and self.cache_audio_read_tokens <= self.cache_read_tokens
                # Every other count is bounded by one of these through the checks above.
                and max(
                    self.input_tokens, self.output_tokens, self.web_searches, self.code_executions, self.rerank_searches
                )
                <= plausibility.max_usage_tokens
            )
        except TypeError:
            ok = False
        if not ok or type(self.input_tokens) is not int or type(self.output_tokens) is not int:
            self._diagnose()

    def _diagnose(self) -> None:
        for name in _FIELD_NAMES:
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise InvalidUsage(f"{name} must be a non-negative integer, got {value!r}")
            if value > plausibility.max_usage_tokens:
                raise InvalidUsage(
                    f"{name} = {value} is above the plausible bound for one call "
                    f"({plausibility.max_usage_tokens}; GENAI_COST_MAX_USAGE_TOKENS)"
                )
        if self.cache_read_tokens + self.cache_write_tokens > self.input_tokens:
            raise InvalidUsage(
                f"cache reads ({self.cache_read_tokens}) plus cache writes ({self.cache_write_tokens}) "
                f"exceed input_tokens ({self.input_tokens}); input_tokens must include cached tokens"
            )
        if self.cache_write_5m_tokens + self.cache_write_1h_tokens > self.cache_write_tokens:
            raise InvalidUsage(
                f"5-minute ({self.cache_write_5m_tokens}) plus 1-hour ({self.cache_write_1h_tokens}) cache "
                f"writes exceed cache_write_tokens ({self.cache_write_tokens})"
            )
        if self.reasoning_tokens > self.output_tokens:
            raise InvalidUsage(
                f"reasoning_tokens ({self.reasoning_tokens}) exceed output_tokens ({self.output_tokens}); "
                "output_tokens must include reasoning"
            )
        if self.input_audio_tokens + self.input_image_tokens + self.input_video_tokens > self.input_tokens:
            raise InvalidUsage("audio, image and video input tokens exceed input_tokens")
        if self.output_audio_tokens + self.output_image_tokens + self.output_video_tokens > self.output_tokens:
            raise InvalidUsage("audio, image and video output tokens exceed output_tokens")
        if self.cache_audio_read_tokens > self.cache_read_tokens:
            raise InvalidUsage(
                f"cached audio tokens ({self.cache_audio_read_tokens}) exceed cache_read_tokens "
                f"({self.cache_read_tokens})"
            )

    @classmethod
    def from_exclusive_cache(
        cls,
        *,
        uncached_input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        **details: int,
    ) -> TokenUsage:
        """Build from a convention that reports cache reads/writes *beside* input (Anthropic)."""
        return cls(
            input_tokens=uncached_input_tokens + cache_read_tokens + cache_write_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens,
            **details,
        )

    @property
    def has_modality_detail(self) -> bool:
        """True when audio/image token counts are present (these take the exact slow path)."""
        return bool(
            self.input_audio_tokens
            or self.output_audio_tokens
            or self.input_image_tokens
            or self.output_image_tokens
            or self.input_video_tokens
            or self.output_video_tokens
            or self.cache_audio_read_tokens
        )

    def genai_prices_values(self) -> dict[str, int]:
        """The non-zero counts under genai-prices' usage keys."""
        values = {key: getattr(self, name) for name, key in _GENAI_PRICES_KEYS}
        return {key: value for key, value in values.items() if value}

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(*(getattr(self, name) + getattr(other, name) for name in _FIELD_NAMES))


_FIELD_NAMES = tuple(f.name for f in fields(TokenUsage))

# Our field name -> genai-prices usage key.
_GENAI_PRICES_KEYS = (
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cache_read_tokens", "cache_read_tokens"),
    ("cache_write_tokens", "cache_write_tokens"),
    ("cache_write_5m_tokens", "cache_write_5m_tokens"),
    ("cache_write_1h_tokens", "cache_write_1h_tokens"),
    ("reasoning_tokens", "output_reasoning_tokens"),
    ("input_audio_tokens", "input_audio_tokens"),
    ("output_audio_tokens", "output_audio_tokens"),
    ("input_image_tokens", "input_image_tokens"),
    ("output_image_tokens", "output_image_tokens"),
    ("web_searches", "web_searches"),
    ("code_executions", "code_executions"),
    ("input_video_tokens", "input_video_tokens"),
    ("output_video_tokens", "output_video_tokens"),
    ("cache_audio_read_tokens", "cache_audio_read_tokens"),
    ("rerank_searches", "rerank_searches"),
)
