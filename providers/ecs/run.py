"""The ECS service's part of a plan: registering a copy, updating the service, waiting.

Each step runs from its params (and the register step from the copied task
definition in the plan's read-only context), through boto3, and observes
its result: UpdateService's answer is the proof of the change.  Before
each change the lock tag is checked again and the service must still run
the revision the plan started from (``Conflict`` otherwise).

On resume, ``took_effect`` reads the service: a rollback took effect when the
service names the target revision, an image rollback when the live main
container runs the target image (its copy's revision number may not be the
one predicted), a forced deployment when the PRIMARY deployment is no longer
the one seen at plan time, a register when the family holds that very copy.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Mapping
from typing import Any

from console.errors import (
    Conflict,
    OutcomeUnknown,
    ProviderError,
    TimedOut,
    Unavailable,
)
from console.model import Plan, Step
from providers.base import Part
from providers.ecs.client import EcsApi
from providers.ecs.errors import aws_errors, translate
from providers.ecs.legacy import typed_step
from providers.ecs.lock import TagLock
from providers.ecs.read import EcsReader, ServiceState, input_hash
from providers.ecs.refs import ImageRef, td_key
from providers.ecs.rollout import Rollouts
from providers.ecs.steps import INPUTS, REGISTER, UPDATE, WAIT


class ServicePart:
    """Owns ``ecs.register_task_definition``, ``ecs.update_service`` and ``ecs.wait_stable``."""

    ops = frozenset({REGISTER, UPDATE, WAIT})

    def __init__(self, api: EcsApi, reader: EcsReader, lock: TagLock, rollouts: Rollouts) -> None:
        self.api = api
        self.reader = reader
        self.lock = lock
        self.rollouts = rollouts

    @property
    def label(self) -> str:
        return self.api.label

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        if step.op == REGISTER:
            return (yield from self._register(step.params, plan))
        _same_service(self.api, step)
        if step.op == UPDATE:
            return (yield from self._update(step.params))
        return (yield from self.rollouts.run_wait(step))

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        params = step.params
        if step.op == REGISTER:
            return bool(self.reader.existing_copy(str(params["family"]), str(params["sha256"])))
        if step.op == WAIT:
            return self.rollouts.service_state(params)[0] == "ready"
        state = self.reader.read()
        image = str(params.get("image") or "")
        if params.get("task_definition"):
            if image:
                return self.reader.main_image(state.task_definition) == image
            return state.key == td_key(str(params["task_definition"]))
        before = str(params.get("deployment_before") or "")
        if not before:
            return None
        return state.primary_id != before

    # ------------------------------------------------------------------ register

    def _register(self, params: Mapping[str, Any], plan: Plan) -> Generator[str, None, str]:
        inputs: Mapping[str, Any] = plan.context.get(INPUTS) or {}
        body = inputs.get(str(params["sha256"]))
        if body is None:
            raise ProviderError(
                f"the copy of {params['source']} to register is not in this plan (only its "
                "hash is journaled): plan the image rollback again"
            )
        self.lock.before_change(str(params["source"]))
        body = dict(body)
        found = yield from self._register_once(body)
        td = dict(found["taskDefinition"])
        if found.get("tags") or body.get("tags"):
            td["tags"] = found.get("tags") or body["tags"]
        key = self.reader.remember(td)
        planned = str(params["task_definition"])
        if key != planned:
            self.rollouts.registered[planned] = key
            yield (
                f"ECS registered {key}, not {planned} as planned (another revision was "
                f"registered meanwhile); the next steps use {key}"
            )
        image = ImageRef.parse(self.reader.main_image(td))
        return f"registered {key} ({image.label})"

    def _register_once(self, body: dict[str, Any]) -> Generator[str, None, dict[str, Any]]:
        """RegisterTaskDefinition, never twice for one copy.

        botocore would resend a request whose answer was lost (a reset, a read
        timeout), and each resend that reached ECS registers one more revision.
        So one attempt at a time: after a lost answer the family's newest
        revisions are searched for this very copy (it is used when found), and
        only when it is not there is the register sent again.  What ECS itself
        answered (throttling, 5xx), or a connection never made, left nothing
        behind and is simply retried.
        """
        from botocore import exceptions as bex

        doing = f"registering a copy for {self.label}"
        client = self.api.client("ecs", max_attempts=1)
        attempts = self.api.aws.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                found: dict[str, Any] = client.register_task_definition(**body)
                return found
            except (bex.ClientError, bex.BotoCoreError) as exc:
                err = translate(exc, "ecs:RegisterTaskDefinition", doing, attempt)
                sent = isinstance(exc, bex.ReadTimeoutError | bex.ConnectionClosedError)
                retry = sent or isinstance(err, Unavailable | TimedOut)
                if not retry or attempt == attempts:
                    raise err from None
            if sent:
                copy = self.reader.existing_copy(str(body.get("family", "")), input_hash(body))
                if copy:
                    yield (
                        f"no answer to ecs:RegisterTaskDefinition ({err}), but {copy} is that "
                        "copy when looked for: it is used, not registered again"
                    )
                    return {"taskDefinition": self.reader.task_definition(copy)}
            yield f"{err}; registering again (attempt {attempt + 1})"
            time.sleep(min(2.0, 0.2 * 2**attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    # ------------------------------------------------------------------ update

    def _update(self, params: Mapping[str, Any]) -> Generator[str, None, str]:
        before = self.lock.before_change(str(params.get("source") or ""))
        planned = str(params.get("task_definition") or "")
        target = self.rollouts.target(planned) if planned else ""
        kwargs: dict[str, Any] = {"cluster": params["cluster"], "service": params["service"]}
        if target:
            kwargs["taskDefinition"] = target
        if params.get("force"):
            kwargs["forceNewDeployment"] = True
        doing = (
            f"pointing {self.label} at {target}"
            if target
            else f"forcing a new deployment of {self.label}"
        )
        try:
            with aws_errors("ecs:UpdateService", doing):
                found = self.api.ecs().update_service(**kwargs)
        except (Unavailable, TimedOut) as err:
            found = {"service": self._unanswered_update(err, before, target)}
            yield (
                f"no answer to ecs:UpdateService ({err}), but {self.label} "
                + (f"points at {target}" if target else "has a new deployment")
                + " when read again: the update was applied"
            )
        # UpdateService answers with the service as it now is: that answer is the proof,
        # not a second read, which may fail although the change is made (the wait
        # step then reads the rollout, tolerating a flaky API until its time limit).
        answer: dict[str, Any] = dict(found.get("service") or {})
        key = td_key(str(answer.get("taskDefinition", "")))
        if not key:
            try:
                after = self.reader.read(poll=True)
            except (Unavailable, TimedOut) as err:
                return (
                    f"ECS accepted the update of {self.label}"
                    + (f" to {target}" if target else "")
                    + f"; the service could not be read back yet ({err})"
                )
            answer, key = after.service, after.key
        new_id = ServiceState(answer, {}, key).primary_id
        started = new_id and new_id != before.primary_id
        if target:
            if key != td_key(target):
                raise Conflict(
                    f"ECS accepted the update but {self.label} now reports {key}, not {target}"
                )
            deployment = (
                f"ECS started deployment {new_id}"
                if started
                else "ECS has not reported the new deployment yet"
            )
            return f"{self.label} now points at {target}; {deployment}"
        deployment = (
            f"deployment {new_id} started"
            if started
            else "ECS has not reported a new deployment yet"
        )
        return f"ECS accepted a new deployment of {key}; {deployment}"

    def _unanswered_update(
        self, err: ProviderError, before: ServiceState, target: str
    ) -> dict[str, Any]:
        """UpdateService got no answer (every attempt reset, hung or 5xx): was it applied?

        Read the service again rather than guess: ECS may well have made the change
        and only its answer was lost, and calling that "failed" would send the
        operator to roll back a service that already was.  Returns the service as
        read when the update is there; otherwise raises ``err``'s kind saying what
        the service runs, or that nobody knows.
        """
        try:
            after = self.reader.read(poll=True)
        except ProviderError as again:
            cfg = self.api.cfg
            look = self.api.command(
                "ecs", "describe-services", "--cluster", cfg.cluster, "--services", cfg.service
            )
            raise OutcomeUnknown(
                f"{err}; whether the update was applied is not known: {self.label} could not "
                f"be read again ({again}); look with `{look}` before retrying"
            ) from None
        # A forced deployment is applied when the PRIMARY deployment is another one.
        forced = after.primary_id != before.primary_id
        applied = (after.key == td_key(target)) if target else forced
        if applied:
            return after.service
        if after.key == before.key:
            found = f"{self.label} still runs {after.key} when read again"
        else:
            found = f"{self.label} now runs {after.key} (someone else changed it)"
        raise type(err)(f"{err}; {found}: the update was not applied") from None


class LegacyPart:
    """Runs the steps of a plan journaled before steps were typed (op ""), typed from the plan.

    Only what can be typed from the plan itself runs (``providers.ecs.legacy``);
    anything else asks for a new plan, which the flow makes on resume anyway.
    """

    ops = frozenset({""})

    def __init__(self, api: EcsApi, parts: tuple[Part, ...]) -> None:
        self.api = api
        self.parts = parts

    def _typed(self, step: Step, plan: Plan) -> tuple[Step, Part] | None:
        typed = typed_step(step, plan, self.api)
        if typed is None:
            return None
        owner = next((p for p in self.parts if typed.op in p.ops), None)
        return (typed, owner) if owner is not None else None

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        found = self._typed(step, plan)
        if found is None:
            raise ProviderError(
                f"step {step.title!r} was journaled by an earlier version of the console and "
                "cannot be run from the journal: plan the rollback again"
            )
        typed, owner = found
        return (yield from owner.run(typed, plan))

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        found = self._typed(step, plan)
        return None if found is None else found[1].took_effect(found[0], plan)


def _same_service(api: EcsApi, step: Step) -> None:
    """A step for another cluster or service than the configured one is never run."""
    cfg = api.cfg
    cluster, service = step.params.get("cluster"), step.params.get("service")
    if (cluster, service) != (cfg.cluster, cfg.service):
        raise ProviderError(
            f"step {step.title!r} is for service {service} in cluster {cluster}, but "
            f"[services.ecs] of {api.service.name} names {cfg.service} in {cfg.cluster}: "
            "plan again"
        )
