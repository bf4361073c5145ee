"""An ordinary OpenAI app with no genai-cost code in it but one optional attribution line.

Run it the zero-code way:  opentelemetry-instrument python app.py
(`examples/demo.py` does that against a local stand-in of the OpenAI API, no key needed).
"""

from __future__ import annotations

import openai
from opentelemetry import trace

import genai_cost

client = openai.OpenAI(max_retries=0)  # OPENAI_BASE_URL and OPENAI_API_KEY come from the environment
tracer = trace.get_tracer("quickstart")


def answer_ticket(ticket: str) -> str:
    # One request of the app: a trace whose root will carry the request's total cost.
    with tracer.start_as_current_span("answer ticket"):
        with genai_cost.cost_context(team="support", feature="auto-reply", user="customer-42"):
            summary = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"Summarise this ticket: {ticket}"}],
            )
            client.embeddings.create(model="text-embedding-3-small", input=[ticket])
            reply = ""
            # Streaming: usage is collected without changing what this loop sees.
            for chunk in client.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": f"Draft a reply to: {summary.choices[0].message.content}"}],
                stream=True,
            ):
                if chunk.choices and chunk.choices[0].delta.content:
                    reply += chunk.choices[0].delta.content
        return reply


if __name__ == "__main__":
    answer_ticket("My invoice for October lists two seats but we only have one user.")
    answer_ticket("The export button does nothing in Firefox.")
    print("quickstart app finished")
