"""How the panels write times, ages, rates and URLs: short, fixed, and never markup.

Pure functions (no Textual, no I/O), shared by every panel so "12s ago" or
"61.0%" reads the same everywhere on the dashboard.
"""

from __future__ import annotations

from datetime import datetime

ELLIPSIS = "…"


def short_duration(seconds: float) -> str:
    """A duration in the largest unit that fits: ``"45s"``, ``"12m"``, ``"3h"``, ``"2d"``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def age(then: datetime | None, now: datetime) -> str:
    """How long ago ``then`` was, coarse (``"1h"``); empty when unknown."""
    if then is None:
        return ""
    return short_duration((now - then).total_seconds())


def ago(then: datetime | None, now: datetime) -> str:
    """``"just now"``, ``"12s ago"``, ``"3m ago"``; empty when unknown."""
    if then is None:
        return ""
    seconds = (now - then).total_seconds()
    if seconds < 1:
        return "just now"
    return f"{short_duration(seconds)} ago"


def local_time(when: datetime | None, *, with_date: bool = True) -> str:
    """A timestamp in the operator's zone: ``"01-16 02:00"`` (or ``"02:00:00"``)."""
    if when is None:
        return ""
    local = when.astimezone()
    return local.strftime("%m-%d %H:%M") if with_date else local.strftime("%H:%M:%S")


def percent(rate: float | None) -> str:
    """An error rate (0..1) as ``"61.0%"``; ``"n/a"`` without data."""
    return "n/a" if rate is None else f"{rate:.1%}"


def whole_percent(rate: float) -> str:
    """A threshold as ``"50%"`` (one decimal only when needed: ``"0.5%"``)."""
    value = rate * 100
    return f"{value:.0f}%" if value == round(value) else f"{value:.1f}%"


def millis(value: float | None) -> str:
    """A latency as ``"380 ms"``; ``"n/a"`` when unknown."""
    return "n/a" if value is None else f"{value:.0f} ms"


def truncate(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with an ellipsis (DataTable cells only crop)."""
    text = " ".join(text.split())
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: width - 1] + ELLIPSIS


def left_truncate(text: str, width: int) -> str:
    """``text`` cut from the left to ``width`` characters (``"…:8080/health"``); 0 = as is."""
    if width <= 0 or len(text) <= width:
        return text
    if width == 1:
        return ELLIPSIS
    return ELLIPSIS + text[-(width - 1) :]


def short_url(url: str) -> str:
    """A URL without its scheme: ``"10.0.0.5:8080/health"``."""
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            return url[len(scheme) :]
    return url
