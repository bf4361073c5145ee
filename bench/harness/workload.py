"""The application's request and answer, the same for every provider's benchmark, so their
tables compare: a short system prompt, one user question, a 16-piece streamed answer."""

SYSTEM = "You are a concise assistant for an online bookshop."
QUESTION = "Suggest one novel for a long train journey, in one sentence."
# The answer split the way the APIs stream it: a few tokens per chunk.
ANSWER_PIECES = (
    "Try",
    " \u201cThe",
    " Count",
    " of",
    " Monte",
    " Cristo\u201d",
    " \u2014",
    " long,",
    " gripping,",
    " and",
    " perfect",
    " for",
    " hours",
    " on",
    " a",
    " train.",
)
ANSWER = "".join(ANSWER_PIECES)
