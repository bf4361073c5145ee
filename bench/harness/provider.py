"""A provider's call-overhead benchmark, declared rather than written again: what the application
calls and what the floor records of it (``Calls``), the SDK client over an in-process transport,
and how each variant instruments (``Bench``). ``serve(bench)`` is the worker process
(``worker.py``), ``drive(bench)`` the driver (``run.py``): the second-wave providers' benches
(Groq, Ollama, LiteLLM, Mistral, Cohere, Together) are one module each of these declarations.

Variants: ``bare`` (the SDK call), ``floor`` (the same inside one hand-made CLIENT span with 12
attributes, 6 known before the call and 6 read from its answer) and every entry of
``Bench.instrumentations``. Modes: ``chat`` and ``stream`` (read to the end).

Each bench's ``worker.py`` declares its ``Bench`` and ends with ``main(BENCH, HERE, __doc__)``;
its ``run.py`` runs ``worker.py`` without a measurement to make, which drives.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

MODES = ("chat", "stream")
# Small batches, many of them, alternating with bare batches (bench/README.md, "Method").
BATCH_SIZE = {"chat": 5, "stream": 3}
BATCHES = {"chat": 150, "stream": 120}


@dataclass(frozen=True)
class Calls:
    """How the application calls the SDK, and what the floor's span records of it."""

    chat: Callable[[Any], Any]  # client -> response
    text: Callable[[Any], str]  # response -> the answer
    stream: Callable[[Any], Iterable[Any]]  # client -> chunks
    piece: Callable[[Any], str | None]  # chunk -> its piece of the answer
    span_name: str
    start_attributes: Mapping[str, Any]  # the floor's 6 attributes known before the call
    end_attributes: Callable[[Any], dict[str, Any]]  # response, or a stream's last chunk -> the other 6


# variant -> instrument(tracer_provider); may return an object with ``set(bool)`` and ``changes``
# switching it (LiteLLM's callbacks) where patches are not how it instruments.
Instrument = Callable[[Any], Any]


@dataclass(frozen=True)
class Bench:
    sdk: str  # imported before set-up, as an application has it
    client: Callable[[], Any]  # a fresh client over the in-process transport
    calls: Calls
    expected: str  # what the caller must get, on every side
    patched: tuple[str, ...]  # the modules an instrumentation may patch
    instrumentations: Mapping[str, Instrument]
    labels: Mapping[str, str]  # variant -> its row's label (bare and floor included)
    venv: str  # under bench/
    mode_titles: Mapping[str, str] = field(default_factory=lambda: {"chat": "chat", "stream": "stream"})
    skip: tuple[str, ...] = ()  # module trees none patches (the SDK's data models)
    openlit_venv: str | None = None  # OpenLIT's own venv, when it has a row
    clear_env: tuple[str, ...] = ("TRACELOOP_", "OPENLIT_")  # environment prefixes the workers drop
    not_measured: Mapping[str, str] = field(default_factory=dict)  # peer -> why it has no row
    env: Mapping[str, str] = field(default_factory=dict)  # set in every worker before the SDK loads
    # The SDK binds its methods onto each client as it is made (cohere 7's ClientV2): a client
    # made before instrumenting stays bare, so the instrumented side gets one made after.
    binds_on_construction: bool = False

    @property
    def variants(self) -> tuple[str, ...]:
        return ("bare", "floor", *self.instrumentations)

    @property
    def peers(self) -> tuple[str, ...]:
        return tuple(v for v in self.instrumentations if not v.startswith("genai-cost"))


# --- what most benches declare alike ----------------------------------------------------------------


def mock_client(module: str) -> Callable[[], Any]:
    """``make_client`` of the bench's mock module, imported when first called (``run.py`` imports
    the worker's declarations with nothing but the standard library)."""
    import importlib

    return lambda: importlib.import_module(module).make_client()


