"""Whether the SDK a configured part needs is installed, and the extra that installs it.

The core installs without any cloud SDK (pyproject.toml's extras); each provider
imports its SDK lazily, at its first API call.  A config naming a provider (or a
database part, a CDN, an error-rate source) whose SDK is missing would load
fine and fail later, in the middle of an incident, with an ImportError.  The
reader asks here instead and refuses it up front (exit 2), naming the extra:
``pip install 'rollback-console[ecs]'``.

``importlib.util.find_spec`` finds a module without running it: nothing of the
SDK is imported by the check.
"""

from __future__ import annotations

import importlib.util

from console.errors import BadInput
from console.registry import DISTRIBUTION, EXTRAS


def install_line(extra: str) -> str:
    """The command that installs ``extra`` (pip; the same spec works with pipx and uv tool)."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def missing(name: str) -> str:
    """ "" when ``name``'s SDK is importable here, else the line saying which extra installs it."""
    extra, modules = EXTRAS.get(name, ("", ()))
    for module in modules:
        if not _findable(module):
            return (
                f"{name!r} needs {module}, which is not installed in this environment: "
                f"{install_line(extra)} (or pipx/uv tool install with the same extra)"
            )
    return ""


def require(name: str) -> None:
    """Raise ``BadInput`` (exit 2) naming the extra when ``name``'s SDK is missing."""
    line = missing(name)
    if line:
        raise BadInput(line)


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken one
        return False
