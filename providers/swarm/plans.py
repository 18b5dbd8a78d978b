"""Planning a Swarm rollback (runbook 002): which image, and which of two steps gets there.

The target is anchored to what the operator saw (never "roll back twice": a
manual rollback swaps the specs, so a second one goes forward again).  When the
target is ``PreviousSpec``'s image the step is ``swarm.rollback`` (``docker
service rollback``: the whole previous spec comes back, and Swarm follows its
rollback config); any other image is ``swarm.update_image`` (``docker service
update --image IMAGE --no-resolve-image``: only the image changes).  Both carry
the image and the spec version they were planned from, so a service changed by
someone else in between is a ``Conflict`` and resume asks the live spec.
``restart`` is ``swarm.force_update`` (``docker service update --force``).
"""

from __future__ import annotations

from typing import Any

from console.config import ServiceConfig
from console.model import Action, Plan, Revision, Step, StepKind
from providers.base import InvalidTarget, NotFound
from providers.swarm.client import EngineClient
from providers.swarm.read import NAME, PAUSED, Live, Reader

ROLLBACK = "swarm.rollback"
UPDATE_IMAGE = "swarm.update_image"
FORCE_UPDATE = "swarm.force_update"
OPS = frozenset({ROLLBACK, UPDATE_IMAGE, FORCE_UPDATE})
RESTART = "restart"
OFFLINE = "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1"


def step_command(client: EngineClient, op: str, params: dict[str, Any]) -> str:
    service = client.cfg.service
    if op == ROLLBACK:
        return client.docker("service", "rollback", service)
    if op == UPDATE_IMAGE:
        return f"{OFFLINE} " + client.docker(
            "service", "update", "--image", str(params["image"]), "--no-resolve-image", service
        )
    return client.docker("service", "update", "--force", service)


class Planner:
    def __init__(self, service: ServiceConfig, client: EngineClient, reader: Reader) -> None:
        self.service = service
        self.client = client
        self.reader = reader

    def plan(self, target: str | None, *, dry_run: bool = False) -> Plan:
        live = self.reader.live()
        snap = self.reader.snapshot_of(live)
        to = self._resolve(live, snap.revisions, target)
        params = {
            "service": live.service["ID"],
            "image": to.image,
            "expect_image": live.image,
            "expect_index": live.index,
        }
        op = ROLLBACK if to.image == live.previous_image else UPDATE_IMAGE
        label = self.service.label
        if op == ROLLBACK and live.update_state == "paused":
            title = f"Roll back the paused update of {label}: back to PreviousSpec ({to.image})"
        elif op == ROLLBACK:
            title = f"Roll back {label} to its PreviousSpec ({to.image})"
        else:
            title = f"Update {label}'s image to {to.image} (the rest of the spec stays)"
        step = Step(
            title=title,
            command=step_command(self.client, op, params),
            kind=StepKind.SWITCH,
            timeout_s=60.0,
            op=op,
            params=params,
        )
        warnings: list[str] = []
        if live.update_state in PAUSED:
            warnings.append(
                f"The last update is {live.update_state}: {live.update_message or 'no message'}."
            )
        if op == ROLLBACK:
            warnings.append(
                "`docker service rollback` brings back the whole previous spec (env, resources, "
                "replicas: see What changes), not only the image."
            )
        warnings.append(
            f"Swarm swaps the specs: afterwards PreviousSpec is {live.image}, so a second "
            "`docker service rollback` goes forward again to it."
        )
        return Plan(
            service=self.service.name,
            environment=self.service.environment,
            provider=NAME,
            from_revision=snap.current,
            to_revision=to,
            steps=(step,),
            warnings=tuple(warnings),
            dry_run=dry_run,
            undone_by=(
                f"The next `docker stack deploy` of a compose file that still says {live.image} "
                "(or CI's `docker service update --image`) puts it back: fix the image there.",
            ),
        )

    def actions(self) -> tuple[Action, ...]:
        force = self.client.docker("service", "update", "--force", self.client.cfg.service)
        return (
            Action(
                id=RESTART,
                title="Restart (force update)",
                description=(f"Replace every task with a new one on the same spec (`{force}`)"),
            ),
        )

    def plan_action(
        self,
        action: str,
        argument: str | None,
        *,
        dry_run: bool = False,
        resume_from: Plan | None = None,
    ) -> Plan:
        if action != RESTART:
            raise NotFound(f"unknown action {action!r} for {self.service.label} (known: {RESTART})")
        live = self.reader.live()
        snap = self.reader.snapshot_of(live)
        force = int(live.spec.get("TaskTemplate", {}).get("ForceUpdate", 0)) + 1
        params = {"service": live.service["ID"], "force_update": force}
        step = Step(
            title=f"Force-update {self.service.label}: every task replaced on {live.image}",
            command=step_command(self.client, FORCE_UPDATE, params),
            kind=StepKind.RESTART,
            timeout_s=60.0,
            op=FORCE_UPDATE,
            params=params,
        )
        assert snap.current is not None
        return Plan(
            service=self.service.name,
            environment=self.service.environment,
            provider=NAME,
            from_revision=snap.current,
            to_revision=snap.current,
            steps=(step,),
            warnings=(
                f"A forced update also makes the live spec PreviousSpec: afterwards "
                f"`docker service rollback` goes to {live.image}, not to "
                f"{live.previous_image or 'the spec before it'}.",
            ),
            dry_run=dry_run,
            action=RESTART,
        )

    def _resolve(self, live: Live, revisions: tuple[Revision, ...], target: str | None) -> Revision:
        current = revisions[0]
        if target is None:
            if len(revisions) < 2:
                raise InvalidTarget(
                    f"{self.service.label} has no PreviousSpec and one image only "
                    f"({live.image}): nothing to roll back to"
                )
            return revisions[1]
        found = next((r for r in revisions if r.id == target), None) or next(
            (r for r in revisions if r.version == target), None
        )
        if found is None:
            listed = ", ".join(r.id for r in revisions)
            raise NotFound(
                f"image {target!r} is not among the images Swarm keeps for "
                f"{self.client.cfg.service}: {listed}"
            )
        if found.id == current.id:
            raise InvalidTarget(f"{found.id} already is {self.service.label}'s live spec image")
        return found