def hosted_start(provider_name: str, model: str, address: str) -> dict[str, Any]:
    """The floor's 6 attributes known before a hosted API's chat call (``max_tokens=200``)."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider_name,
        "gen_ai.request.model": model,
        "gen_ai.request.max_tokens": 200,
        "server.address": address,
        "server.port": 443,
    }


def completion_end(answer: Any, usage: Any = None, **extra: Any) -> dict[str, Any]:
    """The floor's 6 attributes after an OpenAI-shaped chat completion, or a stream's last chunk
    (``usage``: where the provider does not put it on ``answer.usage``; ``extra``: the sixth)."""
    usage = usage or answer.usage
    return {
        "gen_ai.response.model": answer.model,
        "gen_ai.response.id": answer.id,
        "gen_ai.response.finish_reasons": (answer.choices[0].finish_reason,),
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
        **extra,
    }


# --- the instrumentations every bench has -------------------------------------------------------


def genai_cost(module: str, instrumentor: str, **configure: Any) -> Instrument:
    """genai-cost with pricing on (the catalog loaded), instrumenting this one SDK."""

    def instrument(provider: Any) -> None:
        import importlib

        import genai_cost as package

        package.configure(tracer_provider=provider, instrument=False, **configure)
        getattr(importlib.import_module(module), instrumentor)().instrument(tracer_provider=provider)

    return instrument


def openllmetry(module: str, instrumentor: str) -> Instrument:
    def instrument(provider: Any) -> None:
        import importlib

        os.environ["TRACELOOP_TRACE_CONTENT"] = "false"
        getattr(importlib.import_module(module), instrumentor)().instrument(tracer_provider=provider)

    return instrument


def openlit(name: str) -> Instrument:
    """OpenLIT for one SDK only (its other instrumentors are not on this call's path)."""

    def instrument(provider: Any) -> None:
        import openlit as package
        from openlit._instrumentors import MODULE_NAME_MAP

        package.init(  # onto the global tracer provider, which the pipeline set
            disabled_instrumentors=[n for n in MODULE_NAME_MAP if n != name],
            disable_metrics=True,
            disable_events=True,
            collect_gpu_stats=False,
            collect_system_metrics=False,
            # Without a local file it downloads prices from GitHub at init.
            pricing_json=str(Path(__file__).resolve().parents[1] / "openai_overhead" / "openlit_pricing.json"),
            capture_message_content=False,
        )

    return instrument


# --- the worker ---------------------------------------------------------------------------------


def _app_call(bench: Bench, mode: str, client: Any) -> Callable[[], str]:
    calls = bench.calls
    if mode == "chat":
        return lambda: calls.text(calls.chat(client))

    def streamed() -> str:
        return "".join(p for p in map(calls.piece, calls.stream(client)) if p)

    return streamed


def _floor_call(bench: Bench, mode: str, client: Any, provider: Any) -> Callable[[], str]:
    """What any instrumentation must at least do: one CLIENT span, current while the call runs,
    with 12 attributes (6 known before the call, 6 read from its answer)."""
    from opentelemetry.trace import SpanKind

    tracer = provider.get_tracer("bench.floor")
    calls = bench.calls
    start = dict(calls.start_attributes)

    if mode == "chat":

        def floor() -> str:
            with tracer.start_as_current_span(calls.span_name, kind=SpanKind.CLIENT, attributes=start) as span:
                response = calls.chat(client)
                span.set_attributes(calls.end_attributes(response))
                return calls.text(response)

        return floor

    def floor_stream() -> str:
        with tracer.start_as_current_span(calls.span_name, kind=SpanKind.CLIENT, attributes=start) as span:
            parts = []
            last = None
            for chunk in calls.stream(client):
                piece = calls.piece(chunk)
                if piece:
                    parts.append(piece)
                last = chunk
            span.set_attributes(calls.end_attributes(last))
            return "".join(parts)

    return floor_stream


def _instrument(bench: Bench, variant: str, provider: Any) -> Any:
    if variant in ("bare", "floor"):
        return None
    return bench.instrumentations[variant](provider)


def _run_calls(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    from harness.paired import measure_variant
    from harness.pipeline import make_pipeline
    from harness.toggle import PatchToggle

    __import__(bench.sdk)
    provider, exporter = make_pipeline()
    client = bench.client()
    bare_call = _app_call(bench, args.mode, client)
    bare_call()  # the SDK imports its lazy modules now, so the snapshot below holds them
    toggle = PatchToggle(bench.patched, skip=bench.skip)
    switch = _instrument(bench, args.variant, provider)
    toggle.capture()
    if args.variant == "floor":
        call = _floor_call(bench, args.mode, client, provider)
    elif bench.binds_on_construction:
        call = _app_call(bench, args.mode, bench.client())
    else:
        call = bare_call
    return measure_variant(
        args.variant,
        args,
        call=call,
        bare_call=bare_call,
        provider=provider,
        exporter=exporter,
        expected=bench.expected,
        toggle=switch if hasattr(switch, "set") else toggle,
    )


def _run_startup(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    from harness.pipeline import make_pipeline
    from harness.process import time_startup

    __import__(bench.sdk)  # before the clock, as an application has it
    __import__("opentelemetry.sdk.trace")
    provider, exporter = make_pipeline()
    return time_startup(
        bare_call=_app_call(bench, args.mode, bench.client()),
        instrument=lambda: _instrument(bench, args.variant, provider),
        make_call=lambda: _app_call(bench, args.mode, bench.client()),
        provider=provider,
        exporter=exporter,
    )


def serve(bench: Bench) -> None:
    """``worker.py calls|startup VARIANT [MODE] ...``: one measurement, one JSON line."""
    from harness.process import main

    os.environ.update(bench.env)
    main(bench.variants, MODES, partial(_run_calls, bench), partial(_run_startup, bench))


# --- the driver ---------------------------------------------------------------------------------


def drive(bench: Bench, here: Path, description: str | None) -> None:
    """``run.py [--quick] [--variants ...] [--json FILE]``: fresh worker processes, interleaved,
    then the Markdown table (with the load average at the start and the end)."""
    from harness.driver import Runs, Table, precompile, save_raw, source_state, venv_python, worker_env

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="processes per (variant, mode)")
    parser.add_argument("--batch-scale", type=float, default=1.0)
    parser.add_argument("--warmup", type=int, default=100, help="untimed calls per side per process")
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument("--variants", default=",".join(bench.variants))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--quick", action="store_true", help="3 repeats, half the batches, 3 start-up runs")
    parser.add_argument("--json", type=Path, help="also write every raw result here")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.batch_scale, args.startup_runs = 3, 0.5, 3
    variants = [v for v in args.variants.split(",") if v]
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(variants) - set(bench.variants)
    if unknown:
        raise SystemExit(f"unknown variants: {', '.join(sorted(unknown))}")
    python_for = partial(venv_python, venv=bench.venv, openlit_venv=bench.openlit_venv or bench.venv)
    load_before = os.getloadavg()
    began = time.monotonic()
    precompile({python_for(v) for v in variants}, here, here.parent / "harness")
    runs = Runs(python_for, here / "worker.py", worker_env(bench.clear_env))
    runs.startup([v for v in variants if v != "floor"], args.startup_runs)
    runs.calls(
        variants,
        modes,
        args.repeats,
        batches=BATCHES,
        batch_size=BATCH_SIZE,
        scale=args.batch_scale,
        options=["--warmup", str(args.warmup)],
    )
    elapsed = time.monotonic() - began
    if args.json:
        save_raw(args.json, args, runs.raw, elapsed)
    load_after = os.getloadavg()
    info = (
        f"{args.repeats} processes per cell × {round(BATCHES['chat'] * args.batch_scale)} chat / "
        f"{round(BATCHES['stream'] * args.batch_scale)} stream batch pairs of {BATCH_SIZE['chat']} / "
        f"{BATCH_SIZE['stream']} calls; start-up: {args.startup_runs} processes per variant; "
        f"total {elapsed / 60:.1f} min; load average {load_before[0]:.2f} at the start, "
        f"{load_after[0]:.2f} at the end; genai-cost at {source_state()}"
    )
    table = Table(labels=dict(bench.labels), modes={m: bench.mode_titles[m] for m in modes}, peers=bench.peers)
    missing = {**runs.missing, **{peer: why for peer, why in bench.not_measured.items()}}
    print(table.render(runs.raw, [*variants, *bench.not_measured], missing, info))


def main(bench: Bench, here: Path, description: str | None) -> None:
    """A worker's measurement (``calls`` / ``startup`` as the first argument), else the driver."""
    import sys

    if len(sys.argv) > 1 and sys.argv[1] in ("calls", "startup"):
        serve(bench)
    else:
        drive(bench, here, description)


# --- an in-process transport ---------------------------------------------------------------------


def mock_transport(
    httpx: Any,
    *,
    document: bytes,
    stream: list[bytes],
    stream_type: str = "text/event-stream",
    headers: Mapping[str, str] | None = None,
) -> Any:
    """An ``httpx`` (or ``httpx2``) transport answering every request in process: no socket, no
    thread, so what is left of a call's time is the SDK's own work plus the instrumentation's. A
    request whose JSON body says ``"stream": true`` gets ``stream``, one network read per item."""

    class Events(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            yield from stream

    common = dict(headers or {})

    def handle(request: Any) -> Any:
        if b'"stream":true' in request.content.replace(b" ", b""):
            return httpx.Response(200, headers={**common, "content-type": stream_type}, stream=Events())
        return httpx.Response(200, headers={**common, "content-type": "application/json"}, content=document)

    return httpx.MockTransport(handle)
