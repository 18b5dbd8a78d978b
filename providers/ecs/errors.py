"""AWS failures as one line each: moved to ``providers.aws_errors``, shared with ALB and CDN."""

from __future__ import annotations

from providers.aws_errors import (
    FORBIDDEN_CODES,
    NOT_FOUND_CODES,
    THROTTLED_CODES,
    UNAVAILABLE_CODES,
    aws_errors,
    call,
    error_code,
    error_message,
    http_status,
    translate,
)

__all__ = [
    "FORBIDDEN_CODES",
    "NOT_FOUND_CODES",
    "THROTTLED_CODES",
    "UNAVAILABLE_CODES",
    "aws_errors",
    "call",
    "error_code",
    "error_message",
    "http_status",
    "translate",
]
