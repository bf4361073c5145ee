"""What every genai-cost instrumentor shares: safe wrapping and unwrapping of SDK methods.

Under ``opentelemetry-instrument`` an instrumentor that raises aborts every later one, so nothing
here raises: a method missing from an SDK version is skipped with a debug log, and any other
error is logged once.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import Tracer
from wrapt import register_post_import_hook, wrap_function_wrapper

from genai_cost.runtime import OUR_SCOPE

_log = logging.getLogger("genai_cost.instrumentation")


@dataclass(frozen=True)
class Patch:
    """One SDK method to wrap: ``module``'s ``attribute`` (``"Class.method"``).

    ``lazy``: if ``module`` is not imported yet, wrap it when it is (a post-import hook) instead
    of importing it now. For SDKs that load their resources on first use (openai 3.x imports the
    Responses API's modules, ~50 ms, only when ``client.responses`` is first touched), so an app
    pays only for what it uses.
    """

    module: str
    attribute: str
    make_wrapper: Callable[[Tracer], Callable[..., Any]]
    lazy: bool = False


class GenAIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Base for provider instrumentors: subclasses list their ``patches()``."""

    instruments: Collection[str] = ()

    def instrumentation_dependencies(self) -> Collection[str]:
        return self.instruments

    def patches(self) -> Sequence[Patch]:
        raise NotImplementedError

    # Bumped by uninstrument(): import hooks registered before it stand down.
    _generation = 0

    def _instrument(self, **kwargs: Any) -> None:
        self._applied: list[Patch] = []
        self._generation += 1
        try:
            from genai_cost import runtime
            from genai_cost.version import __version__
            from genai_cost.pricing import catalog

            if runtime.disabled_reason is not None:
                # genai-cost stood down at start-up (a broken config file): price nothing rather
                # than price with half a configuration. The reason was logged once already, by
                # whoever stood down; repeating it per instrumentor only buries it.
                _log.debug("genai-cost: %s not applied: %s", type(self).__name__, runtime.disabled_reason)
                return
            catalog().warm_up()  # price data loads in the background, off the first call's path
            tracer = trace.get_tracer(OUR_SCOPE, __version__, kwargs.get("tracer_provider"))
            for patch in self.patches():
                if patch.lazy and patch.module not in sys.modules:
                    register_post_import_hook(self._when_imported(patch, tracer), patch.module)
                else:
                    self._apply(patch, tracer)
        except Exception:
            _log.exception("genai-cost: %s failed to instrument; the SDK runs uninstrumented", type(self).__name__)

    def _apply(self, patch: Patch, tracer: Tracer) -> None:
        try:
            wrap_function_wrapper(patch.module, patch.attribute, patch.make_wrapper(tracer))
            self._applied.append(patch)
        except (ImportError, AttributeError) as exc:
            _log.debug("genai-cost: %s.%s not patched: %s", patch.module, patch.attribute, exc)

    def _when_imported(self, patch: Patch, tracer: Tracer) -> Callable[[Any], None]:
        # wrapt cannot unregister a hook: one that fires after uninstrument(), or after a later
        # instrument() made hooks of its own, does nothing.
        generation = self._generation

        def hook(_module: Any) -> None:
            if self._generation == generation:
                try:
                    self._apply(patch, tracer)
                except Exception:  # inside the application's own import: never raise there
                    _log.exception("genai-cost: %s.%s not patched", patch.module, patch.attribute)

        return hook

    def _uninstrument(self, **kwargs: Any) -> None:
        self._generation += 1
        for patch in getattr(self, "_applied", ()):
            try:
                owner_path, _, method = patch.attribute.rpartition(".")
                owner: Any = importlib.import_module(patch.module)
                for part in owner_path.split(".") if owner_path else ():
                    owner = getattr(owner, part)
                unwrap(owner, method)
            except Exception:
                _log.debug("genai-cost: could not unwrap %s.%s", patch.module, patch.attribute, exc_info=True)
        self._applied = []
