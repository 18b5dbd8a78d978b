"""How the panels write times, ages, rates and URLs: short, fixed, and never markup.

Pure functions (no Textual, no I/O), shared by every panel so "12s ago" or
"61.0%" reads the same everywhere on the dashboard.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the model is not needed for the first frame (tests/test_import_hygiene.py)
    from console.model import Revision

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


def middle_truncate(text: str, width: int) -> str:
    """``text`` cut in the middle to ``width`` characters, its end kept longer: a path keeps
    its start and its file name (``"/srv/ops/do…/rollback-history.md"``, or its first
    folder whole when that is short: ``"postmortems/…-20260116T020000Z.md"``); 0 = as is."""
    if width <= 0 or len(text) <= width:
        return text
    if width == 1:
        return ELLIPSIS
    head = (width - 1) // 3
    folder = text.find("/", 1) + 1
    if not text.startswith("/") and 0 < folder <= (width - 1) // 2:
        head = folder
    tail = width - 1 - head
    return text[:head] + ELLIPSIS + text[-tail:]


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


def image_label(image: str) -> str:
    """An image reference without its registry and path: ``web:v1.3.0`` (or ``web@sha256:…``).

    ``registry.example.com:5000/team/web:v1.3.0`` says where the image lives;
    the last part says which one it is.
    """
    name = image.rsplit("/", 1)[-1]
    if "@" in name:
        repo, digest = name.split("@", 1)
        return f"{repo}@{digest[:19]}{ELLIPSIS}" if len(digest) > 19 else name
    return name


def change_summary(revision: Revision) -> str:
    """What a revision changed, in one short line: the platform's change cause (a commit
    subject, a change-cause annotation, a release note), else its image; never a path.

    Where the revision lives (a release folder, a registry path) is its detail,
    shown with the current version and in the events, not in a table column.
    """
    cause = " ".join(revision.change_cause.split())
    if cause:
        return cause
    if revision.image:
        return f"image {image_label(revision.image)}"
    return ""
