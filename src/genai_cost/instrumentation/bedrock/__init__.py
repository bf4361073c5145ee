"""genai-cost instrumentation for AWS Bedrock Runtime through boto3/botocore.

    from genai_cost.instrumentation.bedrock import BedrockInstrumentor

    BedrockInstrumentor().instrument(tracer_provider=provider)

Traced, one CLIENT span per call on ``bedrock-runtime`` clients created after ``instrument()``:
``converse``, ``converse_stream``, ``invoke_model`` and ``invoke_model_with_response_stream``, for
every model family's body format (Anthropic, Meta Llama, Amazon Nova and Titan, Mistral, Cohere),
with foundation-model ids, regional and global inference profiles and their ARNs. Provider
``aws.bedrock``; other AWS services are never wrapped.

Modules: ``wrappers`` (the client-class hook and the four operations), ``results`` (usage from
Converse, each family's body, headers and invocation metrics), ``streams`` (stream observers).
Nothing here imports botocore until ``instrument()``.
"""

from __future__ import annotations

from collections.abc import Sequence

from genai_cost.instrumentation.base import GenAIInstrumentor, Patch


class BedrockInstrumentor(GenAIInstrumentor):
    # 1.34.116 is the first botocore with bedrock-runtime's Converse API.
    instruments = ("botocore >= 1.34.116",)
    sdk_module = "botocore.client"

    def patches(self) -> Sequence[Patch]:
        from genai_cost.instrumentation.bedrock.wrappers import patches

        # Client classes built while instrumented keep their wrappers; this flag makes them step
        # aside after uninstrument().
        return patches(lambda: bool(self.is_instrumented_by_opentelemetry))


__all__ = ["BedrockInstrumentor"]
