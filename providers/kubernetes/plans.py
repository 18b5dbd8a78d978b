"""Planning a rollback: kubectl's undo, validated before anything is changed.

The target is the given revision (a number, ``revision N``, or a version
label) or, as kubectl does, the second highest one; a paused Deployment is
refused; a target whose template is already the Deployment's is refused as
"skipped rollback".  The plan first suspends the GitOps controllers that
would undo it (``gitops.suspend``, see ``providers.kubernetes.gitops``), saves
the live manifest, then undoes (``k8s.backup_manifest``, ``k8s.undo``).  A dry
run sends the very patches with ``dryRun=All``: the API server validates them
and changes nothing.
"""

from __future__ import annotations

import json
import re
from types import MappingProxyType
from typing import Any

from console.config import ServiceConfig
from console.model import Plan, Revision, utcnow
from providers.base import InvalidTarget, NotFound
from providers.kubernetes import read as rd
from providers.kubernetes import rollout as ro
from providers.kubernetes.client import JSON, Cluster
from providers.kubernetes.gitops import GitOpsPart
from providers.kubernetes.lock import lock_of
from providers.kubernetes.manifests import BackupPart, Manifests
from providers.kubernetes.undo import KEEP_ON_UNDO, UndoPart
from providers.kubernetes.writes import rv_guard


def plan_rollback(
    cluster: Cluster,
    service: ServiceConfig,
    manifests: Manifests,
    backup: BackupPart,
    undo: UndoPart,
    gitops: GitOpsPart,
    target: str | None,
    *,
    provider: str,
    dry_run: bool = False,
) -> Plan:
    """kubectl's undo to ``target`` (None: the previous revision), validated.

    Raises ``NotFound`` for an unknown revision and ``InvalidTarget`` for a paused
    Deployment or a target whose template is already live.
    """
    state = rd.read_state(cluster)
    rs, number = _resolve(cluster, state, target)
    d = state.deployment
    current = rd.current(cluster, state, rd.revisions(cluster, state))
    to = rd.revision(cluster, state, number, rs)
    if (d.get("spec") or {}).get("paused"):
        raise InvalidTarget(
            f"you cannot rollback a paused deployment; resume it first with "
            f"`{rd.resume_first(cluster, state.name)}` and try again"
        )
    if ro.equal_ignore_hash(ro.template_of(rs), ro.template_of(d)):
        raise InvalidTarget(
            f"skipped rollback (current template already matches revision {number}): "
            f"deployment/{state.name} already runs {to.version}"
        )
    patch = ro.undo_patch(rs, ro.undo_annotations(d, rs, keep=KEEP_ON_UNDO))
    warnings = _warnings(state, current, to, number)
    params = {
        "revision": number,
        "replicaset": str(rs["metadata"]["name"]),
        "replicaset_uid": str(rs["metadata"]["uid"]),
        "deployment_uid": str(d["metadata"]["uid"]),
        "version": to.version,
        "from_template_hash": ro.template_digest(ro.template_of(d)),
        "template_hash": ro.template_digest(ro.template_of(rs)),
    }
    environment = service.environment
    guard = gitops.guard(d)
    steps = (
        *guard.steps,
        backup.step(manifests.backup_path(current), environment),
        undo.step(environment, params),
    )
    if dry_run:
        warnings.extend(gitops.dry_run(guard.steps))
        _server_dry_run(cluster, d, patch)
        warnings.append(
            "Dry run: the API server accepted this patch with dryRun=All; nothing was "
            f"changed. The patch: {json.dumps(patch, separators=(',', ':'))}"
        )
    return Plan(
        service=service.name,
        environment=environment,
        provider=provider,
        from_revision=current,
        to_revision=to,
        steps=steps,
        warnings=tuple(warnings),
        dry_run=dry_run,
        # The patch as planned (it holds the target's template, environment values
        # and all): shown by a dry run, never journaled; the step sends a fresh one.
        context=MappingProxyType({"patch": patch}),
        undone_by=guard.undone_by,
    )


def _resolve(cluster: Cluster, state: rd.State, target: str | None) -> tuple[JSON, int]:
    """The target ReplicaSet and its revision: a number, a version label, or None."""
    if target is None:
        return _undo_target(cluster, state, 0)
    text = target.strip()
    if text.lower().startswith("revision"):
        text = text[len("revision") :].strip()
    if re.fullmatch(r"\d+", text):
        return _undo_target(cluster, state, int(text))
    matches = [
        n for n, rs in state.history.items() if cluster.version(ro.template_of(rs))[0] == text
    ]
    if len(matches) > 1:
        listed = ", ".join(str(n) for n in sorted(matches))
        raise NotFound(
            f"version {text!r} is in several revisions of deployment/{state.name} "
            f"({listed}): give the revision number"
        )
    if matches:
        return _undo_target(cluster, state, matches[0])
    raise NotFound(
        f"unable to find specified revision {target!r} in the history of "
        f"deployment/{state.name} (revisions: {rd.known(cluster, state)})"
    )


def _undo_target(cluster: Cluster, state: rd.State, number: int) -> tuple[JSON, int]:
    try:
        rs = ro.undo_target(state.deployment, state.owned, number)
    except ro.UndoError as err:
        if number == 0:
            raise InvalidTarget(f"{err}: nothing to roll back to") from None
        raise NotFound(
            f"{err} of deployment/{state.name} (revisions: {rd.known(cluster, state)})"
        ) from None
    found = ro.revision_of(rs)
    return rs, found if found is not None else number


def _warnings(state: rd.State, current: Revision, to: Revision, number: int) -> list[str]:
    warnings = []
    lock = lock_of(state.deployment)
    if lock is not None and not lock.expired(utcnow()):
        warnings.append(
            f"deployment/{state.name} carries a rollback lock of {lock.describe()}: "
            "executing is refused unless it is yours or it expires."
        )
    numbers = sorted(state.history, reverse=True)
    current_number = int(current.id) if current.id.isdigit() else None
    if current_number is not None and current_number in numbers and number in numbers:
        between = numbers.index(number) - numbers.index(current_number) - 1
        if number > current_number:
            warnings.append(
                f"revision {number} is newer than the live revision {current_number}: "
                "this rolls forward, not back."
            )
        elif between > 0:
            warnings.append(
                f"revision {number} ({to.version}) is not the one right before the live "
                f"{current_number} ({current.version}); {between} revision(s) in between "
                "are skipped."
            )
    target_rs = state.history[number]
    if int(target_rs.get("spec", {}).get("replicas") or 0) > 0:
        warnings.append(
            f"ReplicaSet {target_rs['metadata']['name']} of revision {number} still has pods: "
            "the previous rollout did not finish; rolling back to it is what undoes it."
        )
    warnings.append(
        f"After the rollback the deployment controller renumbers revision {number} as "
        f"revision {max(numbers, default=number) + 1} (kubectl does the same)."
    )
    return warnings


def _server_dry_run(cluster: Cluster, deployment: JSON, patch: list[Any]) -> None:
    """The patch sent with ``dryRun=All``: validated by the API server, nothing changed."""
    cluster.decode(
        cluster.call(
            f"dry-run the rollback of {cluster.target}",
            cluster.clients().apps.patch_namespaced_deployment,
            cluster.k8s.deployment,
            cluster.k8s.namespace,
            [*patch, rv_guard(deployment)],
            dry_run="All",
            _content_type="application/json-patch+json",
            _preload_content=False,
        )
    )
