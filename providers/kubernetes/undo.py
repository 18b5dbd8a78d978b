"""``k8s.undo``: ``kubectl rollout undo --to-revision=N``, guarded.

The step re-reads the Deployment and its ReplicaSets and sends kubectl's JSON
patch (``rollout.undo_patch``: the target ReplicaSet's template, kubectl's
annotations), with one addition: the patch also sets
``metadata.resourceVersion`` to the version just read, so a change made by
someone else in between is a 409 (``Conflict``), not silently overwritten.
The console's own lock annotation is kept on the Deployment and never copied
back from a ReplicaSet, and so is Argo CD's tracking id (``KEEP_ON_UNDO``): a
ReplicaSet older than Argo CD's adoption of the Deployment lacks it, and the
undo would make Argo CD see its Deployment as someone else's (and the console
lose which Application to resume).  The result read back must carry the target's
template, or the step fails; a 409 names what the Deployment now runs, so the
operator sees whose change won.

Everything the step needs is in its params (``ops``): the target ReplicaSet
by uid, and digests of the template the plan moves from (a Deployment changed
since the plan is a ``Conflict``) and of the one it moves to (``took_effect``:
the deployment controller renumbers the target, revision 2 comes back as 5,
so resume compares templates, not numbers).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from console.model import Plan, Step, StepKind
from providers.base import Conflict, InvalidTarget, ProviderError, TimedOut, Unavailable
from providers.kubernetes import ops
from providers.kubernetes import rollout as ro
from providers.kubernetes.client import Cluster
from providers.kubernetes.controllers import TRACKING_ID
from providers.kubernetes.lock import LOCK_ANNOTATION
from providers.kubernetes.writes import fresh, rv_guard, unanswered

_JSON_PATCH = "application/json-patch+json"

#: The Deployment's annotations an undo keeps as they are (never taken from the ReplicaSet).
KEEP_ON_UNDO = (LOCK_ANNOTATION, TRACKING_ID)


class UndoPart:
    """Rolls the Deployment back to a ReplicaSet's template, as kubectl does."""

    ops = frozenset({ops.UNDO})

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def command(self, params: Mapping[str, Any]) -> str:
        return self.cluster.kubectl(
            "rollout",
            "undo",
            f"deployment/{self.cluster.name}",
            f"--to-revision={params['revision']}",
        )

    def step(self, environment: str, params: Mapping[str, Any]) -> Step:
        return Step(
            title=(
                f"Roll deployment/{self.cluster.name} ({environment}) back to revision "
                f"{params['revision']} ({params['version']}): the pod template of ReplicaSet "
                f"{params['replicaset']}"
            ),
            command=self.command(params),
            kind=StepKind.SWITCH,
            op=ops.UNDO,
            params=dict(params),
        )

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        """kubectl's undo patch from a fresh read, guarded by its resourceVersion."""
        cluster, params = self.cluster, step.params
        name = cluster.name
        d = fresh(cluster, ops.text(params, "deployment_uid"))
        if (d.get("spec") or {}).get("paused"):
            raise InvalidTarget(
                f"deployment/{name} was paused since the plan: "
                "you cannot rollback a paused deployment"
            )
        number = params["revision"]
        rs_uid = ops.text(params, "replicaset_uid")
        rs = next((r for r in cluster.replicasets(d) if r["metadata"].get("uid") == rs_uid), None)
        if rs is None:
            raise Conflict(
                f"the ReplicaSet of revision {number} of deployment/{name} is gone since the plan "
                "was made; look again before retrying"
            )
        if ro.equal_ignore_hash(ro.template_of(rs), ro.template_of(d)):
            yield f"skipped rollback (current template already matches revision {number})"
            return f"deployment/{name} already had the template of revision {number}"
        planned_from = ops.text(params, "from_template_hash")
        if planned_from and ro.template_digest(ro.template_of(d)) != planned_from:
            now = cluster.version(ro.template_of(d))[0]
            raise Conflict(
                f"deployment/{name} changed since the plan was made (it now runs {now}); "
                "look again before retrying"
            )
        annotations = ro.undo_annotations(d, rs, keep=KEEP_ON_UNDO)
        patch = [*ro.undo_patch(rs, annotations), rv_guard(d)]
        yield (
            f"PATCH deployment/{name} ({_JSON_PATCH}): replace /spec/template with "
            f"ReplicaSet {rs['metadata']['name']}'s, replace /metadata/annotations, "
            f"if resourceVersion is still {d['metadata'].get('resourceVersion')}"
        )
        try:
            result = cluster.patch(f"roll back {cluster.target}", patch, _JSON_PATCH, describe=True)
        except (Unavailable, TimedOut) as err:
            result = unanswered(
                cluster,
                err,
                "the rollback",
                d,
                lambda live: ro.equal_ignore_hash(ro.template_of(live), ro.template_of(rs)),
            )
            yield (
                f"no answer to the PATCH ({err}), but deployment/{name} has the template of "
                f"revision {number} when read again: the rollback was applied"
            )
        if not ro.equal_ignore_hash(ro.template_of(result), ro.template_of(rs)):
            raise ProviderError(
                f"the API server answered the rollback of deployment/{name} with a different "
                f"template than revision {number}'s; check it with kubectl before retrying"
            )
        yield f"deployment.apps/{name} rolled back"
        return (
            f"deployment/{name} has the template of revision {number} "
            f"({params['version']}); generation {result['metadata'].get('generation')}"
        )

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        """Whether the Deployment's template is the target's (whatever number it has now)."""
        live = self.cluster.get_deployment()
        return ro.template_digest(ro.template_of(live)) == ops.text(step.params, "template_hash")
