"""Plans journaled before steps were typed: what resume still needs to ask of them.

A journal written by an earlier version holds steps without ``op`` or
``params`` (their title, command and kind only) and, for a restart, the
``restartedAt`` the plan started from in ``data["resume"]``.  Resume must
still settle such an incident (``console.resume``): whether its switch took
effect, and what template ``wait_ready`` should find.  These answers read the
old plan as it was journaled, and only here; a typed plan never comes here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.model import Plan
from providers.base import NotFound, ProviderError
from providers.kubernetes import ops
from providers.kubernetes import rollout as ro
from providers.kubernetes.client import JSON, Cluster


def took_effect(cluster: Cluster, plan: Plan, load_manifest: Callable[[Path], JSON]) -> bool | None:
    """Whether the Deployment is what an untyped ``plan``'s switch led to; None: cannot tell.

    A rollback renumbers the target ReplicaSet (revision 2 comes back as the
    next number, with "2" in its revision-history annotation), so the target
    is found by its old number too and its template compared with the
    Deployment's.  A restart took effect when ``restartedAt`` differs from the
    one the plan journaled; a restore, when the saved manifest's template is live.
    """
    if plan.action == ops.ACTION_RESTART:
        before = _journaled_resume(plan).get("restarted_at")
        if before is None:
            return None
        return bool(ro.restarted_at(cluster.get_deployment()) != before)
    if plan.action == ops.ACTION_RESTORE:
        path = Path(plan.argument)
        if not path.is_file():
            return None
        manifest = load_manifest(path)
        try:
            live = cluster.get_deployment()
        except NotFound:
            return False
        return ro.equal_ignore_hash(ro.template_of(manifest), ro.template_of(live))
    if plan.action != "rollback":
        return None
    d = cluster.get_deployment()
    rs = _target(cluster, plan, d)
    return rs is not None and ro.equal_ignore_hash(ro.template_of(rs), ro.template_of(d))


def target_template(
    cluster: Cluster, plan: Plan, d: JSON, limit_s: float | None = None
) -> JSON | None:
    """The template an untyped rollback plan leads to (None: not a rollback, or not found)."""
    if plan.action != "rollback":
        return None
    try:
        rs = _target(cluster, plan, d, limit_s)
    except ProviderError:
        return None
    return ro.without_hash(ro.template_of(rs)) if rs is not None else None


def _target(cluster: Cluster, plan: Plan, d: JSON, limit_s: float | None = None) -> JSON | None:
    """The ReplicaSet of the plan's target revision, under its old number or its new one."""
    wanted = plan.to_revision.id
    for rs in cluster.replicasets(d, limit_s=limit_s):
        if str(ro.revision_of(rs)) == wanted or wanted in ro.revision_history_of(rs):
            return rs
    return None


def _journaled_resume(plan: Plan) -> dict[str, Any]:
    """``data["resume"]`` as an earlier version journaled it ({} when absent)."""
    found = plan.data.get("resume")
    return found if isinstance(found, dict) else {}
