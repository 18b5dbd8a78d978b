"""kubectl's rollout rules, on Deployments, ReplicaSets and Pods as plain JSON dicts.

These are the decisions ``kubectl rollout history | undo | status`` make
(kubectl 1.32, ``pkg/polymorphichelpers`` and ``pkg/util/deployment``),
written down once so the provider and its tests agree with kubectl:

* **Which ReplicaSets count**: those listed with the Deployment's selector
  whose controller ``ownerReference`` is the Deployment (by uid).
* **The new ReplicaSet**: the oldest (by creation time, then name) whose pod
  template equals the Deployment's, ignoring the ``pod-template-hash`` label.
* **A revision**: the ``deployment.kubernetes.io/revision`` annotation; a
  ReplicaSet without it is revision 0, one with an unparsable value is left
  out.
* **History**: revision -> ReplicaSet, the old ReplicaSets in creation order
  and then the new one, a later one replacing an earlier one with the same
  number; listed in ascending order with the ReplicaSet's
  ``kubernetes.io/change-cause`` (``<none>`` when empty).
* **Undo target**: a given revision must match exactly ("unable to find
  specified revision N in history"); revision 0 means the second highest
  ("no rollout history found for deployment" when there is none).
* **Undo**: refused for a paused Deployment; skipped when the target's template
  already equals the Deployment's; otherwise one JSON patch replacing
  ``/spec/template`` (the target's template without ``pod-template-hash``)
  and ``/metadata/annotations`` (the Deployment's own last-applied,
  revision, revision-history, desired-replicas, max-replicas and
  rollback-to annotations, plus every other annotation of the ReplicaSet).
* **Status**: nothing is judged until ``generation <= observedGeneration``;
  a Progressing condition with reason ``ProgressDeadlineExceeded`` is a
  failure; then it waits while updated < spec.replicas, while replicas >
  updated (old pods terminating) and while available < updated.

Nothing here does I/O, so it is tested directly and the provider only moves
dicts between these functions and the API.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
HASH_LABEL = "pod-template-hash"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"

#: Annotations ``kubectl rollout undo`` keeps from the Deployment instead of the ReplicaSet.
UNDO_KEEPS_FROM_DEPLOYMENT = frozenset(
    {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO}
)

#: Keys whose empty value is not the same as leaving them out (an emptyDir volume).
_EMPTY_MEANS_SOMETHING = frozenset({"emptyDir"})

JSON = dict[str, Any]


class UndoError(ValueError):
    """kubectl would refuse this undo; ``str(err)`` is kubectl's own message."""


# --------------------------------------------------------------------------- small accessors


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, Mapping) else {}


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    value = meta(obj).get("annotations")
    return dict(value) if isinstance(value, Mapping) else {}


def template_of(obj: Mapping[str, Any]) -> JSON:
    spec = obj.get("spec")
    template = spec.get("template") if isinstance(spec, Mapping) else None
    return dict(template) if isinstance(template, Mapping) else {}


def stamp(when: datetime) -> str:
    """``2026-01-05T02:00:00Z``: a time as the API and kubectl's annotations write it."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 timestamp from the API, as an aware datetime (None if absent or bad)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def revision_of(obj: Mapping[str, Any]) -> int | None:
    """kubectl's ``Revision``: 0 without the annotation, None when it does not parse."""
    value = annotations_of(obj).get(REVISION)
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        return None


def revision_history_of(rs: Mapping[str, Any]) -> tuple[str, ...]:
    """Revisions this ReplicaSet held before a rollback gave it a new number."""
    raw = annotations_of(rs).get(REVISION_HISTORY, "")
    return tuple(part for part in raw.split(",") if part)


