"""The platform's state as every provider reports it: revisions, units, events, a snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

# --------------------------------------------------------------------------- platform state


@dataclass(frozen=True)
class Revision:
    """One deployable version of a service as the platform knows it.

    ``id`` is what the platform calls it (a release folder name, a git commit,
    a Kubernetes revision number, an ECS ``family:rev``, a Cloud Run revision
    name) and is what ``--to`` accepts; ``version`` is the human label (tag,
    image tag, release name) shown beside it.
    """

    id: str
    version: str
    created: datetime | None = None
    change_cause: str = ""
    image: str = ""
    current: bool = False
    detail: str = ""


@dataclass(frozen=True)
class Unit:
    """One running piece of the service: a process, a pod, a task, an instance."""

    name: str
    state: str
    ready: bool
    revision: str = ""
    restarts: int = 0
    started: datetime | None = None
    node: str = ""
    detail: str = ""
    #: Kept by the platform as history, not expected to run (Swarm's shut-down tasks):
    #: shown, but never counted as a unit that is not ready.
    retired: bool = False


def live_units(units: Sequence[Unit]) -> tuple[Unit, ...]:
    """The units expected to run: what "N/M ready" counts (history left out)."""
    return tuple(u for u in units if not u.retired)


@dataclass(frozen=True)
class TrafficTarget:
    """Share of traffic a revision receives (Cloud Run, blue/green, canaries)."""

    revision: str
    percent: int
    tag: str = ""
    #: The share follows the latest Ready revision (Cloud Run's LATEST); ``revision``
    #: is the one it resolves to now.
    latest: bool = False


@dataclass(frozen=True)
class PlatformEvent:
    """Something the platform reported about the service (a Kubernetes Event, an ECS event)."""

    at: datetime | None
    kind: str
    reason: str
    object: str
    message: str
    count: int = 1


@dataclass(frozen=True)
class RestorePoint:
    """A copy of the service's data the platform can restore from (an RDS snapshot).

    Listed on the dashboard so the operator sees, before deciding, how old the
    newest copy is; restoring one is a provider action of its own.
    """

    id: str
    created: datetime | None
    status: str
    detail: str = ""


@dataclass(frozen=True)
class Snapshot:
    """What a provider saw of one service at one moment."""

    service: str
    environment: str
    provider: str
    taken_at: datetime
    current: Revision | None
    revisions: tuple[Revision, ...] = ()
    units: tuple[Unit, ...] = ()
    traffic: tuple[TrafficTarget, ...] = ()
    paused: bool = False
    #: A platform state the operator must see before anything else, shown loudly on the
    #: dashboard's status line ("update paused: <message>" for a Swarm update that failed
    #: half-way); "" when there is none.
    alert: str = ""
    #: What ``r`` with the default target does about ``alert`` ("roll back the paused
    #: update to local/web:v2"), shown beside it; "" when the alert has no such action.
    alert_action: str = ""
    notes: tuple[str, ...] = ()
    #: Recent platform events, newest first.
    events: tuple[PlatformEvent, ...] = ()
    #: Provider-specific facts shown as "key: value" lines (generation, conditions,
    #: deployments, circuit breaker...): label -> value.
    facts: tuple[tuple[str, str], ...] = ()
    #: Where ``restore_points`` come from ("RDS orders-db"); "" = this provider has none.
    restore_source: str = ""
    #: Restore points, newest first (RDS snapshots of the service's database).
    restore_points: tuple[RestorePoint, ...] = ()
    #: Why the restore points could not be read ("" when they were).
    restore_error: str = ""

    def previous(self) -> Revision | None:
        """The revision a plain "roll back" goes to: the one listed right after the current one.

        Revisions are newest first, so this is the release deployed before the live
        one (kubectl's "previous" for Kubernetes).  With no known current revision,
        the newest revision is returned.
        """
        ids = [r.id for r in self.revisions]
        if self.current is None or self.current.id not in ids:
            return self.revisions[0] if self.revisions else None
        idx = ids.index(self.current.id)
        return self.revisions[idx + 1] if idx + 1 < len(self.revisions) else None

    def find(self, rev_id: str) -> Revision | None:
        """The revision whose id (or, failing that, version label) equals ``rev_id``."""
        for rev in self.revisions:
            if rev.id == rev_id:
                return rev
        for rev in self.revisions:
            if rev.version == rev_id:
                return rev
        return None
