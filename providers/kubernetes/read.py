"""Reading a Deployment: its revisions as ``kubectl rollout history`` lists them, pods, events.

Revision numbers move: the deployment controller gives a ReplicaSet that is
rolled back to the next revision number (and records the old one in
``deployment.kubernetes.io/revision-history``): after a rollback to revision
2 of 4, the live revision is 5.  ``Revision.detail`` says "was revision 2" so
an operator can follow it.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from console.config import ServiceConfig
from console.model import PlatformEvent, Revision, Snapshot, Unit, utcnow
from providers.base import Forbidden, NotFound, ProviderError
from providers.kubernetes import rollout as ro
from providers.kubernetes.client import JSON, Cluster, short
from providers.kubernetes.lock import lock_of

#: Events shown in a snapshot (newest first).
MAX_EVENTS = 50


@contextlib.contextmanager
def bulk_decoding() -> Iterator[None]:
    """Pause the cyclic garbage collector while thousands of JSON dicts are built.

    ``json.loads`` makes no reference cycles, but allocating millions of
    objects triggers repeated full collections that scan them all: with 5,000
    pods that is a third of the snapshot's time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class State:
    """One consistent read of the Deployment and what it owns, as plain dicts."""

    deployment: JSON
    owned: list[JSON]
    old: list[JSON]
    new: JSON | None
    history: dict[int, JSON]
    pods: list[JSON] = field(default_factory=list)
    events: list[JSON] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.deployment["metadata"]["name"])


def read_state(cluster: Cluster, *, pods: bool = False, events: bool = False) -> State:
    """The Deployment, its ReplicaSets (and, when asked, its pods and the namespace's events)."""
    deployment = cluster.get_deployment()
    owned = cluster.replicasets(deployment)
    old, new = ro.split_replicasets(deployment, owned)
    state = State(deployment, owned, old, new, ro.rollout_history(deployment, owned))
    if pods:
        state.pods = cluster.pods(deployment)
    if events:
        try:
            state.events = cluster.list_items(
                f"list the events of namespace {cluster.k8s.namespace}",
                cluster.clients().core.list_namespaced_event,
            )
        except (Forbidden, NotFound):
            state.events = []
    return state


# --------------------------------------------------------------------------- translation


def revision(cluster: Cluster, state: State, number: int, rs: JSON) -> Revision:
    """Revision ``number`` (ReplicaSet ``rs``) as the console shows it."""
    template = ro.template_of(rs)
    version, image = cluster.version(template)
    status = rs.get("status") or {}
    replicas = int(rs.get("spec", {}).get("replicas") or 0)
    parts = [
        f"ReplicaSet {rs['metadata']['name']}",
        f"{int(status.get('readyReplicas') or 0)}/{replicas} ready",
    ]
    others = [
        f"{c.get('name')}={c.get('image')}"
        for c in ro.containers_of(template)
        if c.get("image") != image
    ]
    if others:
        parts.append("also " + ", ".join(others))
    was = ro.revision_history_of(rs)
    if was:
        parts.append(f"was revision {', '.join(was)}")
    return Revision(
        id=str(number),
        version=version,
        created=ro.parse_time(rs["metadata"].get("creationTimestamp")),
        change_cause=ro.annotations_of(rs).get(ro.CHANGE_CAUSE, ""),
        image=image,
        current=rs is state.new,
        detail=" · ".join(parts),
    )


def revisions(cluster: Cluster, state: State) -> tuple[Revision, ...]:
    """Every revision of the history, newest first."""
    return tuple(
        revision(cluster, state, number, state.history[number])
        for number in sorted(state.history, reverse=True)
    )


def current(cluster: Cluster, state: State, listed: Sequence[Revision]) -> Revision:
    """The live revision; the Deployment's own template when no ReplicaSet has it yet."""
    found = next((r for r in listed if r.current), None)
    if found is not None:
        return found
    template = ro.template_of(state.deployment)
    version, image = cluster.version(template)
    return Revision(
        id=ro.annotations_of(state.deployment).get(ro.REVISION, ""),
        version=version,
        created=None,
        change_cause=ro.annotations_of(state.deployment).get(ro.CHANGE_CAUSE, ""),
        image=image,
        current=True,
        detail="the Deployment's template matches no ReplicaSet yet",
    )