def controlled_by(obj: Mapping[str, Any], uid: str) -> bool:
    refs = meta(obj).get("ownerReferences") or []
    return any(ref.get("uid") == uid and ref.get("controller") is True for ref in refs)


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """The ``labelSelector`` query for a LabelSelector (matchLabels and matchExpressions)."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = ",".join(sorted(expr.get("values") or []))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def image_tag(image: str) -> str:
    """The human label of an image: its tag, ``sha256:<12 hex>`` for a digest, else ``latest``."""
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        digest = last.split("@", 1)[1]
        algo, _, hexes = digest.partition(":")
        return f"{algo}:{hexes[:12]}" if hexes else digest
    if ":" in last:
        return last.rsplit(":", 1)[1]
    return "latest" if image else ""


def containers_of(template: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = template.get("spec")
    found = spec.get("containers") if isinstance(spec, Mapping) else None
    return [c for c in found or [] if isinstance(c, Mapping)]


def main_container(template: Mapping[str, Any], name: str = "") -> Mapping[str, Any] | None:
    """The container whose image is "the version": ``name`` if it exists, else the first."""
    containers = containers_of(template)
    if name:
        for container in containers:
            if container.get("name") == name:
                return container
    return containers[0] if containers else None


# --------------------------------------------------------------------------- templates


def _semantic(value: Any, key: str = "") -> Any:
    """Go's semantic equality on JSON: null, [] and {} equal an absent field."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            cleaned = _semantic(v, k)
            if cleaned is None:
                continue
            if cleaned in ({}, []) and k not in _EMPTY_MEANS_SOMETHING:
                continue
            out[k] = cleaned
        return out
    if isinstance(value, list):
        return [_semantic(v, key) for v in value]
    return value


def semantic(value: Any) -> Any:
    """``value`` with what Go's semantic equality ignores left out (null, [] and {} fields)."""
    return _semantic(value)


