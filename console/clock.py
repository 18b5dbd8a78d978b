"""The one clock the core reads: timezone-aware UTC, so tests and journals agree on the zone.

A module of its own (``console.model`` re-exports it) because the dashboard's
first frame needs a clock and nothing else of the model: the model, whose
dataclasses cost ~20 ms to create, is imported after that frame is painted.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)