def known(cluster: Cluster, state: State) -> str:
    """``1 (v1.0.0), 2 (v1.1.0)``: the revisions a message lists."""
    labels = []
    for number in sorted(state.history):
        version = cluster.version(ro.template_of(state.history[number]))[0]
        labels.append(f"{number} ({version})")
    return ", ".join(labels) or "none"


def _units(state: State) -> tuple[Unit, ...]:
    revision_by_hash: dict[str, str] = {}
    for rs in state.owned:
        labels = (rs.get("metadata", {}).get("labels")) or {}
        pod_hash = labels.get(ro.HASH_LABEL) or (
            ro.template_of(rs).get("metadata", {}).get("labels") or {}
        ).get(ro.HASH_LABEL)
        number = ro.revision_of(rs)
        if pod_hash and number is not None:
            revision_by_hash[str(pod_hash)] = str(number)
    units = []
    for pod in state.pods:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        reason, restarts, detail = ro.pod_state(pod)
        status = pod.get("status") or {}
        units.append(
            Unit(
                name=str(meta.get("name", "")),
                state=reason,
                ready=ro.pod_ready(pod),
                revision=revision_by_hash.get(str(labels.get(ro.HASH_LABEL, "")), ""),
                restarts=restarts,
                started=ro.parse_time(status.get("startTime")),
                node=str((pod.get("spec") or {}).get("nodeName", "")),
                detail=detail,
            )
        )
    return tuple(units)


def _events(state: State) -> tuple[PlatformEvent, ...]:
    involved = {("Deployment", state.name)}
    involved |= {("ReplicaSet", str(rs["metadata"]["name"])) for rs in state.owned}
    involved |= {("Pod", str((p.get("metadata") or {}).get("name", ""))) for p in state.pods}
    chosen = []
    for event in state.events:
        obj = event.get("involvedObject") or event.get("regarding") or {}
        if (obj.get("kind"), obj.get("name")) not in involved:
            continue
        at = (
            ro.parse_time(event.get("lastTimestamp"))
            or ro.parse_time(event.get("eventTime"))
            or ro.parse_time((event.get("series") or {}).get("lastObservedTime"))
            or ro.parse_time((event.get("metadata") or {}).get("creationTimestamp"))
        )
        chosen.append(
            PlatformEvent(
                at=at,
                kind=str(event.get("type", "")),
                reason=str(event.get("reason", "")),
                object=f"{obj.get('kind')}/{obj.get('name')}",
                message=short(str(event.get("message") or event.get("note") or "")),
                count=int(event.get("count") or (event.get("series") or {}).get("count") or 1),
            )
        )
    oldest = datetime.min.replace(tzinfo=UTC)
    chosen.sort(key=lambda e: e.at or oldest, reverse=True)
    return tuple(chosen[:MAX_EVENTS])


