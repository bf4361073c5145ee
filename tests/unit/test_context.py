from __future__ import annotations

import asyncio

from opentelemetry import baggage, context
from opentelemetry.baggage.propagation import W3CBaggagePropagator

from genai_cost.context import cost_context, current_attribution, set_default_attribution


def test_nested_contexts_override_and_restore() -> None:
    with cost_context(team="a", project="p"):
        with cost_context(team="b", user="u1"):
            assert current_attribution() == {"genai_cost.team": "b", "genai_cost.project": "p", "user.id": "u1"}
        assert current_attribution() == {"genai_cost.team": "a", "genai_cost.project": "p"}
    assert current_attribution() == {}


def test_decorator_sync_and_async_and_reentrant() -> None:
    ctx = cost_context(feature="f")

    @ctx
    def sync(depth: int) -> dict:
        return sync(depth - 1) if depth else current_attribution()

    @ctx
    async def run() -> dict:
        await asyncio.sleep(0)
        return current_attribution()

    assert sync(3) == {"genai_cost.feature": "f"}
    assert asyncio.run(run()) == {"genai_cost.feature": "f"}
    assert current_attribution() == {}


def test_async_tasks_keep_their_own_attribution() -> None:
    async def worker(team: str) -> str:
        with cost_context(team=team):
            await asyncio.sleep(0.01)
            return current_attribution()["genai_cost.team"]

    async def main() -> list[str]:
        return await asyncio.gather(worker("x"), worker("y"))

    assert asyncio.run(main()) == ["x", "y"]


def test_written_to_w3c_baggage_for_downstream_services() -> None:
    carrier: dict[str, str] = {}
    with cost_context(tenant="acme corp", user="u 1"):
        W3CBaggagePropagator().inject(carrier)
    received = W3CBaggagePropagator().extract(carrier)
    assert baggage.get_baggage("genai_cost.tenant", received) == "acme corp"
    token = context.attach(received)
    try:
        assert current_attribution() == {"genai_cost.tenant": "acme corp", "user.id": "u 1"}
    finally:
        context.detach(token)


def test_defaults_apply_under_contexts() -> None:
    set_default_attribution({"project": "default-project", "team": "default-team"})
    try:
        with cost_context(team="override"):
            assert current_attribution() == {"genai_cost.project": "default-project", "genai_cost.team": "override"}
    finally:
        set_default_attribution({})
