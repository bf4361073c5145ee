"""Every attribute and metric name genai-cost reads or writes, in one place.

GenAI names follow the OpenTelemetry semantic conventions; ``genai_cost.*`` names are ours
(see DESIGN.md, "Span contract"). Keeping them here means a rename is one edit, and a reader can
see the whole telemetry contract without opening the code that emits it.
"""

from typing import Final

# --- GenAI semantic conventions (current) -------------------------------------------------
OPERATION_NAME: Final = "gen_ai.operation.name"
PROVIDER_NAME: Final = "gen_ai.provider.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_STREAM: Final = "gen_ai.request.stream"
REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
REQUEST_TOP_P: Final = "gen_ai.request.top_p"
REQUEST_TOP_K: Final = "gen_ai.request.top_k"
REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
OUTPUT_TYPE: Final = "gen_ai.output.type"
OPENAI_SERVICE_TIER: Final = "openai.response.service_tier"
OPENAI_REQUEST_SERVICE_TIER: Final = "openai.request.service_tier"
OPENAI_API_TYPE: Final = "openai.api.type"
AWS_REQUEST_ID: Final = "aws.request_id"  # semconv (AWS SDK): x-amzn-requestid of the call
# Ours: the AWS error code of a failed call (ThrottlingException), beside error.type.
AWS_ERROR_CODE: Final = "aws.error.code"
REQUEST_SEED: Final = "gen_ai.request.seed"
REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"
# fetch_response spans (retrieving a stored response): its lifecycle status and resume cursor.
RESPONSE_STATUS: Final = "gen_ai.response.status"
REQUEST_STREAM_CURSOR: Final = "gen_ai.request.stream_cursor"
INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
USER_ID: Final = "user.id"

USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_WRITE_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
USAGE_REASONING_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"

# --- Older spellings still emitted in the wild (read, never written) -----------------------
LEGACY_SYSTEM: Final = "gen_ai.system"
LEGACY_PROMPT_TOKENS: Final = "gen_ai.usage.prompt_tokens"
LEGACY_COMPLETION_TOKENS: Final = "gen_ai.usage.completion_tokens"
LEGACY_CACHE_READ_TOKENS: Final = "gen_ai.usage.cache_read_input_tokens"
LEGACY_CACHE_CREATION_TOKENS: Final = "gen_ai.usage.cache_creation_input_tokens"
LEGACY_CACHE_CREATION_DOTTED: Final = "gen_ai.usage.cache_creation.input_tokens"
LEGACY_REASONING_TOKENS: Final = "gen_ai.usage.reasoning_tokens"
LLM_PROMPT_TOKENS: Final = "llm.usage.prompt_tokens"
LLM_COMPLETION_TOKENS: Final = "llm.usage.completion_tokens"
LLM_TOTAL_TOKENS: Final = "llm.usage.total_tokens"
LLM_CACHE_READ_TOKENS: Final = "llm.usage.cache_read_input_tokens"
LLM_REQUEST_TYPE: Final = "llm.request.type"
OPENAI_API_BASE: Final = "gen_ai.openai.api_base"  # OpenLLMetry's stand-in for server.address
ANTHROPIC_CACHE_WRITE_5M: Final = "anthropic.usage.cache_creation.ephemeral_5m_input_tokens"
ANTHROPIC_CACHE_WRITE_1H: Final = "anthropic.usage.cache_creation.ephemeral_1h_input_tokens"
ANTHROPIC_WEB_SEARCH_REQUESTS: Final = "anthropic.usage.server_tool_use.web_search_requests"
ANTHROPIC_WEB_FETCH_REQUESTS: Final = "anthropic.usage.server_tool_use.web_fetch_requests"
ANTHROPIC_COUNT_TOKENS_INPUT: Final = "anthropic.message.count_tokens.input_tokens"
ANTHROPIC_SERVICE_TIER: Final = "anthropic.response.service_tier"

