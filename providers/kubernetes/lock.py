"""The rollback lock every console sees: an annotation on the Deployment itself.

``acquire`` writes ``rollback-console.io/lock`` (operator, host, expiry) with
a merge patch guarded by the resourceVersion it read; when the write loses
(409) and the Deployment now carries someone else's lock, that is
``LockHeld``; a 409 caused by anything else (a status update) is retried.  An
expired lock is taken over with a warning.  The lock binds consoles only:
``kubectl rollout undo`` replaces the annotations and drops it, so the
console's own undo keeps it (``rollout.undo_annotations(keep=...)``) and a
saved manifest never carries it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from console.model import utcnow
from providers.base import Conflict, LockHeld, NotFound
from providers.kubernetes import rollout as ro
from providers.kubernetes.client import Cluster

#: The annotation other consoles read to see who is rolling this Deployment back.
LOCK_ANNOTATION = "rollback-console.io/lock"
#: How often taking or releasing the lock retries after a 409 caused by something else.
LOCK_ATTEMPTS = 5
_MERGE = "application/merge-patch+json"


@dataclass(frozen=True)
class LockInfo:
    """The lock annotation, decoded."""

    operator: str
    host: str
    acquired: datetime | None
    expires: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.expires is None or self.expires <= now

    def describe(self) -> str:
        until = f" until {self.expires:%Y-%m-%d %H:%M:%S} UTC" if self.expires else ""
        return f"{self.operator} on {self.host}{until}"

    @staticmethod
    def parse(raw: str | None) -> LockInfo | None:
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return LockInfo(
                operator=str(data.get("operator", "?")),
                host=str(data.get("host", "?")),
                acquired=ro.parse_time(data.get("acquired")),
                expires=ro.parse_time(data.get("expires")),
            )
        except (ValueError, AttributeError):
            return LockInfo("(unreadable lock annotation)", "?", None, None)


def lock_of(deployment: Mapping[str, Any]) -> LockInfo | None:
    """The lock ``deployment`` carries (expired or not), or None."""
    return LockInfo.parse(ro.annotations_of(deployment).get(LOCK_ANNOTATION))


def _value(operator: str, host: str, ttl_s: float) -> str:
    now = utcnow()
    return json.dumps(
        {
            "operator": operator,
            "host": host,
            "acquired": ro.stamp(now),
            "expires": ro.stamp(now + timedelta(seconds=ttl_s)),
        },
        separators=(",", ":"),
    )


def acquire(cluster: Cluster, environment: str, operator: str, host: str, ttl_s: float) -> str:
    """Write the lock annotation; the warning to show ("" if none); ``LockHeld`` if held."""
    name = cluster.name
    for _ in range(LOCK_ATTEMPTS):
        try:
            d = cluster.get_deployment()
        except NotFound:
            if not cluster.namespace_exists():
                raise
            return (
                f"deployment/{name} does not exist, so no lock annotation could be written "
                "(it is being created again)"
            )
        held = lock_of(d)
        warning = ""
        if held is not None:
            mine = held.operator == operator and held.host == host
            if not held.expired(utcnow()) and not mine:
                raise LockHeld(
                    f"deployment/{name} ({environment}) is being rolled back by "
                    f"{held.describe()} (annotation {LOCK_ANNOTATION}); coordinate with them "
                    "or wait for the lock to expire"
                )
            if held.expired(utcnow()) and not mine:
                warning = f"took over an expired rollback lock of {held.describe()}"
        patch = {
            "metadata": {
                "resourceVersion": d["metadata"]["resourceVersion"],
                "annotations": {LOCK_ANNOTATION: _value(operator, host, ttl_s)},
            }
        }
        try:
            cluster.patch(f"lock {cluster.target}", patch, _MERGE)
        except Conflict:
            continue  # re-read: someone else's lock now, or only a status update
        return warning
    raise LockHeld(
        f"deployment/{name} kept changing while the rollback lock was being taken "
        f"({LOCK_ATTEMPTS} attempts); someone else is working on it"
    )


def release(cluster: Cluster, operator: str, host: str) -> None:
    """Remove the lock annotation if this operator on this host still holds it."""
    for _ in range(LOCK_ATTEMPTS):
        try:
            d = cluster.get_deployment()
        except NotFound:
            return
        held = lock_of(d)
        if held is None or held.operator != operator or held.host != host:
            return
        patch = {
            "metadata": {
                "resourceVersion": d["metadata"]["resourceVersion"],
                "annotations": {LOCK_ANNOTATION: None},
            }
        }
        try:
            cluster.patch(f"unlock {cluster.target}", patch, _MERGE)
        except Conflict:
            continue
        return
    raise Conflict(f"could not release the rollback lock on deployment/{cluster.name}")
