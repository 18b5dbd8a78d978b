"""Error-rate and health sources.

``make_error_rate_source`` builds the source a service's ``error_rate.source``
names.  Only the module of the chosen source is imported, so a console reading
one kind of source never pays for the others' clients at start-up.
"""

from __future__ import annotations

from console.config import ServiceConfig
from console.signals.base import ErrorRateSource, SignalError

__all__ = ["SOURCES", "ErrorRateSource", "SignalError", "make_error_rate_source"]

#: The error-rate sources this console can build.
SOURCES: tuple[str, ...] = ("probe",)


def make_error_rate_source(service: ServiceConfig) -> ErrorRateSource:
    """The (not yet started) error-rate source configured for ``service``.

    Raises ``SignalError`` for a source this console does not know or one that
    cannot be built from the config (a probe with no URL to probe).
    """
    kind = service.error_rate.source
    if kind == "probe":
        from console.signals.probe import ProbeSource

        return ProbeSource.from_config(service)
    known = ", ".join(SOURCES)
    raise SignalError(f"{service.name}: unknown error-rate source {kind!r} (known: {known})")