def without_hash(template: Mapping[str, Any]) -> JSON:
    """A deep copy of a pod template without the ``pod-template-hash`` label."""
    copied: JSON = copy.deepcopy(dict(template))
    labels = (copied.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return copied


def equal_ignore_hash(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """kubectl's ``equalIgnoreHash``: equal templates once the hash label is dropped."""
    return bool(_semantic(without_hash(a)) == _semantic(without_hash(b)))


def template_digest(template: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of a pod template: equal exactly when ``equal_ignore_hash`` says so.

    A step's params (journaled as they are) carry this instead of the template,
    which may hold environment values.
    """
    canonical = json.dumps(
        _semantic(without_hash(template)), sort_keys=True, separators=(",", ":"), default=str
    )
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def restarted_at(obj: Mapping[str, Any]) -> str:
    """The ``restartedAt`` annotation of a Deployment's pod template ("" when none)."""
    annotations = (template_of(obj).get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(RESTARTED_AT, ""))


# --------------------------------------------------------------------------- ReplicaSets


def owned_replicasets(deployment: Mapping[str, Any], items: Iterable[JSON]) -> list[JSON]:
    uid = str(meta(deployment).get("uid", ""))
    return [rs for rs in items if controlled_by(rs, uid)]


def _creation_key(rs: Mapping[str, Any]) -> tuple[str, str]:
    created = parse_time(meta(rs).get("creationTimestamp"))
    return created.isoformat() if created else "", str(meta(rs).get("name", ""))


def split_replicasets(
    deployment: Mapping[str, Any], owned: Sequence[JSON]
) -> tuple[list[JSON], JSON | None]:
    """(old ReplicaSets in creation order, the new one or None), as ``GetAllReplicaSets``."""
    ordered = sorted(owned, key=_creation_key)
    wanted = _semantic(without_hash(template_of(deployment)))
    new = next((rs for rs in ordered if _semantic(without_hash(template_of(rs))) == wanted), None)
    old = [rs for rs in ordered if rs is not new]
    return old, new


def rollout_history(deployment: Mapping[str, Any], owned: Sequence[JSON]) -> dict[int, JSON]:
    """revision -> ReplicaSet, exactly the entries ``kubectl rollout history`` prints."""
    old, new = split_replicasets(deployment, owned)
    history: dict[int, JSON] = {}
    for rs in [*old, *([new] if new is not None else [])]:
        number = revision_of(rs)
        if number is not None:
            history[number] = rs
    return history


def history_table(deployment: Mapping[str, Any], owned: Sequence[JSON]) -> list[tuple[int, str]]:
    """(revision, change cause or ``<none>``) ascending, the rows of ``rollout history``."""
    history = rollout_history(deployment, owned)
    return [
        (number, annotations_of(history[number]).get(CHANGE_CAUSE) or "<none>")
        for number in sorted(history)
    ]


def undo_target(deployment: Mapping[str, Any], owned: Sequence[JSON], to_revision: int) -> JSON:
    """The ReplicaSet ``kubectl rollout undo [--to-revision=N]`` rolls back to.

    Raises ``UndoError`` with kubectl's message when there is none.
    """
    if to_revision < 0:
        raise UndoError(f"unable to find specified revision {to_revision} in history")
    old, new = split_replicasets(deployment, owned)
    latest: JSON | None = None
    previous: JSON | None = None
    latest_rev = previous_rev = -1
    for rs in [*old, *([new] if new is not None else [])]:
        number = revision_of(rs)
        if number is None:
            continue
        if to_revision == 0:
            if latest_rev < number:
                previous, previous_rev = latest, latest_rev
                latest, latest_rev = rs, number
            elif previous_rev < number:
                previous, previous_rev = rs, number
        elif to_revision == number:
            return rs
    if to_revision > 0:
        raise UndoError(f"unable to find specified revision {to_revision} in history")
    if previous is None:
        name = meta(deployment).get("name", "")
        raise UndoError(f'no rollout history found for deployment "{name}"')
    return previous


def undo_annotations(
    deployment: Mapping[str, Any], rs: Mapping[str, Any], *, keep: Iterable[str] = ()
) -> dict[str, str]:
    """The annotations kubectl's undo patch gives the Deployment.

    ``keep`` names further annotations that stay as the Deployment has them and
    are never taken from the ReplicaSet (the console's own lock).
    """
    kept = UNDO_KEEPS_FROM_DEPLOYMENT | frozenset(keep)
    current = annotations_of(deployment)
    result = {k: current[k] for k in sorted(kept) if k in current}
    for key, value in annotations_of(rs).items():
        if key not in kept:
            result[key] = value
    return result


def undo_patch(rs: Mapping[str, Any], new_annotations: Mapping[str, str]) -> list[JSON]:
    """kubectl's JSON patch: replace ``/spec/template`` and ``/metadata/annotations``."""
    return [
        {"op": "replace", "path": "/spec/template", "value": without_hash(template_of(rs))},
        {"op": "replace", "path": "/metadata/annotations", "value": dict(new_annotations)},
    ]


# --------------------------------------------------------------------------- rollout status


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def condition(deployment: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    status = deployment.get("status")
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    for cond in conditions or []:
        if isinstance(cond, Mapping) and cond.get("type") == kind:
            return cond
    return None


def rollout_status(deployment: Mapping[str, Any]) -> tuple[bool, bool, str]:
    """(done, failed, message) as ``kubectl rollout status`` decides them, one poll."""
    name = meta(deployment).get("name", "")
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    generation = _int(meta(deployment).get("generation"))
    if generation > _int(status.get("observedGeneration")):
        return False, False, "Waiting for deployment spec update to be observed..."
    progressing = condition(deployment, "Progressing")
    if progressing is not None and progressing.get("reason") == TIMED_OUT_REASON:
        return False, True, f'deployment "{name}" exceeded its progress deadline'
    updated = _int(status.get("updatedReplicas"))
    replicas = _int(status.get("replicas"))
    available = _int(status.get("availableReplicas"))
    if spec.get("replicas") is not None and updated < _int(spec.get("replicas")):
        return (
            False,
            False,
            f'Waiting for deployment "{name}" rollout to finish: {updated} out of '
            f"{_int(spec.get('replicas'))} new replicas have been updated...",
        )
    if replicas > updated:
        return (
            False,
            False,
            f'Waiting for deployment "{name}" rollout to finish: {replicas - updated} old '
            "replicas are pending termination...",
        )
    if available < updated:
        return (
            False,
            False,
            f'Waiting for deployment "{name}" rollout to finish: {available} of {updated} '
            "updated replicas are available...",
        )
    return True, False, f'deployment "{name}" successfully rolled out'


#: Container waiting reasons ``rollout status`` adds as a warning.
WARNING_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)


def rollout_warning(pods: Iterable[Mapping[str, Any]]) -> str:
    """The "(Warning: ...)" kubectl appends while waiting: unschedulable or crashing pods."""
    for pod in pods:
        status = pod.get("status") or {}
        for cond in status.get("conditions") or []:
            if (
                cond.get("type") == "PodScheduled"
                and cond.get("status") == "False"
                and cond.get("reason") == "Unschedulable"
            ):
                return f"Warning: {cond.get('message', '')}"
        for cs in status.get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting and waiting.get("reason") in WARNING_REASONS:
                return f"Warning: {waiting['reason']} - {waiting.get('message', '')}"
    return ""


# --------------------------------------------------------------------------- pods


def pod_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def pod_state(pod: Mapping[str, Any]) -> tuple[str, int, str]:
    """(STATUS as ``kubectl get pods`` shows it, restarts, a detail line)."""
    status = pod.get("status") or {}
    reason = str(status.get("reason") or status.get("phase") or "Unknown")
    statuses = [cs for cs in status.get("containerStatuses") or [] if isinstance(cs, Mapping)]
    restarts = sum(_int(cs.get("restartCount")) for cs in statuses)
    message = ""
    init = [cs for cs in status.get("initContainerStatuses") or [] if isinstance(cs, Mapping)]
    initialising = False
    for index, cs in enumerate(init):
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and _int(terminated.get("exitCode")) == 0:
            continue
        initialising = True
        if terminated:
            code = _int(terminated.get("exitCode"))
            reason = f"Init:{terminated.get('reason') or f'ExitCode:{code}'}"
        elif waiting and waiting.get("reason") not in (None, "", "PodInitializing"):
            reason, message = f"Init:{waiting['reason']}", str(waiting.get("message", ""))
        else:
            reason = f"Init:{index}/{len(init)}"
        break
    if not initialising:
        for cs in reversed(statuses):
            state = cs.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason, message = str(waiting["reason"]), str(waiting.get("message", ""))
            elif terminated:
                if terminated.get("reason"):
                    reason = str(terminated["reason"])
                elif terminated.get("signal"):
                    reason = f"Signal:{terminated['signal']}"
                else:
                    reason = f"ExitCode:{_int(terminated.get('exitCode'))}"
                message = str(terminated.get("message", ""))
    if meta(pod).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    total = len(containers_of(pod)) or len(statuses)
    ready = sum(1 for cs in statuses if cs.get("ready"))
    detail = f"{ready}/{total} containers ready"
    if message:
        detail += f" · {' '.join(message.split())}"
    return reason, restarts, detail


__all__ = [
    "CHANGE_CAUSE",
    "HASH_LABEL",
    "RESTARTED_AT",
    "REVISION",
    "REVISION_HISTORY",
    "UNDO_KEEPS_FROM_DEPLOYMENT",
    "UndoError",
    "annotations_of",
    "condition",
    "controlled_by",
    "equal_ignore_hash",
    "history_table",
    "image_tag",
    "main_container",
    "owned_replicasets",
    "parse_time",
    "pod_ready",
    "pod_state",
    "restarted_at",
    "revision_history_of",
    "revision_of",
    "rollout_history",
    "rollout_status",
    "rollout_warning",
    "selector_string",
    "split_replicasets",
    "stamp",
    "template_digest",
    "template_of",
    "undo_annotations",
    "undo_patch",
    "undo_target",
    "without_hash",
]
