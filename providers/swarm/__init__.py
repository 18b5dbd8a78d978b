"""The Docker Swarm provider: roll a service back on a Swarm (runbook 002).

``client``   the Engine API over its unix socket (httpx, imported on first use)
``read``     the snapshot: live spec, update status, tasks, the images Swarm keeps
``plans``    rollback (``swarm.rollback`` / ``swarm.update_image``) and restart plans
``run``      the part that runs the steps, says what took effect, and waits ready
``lock``     the cross-console lock (a Swarm config object)
``diff``     what changes: image, env, resources, replicas
``provider`` ``SwarmProvider``, which puts them together
"""

from __future__ import annotations

from providers.swarm.provider import SwarmProvider

__all__ = ["SwarmProvider"]
