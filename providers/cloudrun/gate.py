"""The gate between gradual steps lives in ``providers.gate``, shared with the load balancer."""

from __future__ import annotations

from providers.gate import (
    MIN_REQUESTS,
    REPORT_EVERY_S,
    Gate,
    GateRequest,
    GateVerdict,
    HealthAndErrorRateGate,
    watch,
)

__all__ = [
    "MIN_REQUESTS",
    "REPORT_EVERY_S",
    "Gate",
    "GateRequest",
    "GateVerdict",
    "HealthAndErrorRateGate",
    "watch",
]
