"""``[services.swarm]``: the Docker Swarm service a service is (runbook 002)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from console.config.bounds import MIN_LOCK_TTL_S
from console.config.reader import Reader, shown

#: A Swarm service name or id: what ``docker service inspect`` accepts.
_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}")


@dataclass(frozen=True)
class SwarmConfig:
    """A Docker Swarm service (runbook 002), reached through the Engine API.

    ``docker_host`` is where the Engine listens: ``unix:///path/docker.sock`` (or a
    bare socket path).  Empty: ``DOCKER_HOST`` at run time, then
    ``unix:///var/run/docker.sock``.
    """

    service: str
    docker_host: str = ""
    #: How long a console's lock label on the service holds before another may take it.
    lock_ttl_s: float = 900.0


def read_swarm(r: Reader) -> SwarmConfig:
    r.expect("service", "docker_host", "lock_ttl_s")
    service = r.require("service", str)
    if not _SERVICE.fullmatch(service):
        raise r.error(
            "service",
            f"must be a Swarm service name or id (letters, digits, '-', '_', '.'), "
            f"got {shown(service)}",
        )
    host = r.get("docker_host", str, "")
    if host and not (host.startswith("unix://") or host.startswith("/")):
        raise r.error(
            "docker_host",
            f"must be a unix socket (unix:///var/run/docker.sock or a path), got {shown(host)}",
        )
    cfg = SwarmConfig(
        service=service,
        docker_host=host,
        lock_ttl_s=r.duration("lock_ttl_s", 900.0, low=MIN_LOCK_TTL_S),
    )
    r.done()
    return cfg
