"""Reading a Cloud Run service into the console's model: the dashboard's snapshot.

What "current" means: Cloud Run has no single current revision, traffic is
split.  The current revision is the one receiving the largest share of what is
*served* (``traffic_statuses``; a LATEST share counts for the latest Ready
revision).  The API lists no instances: each unit is a revision that receives
traffic or carries a tag, with its own conditions.
"""

from __future__ import annotations

from collections.abc import Sequence

from console.config import ServiceConfig
from console.model import Revision, Snapshot, TrafficTarget, Unit, utcnow
from console.textsafe import one_line
from providers.cloudrun.client import CloudRunClient, State
from providers.cloudrun.traffic import (
    describe_routes,
    describe_split,
    effective,
    same_routes,
)
from providers.cloudrun.views import RevisionView, ServiceView

#: The provider's name, as snapshots and plans give it.
NAME = "cloudrun"


class Reader:
    """Builds snapshots of the service ``client`` talks to (see the module docstring)."""

    def __init__(self, service: ServiceConfig, client: CloudRunClient) -> None:
        self.service = service
        self.client = client

    def snapshot(self, state: State | None = None) -> Snapshot:
        """Traffic (served and asked for), revisions newest first, serving revisions as units."""
        return self.snapshot_of(self.client.state() if state is None else state)

    def current_name(self, state: State) -> str:
        served = state.service.served
        if not served:
            return state.service.latest_ready
        created = {r.name: r.created.timestamp() if r.created else 0.0 for r in state.revisions}
        return max(served, key=lambda name: (served[name], created.get(name, 0.0), name))

    def versions(self, revisions: Sequence[RevisionView]) -> dict[str, str]:
        """Revision -> label: its image tag when no other revision shares it, else its name."""
        counts: dict[str, int] = {}
        for rev in revisions:
            if rev.tag:
                counts[rev.tag] = counts.get(rev.tag, 0) + 1
        return {r.name: r.tag if r.tag and counts[r.tag] == 1 else r.name for r in revisions}

    def snapshot_of(self, state: State) -> Snapshot:
        """The snapshot of what was read in ``state``."""
        svc = state.service
        served = svc.served
        current_name = self.current_name(state)
        versions = self.versions(state.revisions)
        tags: dict[str, list[str]] = {}
        for route in svc.statuses or svc.traffic:
            if route.tag:
                name = (route.revision or svc.latest_ready) if route.latest else route.revision
                tags.setdefault(name, []).append(route.tag)
        revisions = []
        units = []
        for rev in state.revisions:
            share = served.get(rev.name, 0)
            detail = self._revision_detail(rev, share, tags.get(rev.name, []), svc)
            revisions.append(
                Revision(
                    id=rev.name,
                    version=versions[rev.name],
                    created=rev.created,
                    change_cause=f"deployed by {rev.creator}" if rev.creator else "",
                    image=rev.image,
                    current=rev.name == current_name,
                    detail=detail,
                )
            )
            if share > 0 or rev.name in tags:
                units.append(self._unit(rev, share, tags.get(rev.name, [])))
        current = next((r for r in revisions if r.current), None)
        traffic = tuple(
            TrafficTarget(
                revision=(route.revision or svc.latest_ready) if route.latest else route.revision,
                percent=route.percent,
                tag=route.tag,
                latest=route.latest,
            )
            for route in (svc.statuses or effective(svc.traffic))
        )
        return Snapshot(
            service=self.service.name,
            environment=self.service.environment,
            provider=NAME,
            taken_at=utcnow(),
            current=current,
            revisions=tuple(revisions),
            units=tuple(units),
            traffic=traffic,
            notes=tuple(self._notes(state, current_name)),
            facts=tuple(self._facts(state)),
        )

    @staticmethod
    def _revision_detail(rev: RevisionView, share: int, tags: list[str], svc: ServiceView) -> str:
        ready = rev.ready
        if ready is None:
            parts = ["Ready unknown"]
        elif ready.ok:
            parts = ["Ready"]
        else:
            parts = [
                f"NOT READY ({ready.state_name}" + (f": {ready.message})" if ready.message else ")")
            ]
        parts.append(f"serving {share}%" if share else "no traffic")
        if tags:
            parts.append("tag " + ", ".join(tags))
        if rev.name == svc.latest_ready:
            parts.append("latest ready")
        if rev.name == svc.latest_created and rev.name != svc.latest_ready:
            parts.append("latest created")
        return "; ".join(parts)

    @staticmethod
    def _unit(rev: RevisionView, share: int, tags: list[str]) -> Unit:
        ready = rev.ready
        state = f"serving {share}%" if share else "tag only (0%)"
        details = [c.describe() for c in rev.conditions if c.type != "Ready"]
        if rev.desired_min_instances is not None:
            details.append(f"min instances {rev.desired_min_instances} (desired)")
        elif rev.min_instances:
            details.append(f"min instances {rev.min_instances}")
        if tags:
            details.append("tags " + ", ".join(tags))
        if ready is not None and not ready.ok and ready.message:
            details.insert(0, ready.message)
        return Unit(
            name=rev.name,
            state=state if ready is None or ready.ok else f"{state}, Ready {ready.state_name}",
            ready=ready is not None and ready.ok,
            revision=rev.name,
            started=rev.created,
            detail="; ".join(details),
        )

    def _notes(self, state: State, current_name: str) -> list[str]:
        svc = state.service
        notes = [
            "Cloud Run's API does not list instances: each unit is a revision that "
            "receives traffic or carries a tag, with its own conditions."
        ]
        if not same_routes(svc.traffic, svc.statuses) and svc.statuses:
            notes.append(
                f"traffic asked for ({describe_routes(svc.traffic, svc.latest_ready)}) differs "
                f"from traffic served ({describe_routes(svc.statuses, svc.latest_ready)})"
            )
        if svc.reconciling or svc.observed_generation < svc.generation:
            notes.append(
                f"a change is in progress (generation {svc.generation}, "
                f"observed {svc.observed_generation})"
            )
        if svc.terminal is not None and not svc.terminal.ok and not svc.reconciling:
            notes.append(f"the service is not Ready: {svc.terminal.describe()}")
        if svc.latest_created and svc.latest_created != svc.latest_ready:
            rev = state.revision(svc.latest_created)
            why = rev.ready.message if rev is not None and rev.ready is not None else ""
            notes.append(
                f"the newest revision {svc.latest_created} is not Ready"
                + (f" ({one_line(why, 200)})" if why else "")
                + f"; LATEST still means {svc.latest_ready or 'nothing'}"
            )
        if svc.pinned:
            notes.append(
                "traffic is pinned to revisions: a new deploy receives no traffic until it "
                f"is sent to LATEST (`{self.client.gcloud(None)}`)"
            )
        if len(svc.served) > 1:
            split = sorted(svc.served.items(), key=lambda item: (-item[1], item[0]))
            notes.append(f"traffic is split: {describe_split(split)}")
        return notes

    @staticmethod
    def _facts(state: State) -> list[tuple[str, str]]:
        svc = state.service
        facts = [
            ("traffic served", describe_routes(svc.statuses, svc.latest_ready) or "(none)"),
            ("traffic asked", describe_routes(svc.traffic, svc.latest_ready)),
            ("generation", f"{svc.generation} (observed {svc.observed_generation})"),
            ("latest ready", svc.latest_ready or "(none)"),
            ("latest created", svc.latest_created or "(none)"),
            ("reconciling", "yes" if svc.reconciling else "no"),
        ]
        if svc.terminal is not None:
            facts.append(("Ready", svc.terminal.describe()))
        for cond in svc.conditions:
            facts.append((cond.type, cond.describe().removeprefix(cond.type + " ")))
        if svc.uri:
            facts.append(("URL", svc.uri))
        if svc.last_modifier:
            facts.append(("last modified by", svc.last_modifier))
        return facts

    # ------------------------------------------------------------------ plan