def _facts(cluster: Cluster, state: State) -> tuple[tuple[str, str], ...]:
    d = state.deployment
    spec, status = d.get("spec") or {}, d.get("status") or {}
    generation = int(d["metadata"].get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    facts = [
        ("deployment", f"{cluster.k8s.namespace}/{state.name}"),
        ("cluster", cluster.where),
        ("selector", ro.selector_string(spec.get("selector"))),
        (
            "generation",
            f"{generation} (observed {observed})"
            + ("" if observed >= generation else ": not yet seen by the controller"),
        ),
        (
            "replicas",
            f"{int(spec.get('replicas') or 0)} desired · "
            f"{int(status.get('updatedReplicas') or 0)} updated · "
            f"{int(status.get('readyReplicas') or 0)} ready · "
            f"{int(status.get('availableReplicas') or 0)} available"
            + (
                f" · {int(status['unavailableReplicas'])} unavailable"
                if status.get("unavailableReplicas")
                else ""
            ),
        ),
    ]
    strategy = spec.get("strategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    kind = str(strategy.get("type", "RollingUpdate"))
    if kind == "RollingUpdate":
        kind += (
            f" (maxSurge {rolling.get('maxSurge', '25%')}, "
            f"maxUnavailable {rolling.get('maxUnavailable', '25%')})"
        )
    facts.append(("strategy", kind))
    if spec.get("progressDeadlineSeconds") is not None:
        facts.append(("progress deadline", f"{spec['progressDeadlineSeconds']} s"))
    facts.append(("paused", "yes" if spec.get("paused") else "no"))
    for cond in status.get("conditions") or []:
        text = f"{cond.get('status')} ({cond.get('reason', '')})"
        if cond.get("message"):
            text += f": {short(str(cond['message']), 160)}"
        facts.append((str(cond.get("type", "")), text))
    _, _, message = ro.rollout_status(d)
    facts.append(("rollout", message))
    images = ", ".join(
        f"{c.get('name')}={c.get('image')}" for c in ro.containers_of(ro.template_of(d))
    )
    facts.append(("images", images))
    lock = lock_of(d)
    if lock is not None:
        facts.append(("lock", lock.describe()))
    return tuple(facts)


def resume_first(cluster: Cluster, name: str) -> str:
    """The command that un-pauses deployment ``name``, as kubectl's refusals name it."""
    return cluster.kubectl("rollout", "resume", f"deployment/{name}")


def _notes(cluster: Cluster, state: State, units: Sequence[Unit]) -> tuple[str, ...]:
    d = state.deployment
    notes = []
    if (d.get("spec") or {}).get("paused"):
        notes.append(
            f"deployment/{state.name} is paused: kubectl rollout undo refuses it until "
            f"`{resume_first(cluster, state.name)}`"
        )
    _, failed, message = ro.rollout_status(d)
    if failed:
        notes.append(f"{message}: the rollout is stuck")
    if state.new is None:
        notes.append(
            f"the template of deployment/{state.name} matches no ReplicaSet yet "
            "(paused, or the controller has not acted)"
        )
    lock = lock_of(d)
    if lock is not None:
        state_word = "expired" if lock.expired(utcnow()) else "held"
        notes.append(f"rollback lock {state_word}: {lock.describe()}")
    not_ready = sum(1 for u in units if not u.ready)
    if not_ready:
        notes.append(f"{not_ready} of {len(units)} pods not ready")
    return tuple(notes)


def snapshot(
    cluster: Cluster,
    service: ServiceConfig,
    provider: str,
    more_notes: Callable[[JSON], tuple[str, ...]] | None = None,
) -> Snapshot:
    """Deployment, revisions as ``kubectl rollout history`` lists them, pods, events.

    ``more_notes``: further notes about the Deployment read (what the console
    suspended), after the ones of this module."""
    with bulk_decoding():
        state = read_state(cluster, pods=True, events=True)
        listed = revisions(cluster, state)
        units = _units(state)
        events = _events(state)
    return Snapshot(
        service=service.name,
        environment=service.environment,
        provider=provider,
        taken_at=utcnow(),
        current=current(cluster, state, listed),
        revisions=listed,
        units=units,
        paused=bool((state.deployment.get("spec") or {}).get("paused")),
        notes=(
            *_notes(cluster, state, units),
            *(more_notes(state.deployment) if more_notes is not None else ()),
        ),
        events=events,
        facts=_facts(cluster, state),
    )


# --------------------------------------------------------------------------- logs


def logs(cluster: Cluster, unit: str, lines: int = 50) -> tuple[str, ...]:
    """The last ``lines`` lines of pod ``unit`` (its main container); the previous run's
    when the current one has printed nothing yet after a crash."""
    namespace = cluster.k8s.namespace
    try:
        pod = cluster.decode(
            cluster.call(
                f"read pod {unit}",
                cluster.clients().core.read_namespaced_pod,
                unit,
                namespace,
                _preload_content=False,
            )
        )
    except NotFound:
        raise NotFound(
            f"pod {unit!r} not found in namespace {namespace!r} (it may have been "
            "replaced; refresh the pod list)"
        ) from None
    container = ro.main_container(pod, cluster.k8s.container)
    kwargs: dict[str, Any] = {"tail_lines": max(1, lines)}
    if container is not None:
        kwargs["container"] = container.get("name")
    text = _log_text(cluster, unit, kwargs)
    restarts = ro.pod_state(pod)[1]
    if not text.strip() and restarts:
        with contextlib.suppress(ProviderError):
            text = _log_text(cluster, unit, {**kwargs, "previous": True})
    return tuple(text.splitlines()[-lines:])


def _log_text(cluster: Cluster, unit: str, kwargs: dict[str, Any]) -> str:
    response = cluster.call(
        f"read the log of pod {unit}",
        cluster.clients().core.read_namespaced_pod_log,
        unit,
        cluster.k8s.namespace,
        _preload_content=False,
        **kwargs,
    )
    try:
        data = response.data
    finally:
        with contextlib.suppress(Exception):
            response.release_conn()
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
