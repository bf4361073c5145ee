"""What every genai-cost instrumentor shares: its own dependency check, patching an SDK when
the application imports it, and safe wrapping and unwrapping of SDK methods.

Under ``opentelemetry-instrument`` an instrumentor that raises aborts every later one, so nothing
here raises: a method missing from an SDK version is skipped with a debug log, and any other
error is logged once.

Why the dependency check is ours: the auto-instrumentation loader checks a *distribution's*
``instruments`` / ``instruments-any`` extras (``get_dist_dependency_conflicts``) and then calls
``instrument(skip_dep_check=True)``, so ``instrumentation_dependencies()`` is never asked. One
distribution carries all our instrumentors, so no extra could say "openai for this one, anthropic
for that one" (``instruments-any`` would let all four through as soon as any SDK is installed).
Each instrumentor therefore checks its own SDK's installed version (metadata only, no import) and
stands down quietly, with a debug log, when it is absent or too old.

Why patches wait for the application's import: importing an SDK costs 0.3-2 s and tens of MB
(anthropic ~1 s), and an application uses one or two of the four. ``instrument()`` registers a
post-import hook on the SDK's module (wrapt's, which ``opentelemetry-instrumentation`` relies on
too); the wrappers and the SDK modules they need load inside the application's own import. An SDK
already imported is patched at once (wrapt fires the hook immediately).
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.dependencies import get_dependency_conflicts
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
    # The module whose import means the application uses this SDK: patches are applied then.
    # Default: the first requirement's distribution name, dots for dashes (google-genai ->
    # google.genai); override when the patched code lives elsewhere (botocore.client).
    sdk_module: str = ""

    def instrumentation_dependencies(self) -> Collection[str]:
        return self.instruments

    def patches(self) -> Sequence[Patch]:
        raise NotImplementedError

    # Bumped by uninstrument(): import hooks registered before it stand down.
    _generation = 0

    def instrument(self, **kwargs: Any) -> Any:
        # opentelemetry-instrument passes skip_dep_check=True (see the module docstring): without
        # the SDK there is nothing to wrap, and saying so on stderr would be noise in every app
        # that does not use this provider.
        if kwargs.get("skip_dep_check") and not self.is_instrumented_by_opentelemetry:
            try:
                conflict = get_dependency_conflicts(self.instrumentation_dependencies())
            except Exception:  # unreadable metadata: try, and let a failed wrap say why
                conflict = None
            if conflict is not None:
                _log.debug("genai-cost: %s stands down: %s", type(self).__name__, conflict)
                return None
        return super().instrument(**kwargs)

    def _instrument(self, **kwargs: Any) -> None:
        self._applied: list[Patch] = []
        self._generation += 1
        try:
            from genai_cost import runtime
            from genai_cost.version import __version__

            if runtime.disabled_reason is not None:
                # genai-cost stood down at start-up (a broken config file): price nothing rather
                # than price with half a configuration. The reason was logged once already, by
                # whoever stood down; repeating it per instrumentor only buries it.
                _log.debug("genai-cost: %s not applied: %s", type(self).__name__, runtime.disabled_reason)
                return
            tracer = trace.get_tracer(OUR_SCOPE, __version__, kwargs.get("tracer_provider"))
            # Runs now if the SDK is already imported, else inside the application's import of it.
            register_post_import_hook(self._when_sdk_imported(tracer), self._sdk_module())
        except Exception:
            _log.exception("genai-cost: %s failed to instrument; the SDK runs uninstrumented", type(self).__name__)

    def _sdk_module(self) -> str:
        if self.sdk_module:
            return self.sdk_module
        from packaging.requirements import Requirement

        return Requirement(next(iter(self.instruments))).name.replace("-", ".")

    def _when_sdk_imported(self, tracer: Tracer) -> Callable[[Any], None]:
        generation = self._generation

        def hook(_module: Any) -> None:
            if self._generation != generation:
                return  # uninstrument() (or a later instrument()) came first
            try:
                from genai_cost.pricing import catalog

                for patch in self.patches():
                    if patch.lazy and patch.module not in sys.modules:
                        register_post_import_hook(self._when_imported(patch, tracer), patch.module)
                    else:
                        self._apply(patch, tracer)
                # Price data loads in the background (patched first: the load would compete for
                # the GIL and the import lock), before the first call ends.
                catalog().warm_up()
            except Exception:  # possibly inside the application's own import: never raise there
                _log.exception("genai-cost: %s failed to instrument; the SDK runs uninstrumented", type(self).__name__)

        return hook

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
