"""The load balancer provider: blue/green at an Application Load Balancer (runbook 002).

Runbook 002 rolls back by switching traffic: the listener (or one of its
rules) forwards to the blue or the green target group, and a rollback
forwards 100% back to the previous one (``aws elbv2 modify-listener`` /
``modify-rule``), or moves it in weighted steps with a health gate between
them (``gradual``).  See ``providers.alb.provider`` for the modules.
"""

from __future__ import annotations

from providers.alb.ops import GRADUAL
from providers.alb.provider import AlbProvider
from providers.alb.run import GateFailed

__all__ = ["GRADUAL", "AlbProvider", "GateFailed"]
