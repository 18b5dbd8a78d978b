"""Error-rate and health sources.

``make_error_rate_source`` builds the source a service's ``error_rate.source``
names.  Only the module of the chosen source is imported, so a console reading
one kind of source never pays for the others' clients at start-up.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable

from console.config import ServiceConfig
from console.registry import ERROR_RATE_SOURCES
from console.signals.base import ErrorRateSource, SignalError

__all__ = [
    "SOURCES",
    "ErrorRateSource",
    "SignalError",
    "make_error_rate_source",
    "wait_for_requests",
]

#: source name -> "module:class"; the class has ``from_config(service)``.  Only the
#: module of the source in use is imported (its client library with it).  The list
#: lives in ``console.registry``, with the providers'.
REGISTRY: dict[str, str] = ERROR_RATE_SOURCES
#: The error-rate sources this console can build.
SOURCES: tuple[str, ...] = tuple(REGISTRY)


def make_error_rate_source(service: ServiceConfig) -> ErrorRateSource:
    """The (not yet started) error-rate source configured for ``service``.

    Raises ``SignalError`` for a source this console does not know or one that
    cannot be built from the config (a probe with no URL to probe).
    """
    kind = service.error_rate.source
    target = REGISTRY.get(kind)
    if target is None:
        known = ", ".join(SOURCES)
        raise SignalError(f"{service.name}: unknown error-rate source {kind!r} (known: {known})")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SignalError(
            f"{service.name}: error-rate source {kind!r} cannot be loaded: {exc}"
        ) from None
    source: ErrorRateSource = getattr(module, class_name).from_config(service)
    return source


def wait_for_requests(
    source: ErrorRateSource,
    needed: int,
    timeout_s: float,
    pause_s: float = 0.5,
    cancelled: Callable[[], bool] | None = None,
) -> bool:
    """Wait (at most ``timeout_s``) until ``source``'s window holds ``needed`` requests.

    How an assessment gets the sample a severity needs before deciding (the
    headless ``rollback``, ``status`` and the TUI's assess step all wait the
    same way).  False on timeout, and at once when the source cannot be read:
    the assessment then says so.  ``cancelled`` is asked between short waits,
    so a screen left (or a console quit) does not sit out the whole wait.
    """
    deadline = time.monotonic() + timeout_s
    pause = min(1.0, max(0.05, pause_s))
    step = min(pause, 0.2)
    while True:
        if cancelled is not None and cancelled():
            return False
        source.wait_for_data(max(0.0, min(deadline - time.monotonic(), step)))
        try:
            if source.sample().requests >= needed:
                return True
        except SignalError:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(step, left))
