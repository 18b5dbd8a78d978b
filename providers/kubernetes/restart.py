"""``k8s.restart``: ``kubectl rollout restart``, a new ``restartedAt`` on the pod template.

The annotation's value is decided when the plan is made and kept in the
step's params, so the step sends exactly it, ``wait_ready`` checks the
Deployment still carries it (a later value is someone else's rollout) and
resume asks whether it is live (``took_effect``): nothing is written into the
plan while it runs.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from datetime import timedelta
from typing import Any

from console.model import Plan, Step, StepKind, utcnow
from providers.base import InvalidTarget, ProviderError, TimedOut, Unavailable
from providers.kubernetes import ops
from providers.kubernetes import rollout as ro
from providers.kubernetes.client import Cluster
from providers.kubernetes.writes import fresh, unanswered

_STRATEGIC = "application/strategic-merge-patch+json"


def next_restart(deployment: Mapping[str, Any]) -> str:
    """The ``restartedAt`` a restart planned now sets: now, and always a new value.

    kubectl's value has one-second resolution: a restart planned within the
    second of the live one (or with a clock behind it) takes the next second,
    or the patch would change nothing.
    """
    now = utcnow().replace(microsecond=0)
    live = ro.parse_time(ro.restarted_at(deployment))
    if live is not None and live >= now:
        now = live.replace(microsecond=0) + timedelta(seconds=1)
    return ro.stamp(now)


class RestartPart:
    """Restarts every pod of the Deployment on the same template."""

    ops = frozenset({ops.RESTART})

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def command(self, params: Mapping[str, Any]) -> str:
        return self.cluster.kubectl("rollout", "restart", f"deployment/{self.cluster.name}")

    def step(self, environment: str, params: Mapping[str, Any]) -> Step:
        return Step(
            title=(
                f"Restart every pod of deployment/{self.cluster.name} ({environment}) "
                f"on {params['version']} (a new {ro.RESTARTED_AT} on the template)"
            ),
            command=self.command(params),
            kind=StepKind.RESTART,
            op=ops.RESTART,
            params=dict(params),
        )

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        cluster = self.cluster
        name = cluster.name
        d = fresh(cluster, ops.text(step.params, "deployment_uid"))
        if (d.get("spec") or {}).get("paused"):
            raise InvalidTarget(
                f"can't restart paused deployment/{name} (run rollout resume first)"
            )
        now = ops.text(step.params, "restarted_at")
        patch = {
            "metadata": {"resourceVersion": d["metadata"]["resourceVersion"]},
            "spec": {"template": {"metadata": {"annotations": {ro.RESTARTED_AT: now}}}},
        }
        yield f"PATCH deployment/{name} (strategic merge): {ro.RESTARTED_AT}={now}"
        try:
            result = cluster.patch(f"restart {cluster.target}", patch, _STRATEGIC, describe=True)
        except (Unavailable, TimedOut) as err:
            result = unanswered(
                cluster, err, "the restart", d, lambda live: ro.restarted_at(live) == now
            )
            yield (
                f"no answer to the PATCH ({err}), but deployment/{name} carries "
                f"{ro.RESTARTED_AT}={now} when read again: the restart was applied"
            )
        if ro.restarted_at(result) != now:
            raise ProviderError(f"deployment/{name} does not carry the new {ro.RESTARTED_AT}")
        yield f"deployment.apps/{name} restarted"
        return f"deployment/{name} restarted at {now}"

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        """Whether the Deployment carries the planned ``restartedAt``."""
        live = self.cluster.get_deployment()
        return ro.restarted_at(live) == ops.text(step.params, "restarted_at")
