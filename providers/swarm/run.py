"""The part that runs the Swarm steps, says on resume what took effect, and waits ready.

Took effect is read from the live spec: its image is the step's target (a
rollback or an image update), or its ``ForceUpdate`` counter reached the
step's (a restart).  Ready is what ``docker service update`` waits for, and no
less: the update state ``completed`` / ``rollback_completed`` (or none), and
every task Swarm wants running is running on the target image, as many as the
spec's replicas.  The CLI's early "converged" is not taken as ready.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Generator
from typing import Any

from console.model import Plan, ReadyResult, Step
from console.poll import poll_until
from providers.base import Conflict, OutcomeUnknown, ProviderError
from providers.swarm.client import EngineClient
from providers.swarm.plans import FORCE_UPDATE, OPS, ROLLBACK, UPDATE_IMAGE
from providers.swarm.read import DONE, PAUSED, Live, Reader, task_image

POLL_INTERVAL_S = 0.5


class SwarmPart:
    """Owns ``swarm.rollback``, ``swarm.update_image`` and ``swarm.force_update``."""

    ops = OPS

    def __init__(self, client: EngineClient, reader: Reader) -> None:
        self.client = client
        self.reader = reader

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        live = self.reader.live()
        p = step.params
        if step.op == FORCE_UPDATE:
            spec = copy.deepcopy(live.spec)
            spec.setdefault("TaskTemplate", {})["ForceUpdate"] = int(p["force_update"])
            yield f"force update of {self.client.cfg.service} (version {live.index})"
            self._send(live, spec, rollback=False, step=step)
            return f"{self.client.cfg.service} force-updated (ForceUpdate {p['force_update']})"
        image = str(p["image"])
        if live.image == image:
            return f"the live spec image already is {image}"
        if live.image != p["expect_image"]:
            raise Conflict(
                f"the live spec image of {self.client.cfg.service} is {live.image}, not the "
                f"{p['expect_image']} this plan was made from: plan again"
            )
        if step.op == ROLLBACK:
            if live.previous_image != image:
                raise Conflict(
                    f"PreviousSpec of {self.client.cfg.service} is now "
                    f"{live.previous_image or '(none)'}, not {image}: plan again"
                )
            yield f"docker service rollback {self.client.cfg.service} (version {live.index})"
            self._send(live, live.spec, rollback=True, step=step)
        else:
            spec = copy.deepcopy(live.spec)
            spec["TaskTemplate"]["ContainerSpec"]["Image"] = image
            yield f"update of the image to {image} (version {live.index})"
            self._send(live, spec, rollback=False, step=step)
        after = self.reader.live()
        if after.image != image:
            raise ProviderError(
                f"the Engine accepted the update but the live spec image is {after.image}"
            )
        return f"the live spec image is {image} (version {after.index}); tasks follow"

    def _send(self, live: Live, spec: dict[str, Any], *, rollback: bool, step: Step) -> None:
        try:
            for warning in self.client.update(live.service, spec, rollback=rollback):
                del warning  # registry warnings: the image is local (--no-resolve-image)
        except OutcomeUnknown:
            if self.took_effect(step, None) is True:
                return
            raise

    def took_effect(self, step: Step, plan: Plan | None) -> bool | None:
        if step.op not in OPS:
            return None
        live = self.reader.live()
        if step.op == FORCE_UPDATE:
            force = int(live.spec.get("TaskTemplate", {}).get("ForceUpdate", 0))
            return force >= int(step.params["force_update"])
        return live.image == step.params.get("image") and live.index > int(
            step.params.get("expect_index", -1)
        )

    def switch_took_effect(self, plan: Plan) -> bool | None:
        for step in plan.steps:
            if step.op in (ROLLBACK, UPDATE_IMAGE, FORCE_UPDATE):
                return self.took_effect(step, plan)
        return None

    # -- wait_ready ---------------------------------------------------------------
    def wait_ready(
        self,
        plan: Plan,
        timeout_s: float,
        on_progress: Callable[[str], None] | None = None,
        interval_s: float = POLL_INTERVAL_S,
    ) -> ReadyResult:
        image = plan.to_revision.image or plan.to_revision.id
        # A restart keeps the image: its new tasks are told by the spec's ForceUpdate.
        force = next((int(s.params["force_update"]) for s in plan.steps if s.op == FORCE_UPDATE), 0)
        return poll_until(
            lambda _left: self.readiness(image, force),
            timeout_s,
            interval_s=interval_s,
            on_progress=on_progress,
        )

    def readiness(self, image: str, force: int = 0) -> tuple[bool, str]:
        """Ready as ``docker service update`` waits for it; ``force``: a restart's
        ``ForceUpdate``, which every task must carry (the old ones run the same image)."""
        live = self.reader.live()
        name = self.client.cfg.service
        state = live.update_state
        if live.image != image:
            return False, f"the live spec image of {name} is {live.image}, not {image}"
        if state in PAUSED:
            return False, f"update {state}: {live.update_message}"
        if state and state not in DONE:
            return False, f"update {state}: {live.update_message or 'in progress'}"
        want = live.running()
        on_target = [
            t
            for t in want
            if t.get("Status", {}).get("State") == "running"
            and task_image(t) == image
            and int(t.get("Spec", {}).get("ForceUpdate", 0)) >= force
        ]
        replicas = live.replicas
        total = replicas if replicas is not None else len(want)
        if len(on_target) < total or len(want) != len(on_target):
            return False, f"{len(on_target)} of {total} tasks running on {image}"
        status = state or "no update status"
        return True, f"{name}: {total} of {total} tasks running on {image} ({status})"