# --- genai-cost: price ---------------------------------------------------------------------
COST_AMOUNT: Final = "genai_cost.amount"
COST_CURRENCY: Final = "genai_cost.currency"
COST_INPUT: Final = "genai_cost.input"
COST_OUTPUT: Final = "genai_cost.output"
COST_CACHE_READ: Final = "genai_cost.cache_read"
COST_CACHE_WRITE: Final = "genai_cost.cache_write"
COST_TOOLS: Final = "genai_cost.tools"
COST_SAVINGS: Final = "genai_cost.savings"
COST_STATUS: Final = "genai_cost.status"
COST_STATUS_DETAIL: Final = "genai_cost.status.detail"
PRICE_MODEL: Final = "genai_cost.price.model"
PRICE_PROVIDER: Final = "genai_cost.price.provider"
PRICE_SOURCE: Final = "genai_cost.price.source"
USAGE_COST_ALIAS: Final = "gen_ai.usage.cost"
DUPLICATE_OF: Final = "genai_cost.duplicate_of"

# --- genai-cost: attribution ---------------------------------------------------------------
PROJECT: Final = "genai_cost.project"
TEAM: Final = "genai_cost.team"
FEATURE: Final = "genai_cost.feature"
TENANT: Final = "genai_cost.tenant"
# Custom dimensions declared in config (``dimensions: [prompt_version]``): ``genai_cost.dim.<name>``,
# in baggage and on spans, like the five above.
DIMENSION_PREFIX: Final = "genai_cost.dim."
# A non-reversible fingerprint of the API key the client used (never the key): HMAC-SHA256, truncated.
KEY_ID: Final = "genai_cost.key.id"

# --- genai-cost: trace roll-up -------------------------------------------------------------
TRACE_AMOUNT: Final = "genai_cost.trace.amount"
TRACE_CALLS: Final = "genai_cost.trace.calls"

# --- genai-cost: budgets (issue 5 fills these) ---------------------------------------------
BUDGET_DECISION: Final = "genai_cost.budget.decision"
BUDGET_NAME: Final = "genai_cost.budget.name"
BUDGET_ORIGINAL_MODEL: Final = "genai_cost.budget.original_model"
BUDGET_LIMIT: Final = "genai_cost.budget.limit"
BUDGET_SPENT: Final = "genai_cost.budget.spent"
BUDGET_REMAINING: Final = "genai_cost.budget.remaining"
BUDGET_WINDOW: Final = "genai_cost.budget.window"
# The fan-out value of a `per: user` style budget (which user's budget decided).
BUDGET_SCOPE: Final = "genai_cost.budget.scope"
# What the guard reserved before the call (input estimate + max output, at the model's prices).
BUDGET_ESTIMATE: Final = "genai_cost.budget.estimate"
# Why no ledger answered (fail open / fail closed), when that happened.
BUDGET_STATUS: Final = "genai_cost.budget.status"
BUDGET_THRESHOLD_EVENT: Final = "genai_cost.budget.threshold"
BUDGET_THRESHOLD_PERCENT: Final = "genai_cost.budget.threshold.percent"

# --- Metrics -------------------------------------------------------------------------------
METRIC_COST: Final = "gen_ai.client.operation.cost"
METRIC_UNPRICED_CALLS: Final = "genai_cost.unpriced.calls"
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
# Observable gauge: money left in each budget scope's current window (budget name/scope/window).
METRIC_BUDGET_REMAINING: Final = "genai_cost.budget.remaining"
TOKEN_TYPE: Final = "gen_ai.token.type"

# Attribution keys in the order they appear on spans, metrics and baggage. `user` maps to the
# semconv `user.id`; the others to `genai_cost.<key>`.
ATTRIBUTION_KEYS: Final = ("project", "team", "user", "feature", "tenant")
ATTRIBUTION_SPAN_ATTRIBUTES: Final = {
    "project": PROJECT,
    "team": TEAM,
    "user": USER_ID,
    "feature": FEATURE,
    "tenant": TENANT,
}


class Status:
    """Values of ``genai_cost.status``."""

    PRICED: Final = "priced"
    UNKNOWN_MODEL: Final = "unknown_model"
    NO_USAGE: Final = "no_usage"
    INVALID_USAGE: Final = "invalid_usage"
    DUPLICATE: Final = "duplicate"
    ESTIMATED: Final = "estimated"
    PARTIAL: Final = "partial"
