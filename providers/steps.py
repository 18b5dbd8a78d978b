"""Transitional: the step wrappers moved to ``console.runner`` (the one step runner)."""

from __future__ import annotations

from console.runner import drain, failure, perform

__all__ = ["drain", "failure", "perform"]
