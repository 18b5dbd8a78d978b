"""Planning: which typed steps roll the ECS service back, and what the operator is warned of.

* **Roll back to a revision** (``plan(target)``): update-service to
  ``FAMILY:REV``.  ``target`` is ``None`` (the revision listed after the live
  one, newest first), ``"web:2"``, a bare ``"2"``, the task-definition ARN,
  or an image tag that a revision of the family runs.
* **Roll back to an image tag** (action ``rollback-image``): register a copy
  of the live task definition with only the chosen container's image changed
  (read-only fields of ``describe-task-definition`` stripped), then point the
  service at it.  If an ACTIVE revision already is exactly that copy, it is
  reused.
* **Force a new deployment** (action ``force-new-deployment``), e.g. after the
  database secret was switched.
* **Restore an RDS snapshot to a new instance** (action
  ``restore-rds-snapshot``), with the remaining manual steps listed.
* **Restore the database to a point in time** (action ``pitr``, with
  ``[services.database.pitr.rds]``): ``providers.ecs.pitr``.

Every ECS plan ends with a wait step (``providers.ecs.rollout``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from console.errors import InvalidTarget, NotFound
from console.model import Action, Plan, Revision, Step
from providers.ecs import pitr
from providers.ecs.client import EcsApi, hhmm
from providers.ecs.ecr import EcrTags
from providers.ecs.rds import (
    RdsSnapshots,
    instance_if_exists,
    restore_arguments,
    restored_name,
)
from providers.ecs.read import EcsReader, ServiceState, input_hash
from providers.ecs.refs import IMAGE_TAG, ImageRef, split_key, td_key
from providers.ecs.restore import manual_steps
from providers.ecs.steps import (
    register_step,
    restore_step,
    update_step,
    wait_rds_step,
    wait_step,
)

#: How many ECR tags an image rollback offers as choices.
TAG_CHOICES = 30


class Planner:
    """Reads the live service and plans a rollback or an action (blocking)."""

    def __init__(self, api: EcsApi, reader: EcsReader, ecr: EcrTags, rds: RdsSnapshots) -> None:
        self.api = api
        self.cfg = api.cfg
        self.reader = reader
        self.ecr = ecr
        self.rds = rds

    @property
    def label(self) -> str:
        return self.api.label

    # ------------------------------------------------------------------ checks

    def _check_rollable(self, state: ServiceState) -> None:
        controller = (state.service.get("deploymentController") or {}).get("type", "ECS")
        if controller != "ECS":
            raise InvalidTarget(
                f"{self.label} uses the {controller} deployment controller: update-service "
                "cannot change its task definition; roll back with that controller "
                "(CodeDeploy / your deploy tool)"
            )
        status = state.service.get("status")
        if status != "ACTIVE":
            raise InvalidTarget(f"{self.label} is {status}, not ACTIVE: it cannot be rolled back")

    def _resolve(
        self, state: ServiceState, revisions: tuple[Revision, ...], target: str | None
    ) -> str:
        """The ``family:rev`` key ``target`` means (see the module doc)."""
        family = split_key(state.key)[0]
        if target is None:
            keys = [r.id for r in revisions]
            index = keys.index(state.key) if state.key in keys else -1
            if index < 0 or index + 1 >= len(keys):
                raise InvalidTarget(
                    f"{self.label} has no ACTIVE revision of {family} older than {state.key} "
                    "to roll back to"
                )
            return keys[index + 1]
        text = target.strip()
        key = td_key(text)
        if key:
            return key
        if text.isdigit():
            return f"{family}:{int(text)}"
        for rev in revisions:
            if rev.version == text:
                return rev.id
        raise NotFound(
            f"revision {target!r} not found for {self.label}; give family:rev, a revision "
            f"number or an ARN (ACTIVE: {_available(revisions)}); "
            "for an image tag use the rollback-image action"
        )

    def _common_warnings(self, state: ServiceState) -> list[str]:
        warnings: list[str] = []
        deployments = state.deployments
        if len(deployments) > 1:
            lines = "; ".join(self.reader.deployment_line(d) for d in deployments)
            warnings.append(
                f"{len(deployments)} deployments are still in progress ({lines}); "
                "the rollback starts a new one that replaces them"
            )
        primary = state.primary()
        if primary and primary.get("rolloutState") == "FAILED":
            warnings.append(
                f"the last deployment FAILED: {primary.get('rolloutStateReason', '')}".rstrip(": ")
            )
        breaker = (state.service.get("deploymentConfiguration") or {}).get(
            "deploymentCircuitBreaker"
        ) or {}
        if breaker.get("enable") and breaker.get("rollback"):
            warnings.append(
                "the circuit breaker is on with rollback: if the target's tasks fail to start, "
                "ECS itself rolls the service back to its last completed deployment "
                "(the console then reports the rollback as failed)"
            )
        return warnings

    def _plan(
        self,
        state: ServiceState,
        to: Revision,
        steps: list[Step],
        warnings: list[str],
        *,
        action: str = "rollback",
        argument: str = "",
        dry_run: bool,
        context: Mapping[str, Any] | None = None,
    ) -> Plan:
        service = self.api.service
        return Plan(
            service=service.name,
            environment=service.environment,
            provider="ecs",
            from_revision=self.reader.revision(state.task_definition, state.key),
            to_revision=to,
            steps=tuple(steps),
            warnings=tuple(warnings),
            dry_run=dry_run,
            action=action,
            argument=argument,
            context=context if context is not None else MappingProxyType({}),
        )

    def _switch(self, state: ServiceState, title: str, key: str, image: str = "") -> list[Step]:
        """Point the service at ``key``, then wait until it is stable there."""
        return [
            update_step(
                self.api,
                title,
                source=state.key,
                deployment_before=state.primary_id,
                task_definition=key,
                image=image,
            ),
            wait_step(self.api, task_definition=key, desired=_desired(state), image=image),
        ]

    # ------------------------------------------------------------------ rollback

    def plan(self, target: str | None, *, dry_run: bool = False) -> Plan:
        """Point the service at an earlier task-definition revision (module doc, first route).

        ``NotFound`` for an unknown revision (naming the ACTIVE ones),
        ``InvalidTarget`` when it is already live, INACTIVE, or the service
        cannot be rolled back with update-service.
        """
        state = self.reader.read()
        self._check_rollable(state)
        revisions = self.reader.revisions(state)
        key = self._resolve(state, revisions, target)
        if key == state.key:
            raise InvalidTarget(f"{key} is already the task definition of {self.label}")
        try:
            td = self.reader.task_definition(key, fresh=True)
        except NotFound:
            raise NotFound(
                f"task definition {key} not found for {self.label} "
                f"(ACTIVE: {_available(revisions)})"
            ) from None
        if td.get("status") != "ACTIVE":
            raise InvalidTarget(
                f"{key} is {td.get('status')} (deregistered): ECS cannot deploy it; use the "
                f"rollback-image action to register a copy of {state.key} with its image"
            )
        to = self.reader.revision(td, state.key)
        warnings = self._common_warnings(state)
        current = self.reader.revision(state.task_definition, state.key)
        if split_key(key)[0] != split_key(state.key)[0]:
            warnings.append(f"{key} belongs to another family than the live {state.key}")
        if to.image == current.image:
            warnings.append(
                f"{key} runs the same {self._main_name(state)} image as {state.key} "
                f"({to.version}): only the task definition's other settings change"
            )
        title = (
            f"Point {self.label} at {key} (image {to.version}); ECS starts a new "
            f"deployment and drains the tasks of {state.key}"
        )
        return self._plan(state, to, self._switch(state, title, key), warnings, dry_run=dry_run)

    def _main_name(self, state: ServiceState) -> str:
        return str(self.reader.main_or_first(state.task_definition).get("name", "main"))

    # ------------------------------------------------------------------ actions

    def actions(self) -> tuple[Action, ...]:
        """Image rollback (with the ECR tags as choices), force new deployment, RDS restore."""
        state = self.reader.read()
        main = self.reader.main_or_first(state.task_definition)
        ref = ImageRef.parse(str(main.get("image", "")))
        tags, _repo, _error = self.ecr.cached(str(main.get("image", "")))
        choices = tuple(t.tag for t in tags if t.tag != ref.tag)[:TAG_CHOICES]
        actions = [
            Action(
                id="rollback-image",
                title="Roll back to an image tag",
                description=(
                    f"Register a copy of {state.key} with container {main.get('name')}'s image "
                    f"set to the chosen tag of {ref.repository}, then point {self.label} at it"
                ),
                argument="image",
                choices=choices,
            ),
            Action(
                id="force-new-deployment",
                title="Force a new deployment",
                description=(
                    f"Replace every task of {self.label} with fresh ones on {state.key} "
                    "(e.g. after switching the database secret)"
                ),
            ),
        ]
        if self.cfg.rds_instance:
            snaps, _ = self.rds.cached()
            actions.append(
                Action(
                    id="restore-rds-snapshot",
                    title="Restore an RDS snapshot to a new instance",
                    description=(
                        f"Restore a snapshot of {self.cfg.rds_instance} to a NEW instance beside "
                        "it (the live instance is not changed); switching the database secret "
                        "and redeploying remain manual steps"
                    ),
                    argument="snapshot",
                    choices=tuple(s.id for s in snaps if s.status == "available"),
                    dangerous=True,
                )
            )
        if pitr.offered(self.api.service):
            actions.append(pitr.action(self.api.service, self.api))
        return tuple(actions)

    def plan_action(
        self,
        action: str,
        argument: str | None,
        *,
        dry_run: bool = False,
        resume_from: Plan | None = None,
    ) -> Plan:
        """Plan an action: ``rollback-image`` (argument: an image tag),
        ``force-new-deployment`` (no argument) or ``restore-rds-snapshot`` (a snapshot id).
        ``resume_from`` is not needed: an ECS action planned again keeps nothing of the
        interrupted plan (its steps read the service back)."""
        if action == "rollback-image":
            if not argument or not argument.strip():
                raise InvalidTarget("rollback-image needs the image tag to roll back to")
            return self._plan_image(argument.strip(), dry_run)
        if action == "force-new-deployment":
            return self._plan_force(dry_run)
        if action == "restore-rds-snapshot":
            if not self.cfg.rds_instance:
                raise InvalidTarget(
                    f"{self.label} has no rds_instance in [services.ecs]: nothing to restore"
                )
            if not argument or not argument.strip():
                raise InvalidTarget("restore-rds-snapshot needs the snapshot id to restore")
            return self._plan_restore(argument.strip(), dry_run)
        if action == pitr.ACTION and pitr.offered(self.api.service):
            return pitr.plan(self.api.service, self.api, self.reader, argument, dry_run=dry_run)
        known = (
            "rollback-image, force-new-deployment"
            + (", restore-rds-snapshot" if self.cfg.rds_instance else "")
            + (", pitr" if pitr.offered(self.api.service) else "")
        )
        raise NotFound(f"unknown action {action!r} for {self.label} (known: {known})")

    def _plan_image(self, tag: str, dry_run: bool) -> Plan:
        state = self.reader.read()
        self._check_rollable(state)
        main = self.reader.main_container(state.task_definition)
        name = str(main.get("name"))
        ref = ImageRef.parse(str(main.get("image", "")))
        if tag in (ref.tag, ref.digest) or ref.with_tag(tag) == main.get("image"):
            raise InvalidTarget(f"{state.key} already runs {ref.with_tag(tag)} in container {name}")
        if "/" in tag or not IMAGE_TAG.fullmatch(tag):
            raise InvalidTarget(
                f"{tag!r} is not an image tag (letters, digits, '_', '.', '-'; or sha256:DIGEST)"
            )
        warnings = self._common_warnings(state)
        if ref.ecr() is None:
            warnings.append(
                f"{ref.repository} is not an ECR repository: whether tag {tag} exists was "
                "not checked"
            )
        else:
            self.ecr.check(ref, tag)
        new_image = ref.with_tag(tag)
        register = self.reader.register_input(state.task_definition)
        register["containerDefinitions"] = [
            dict(c, image=new_image) if c.get("name") == name else c
            for c in register.get("containerDefinitions", [])
        ]
        family = split_key(state.key)[0]
        reuse = self.reader.existing_copy(family, input_hash(register))
        if reuse:
            to = self.reader.revision(self.reader.task_definition(reuse), state.key)
            warnings.append(
                f"{reuse} already is this copy (container {name} on {tag}): it is reused, "
                "no new revision is registered"
            )
            title = f"Point {self.label} at {reuse} ({name} image {tag})"
            steps = self._switch(state, title, reuse, to.image)
            return self._plan(
                state, to, steps, warnings, action="rollback-image", argument=tag, dry_run=dry_run
            )
        highest = max(
            [split_key(k)[1] for k in self.reader.family_keys(family, "ACTIVE", limit=1)]
            + [split_key(k)[1] for k in self.reader.family_keys(family, "INACTIVE", limit=1)]
            + [split_key(state.key)[1]]
        )
        predicted = f"{family}:{highest + 1}"
        to = Revision(
            id=predicted,
            version=ImageRef.parse(new_image).label,
            image=new_image,
            change_cause=f"copy of {state.key} with {name} image {tag}",
        )
        registering, context = register_step(
            self.api,
            (
                f"Register {predicted}: a copy of {state.key} with container {name}'s "
                f"image set to {new_image}"
            ),
            register,
            task_definition=predicted,
            container=name,
            image=new_image,
            source=state.key,
        )
        title = f"Point {self.label} at {predicted} (the revision step 1 registers)"
        steps = [registering, *self._switch(state, title, predicted, new_image)]
        return self._plan(
            state,
            to,
            steps,
            warnings,
            action="rollback-image",
            argument=tag,
            dry_run=dry_run,
            context=context,
        )

    def _plan_force(self, dry_run: bool) -> Plan:
        state = self.reader.read()
        status = state.service.get("status")
        if status != "ACTIVE":
            raise InvalidTarget(f"{self.label} is {status}, not ACTIVE")
        current = self.reader.revision(state.task_definition, state.key)
        before = state.primary_id
        steps = [
            update_step(
                self.api,
                (
                    f"Start a new deployment of {self.label} on {state.key} "
                    f"({current.version}): ECS replaces every task with a fresh one"
                ),
                source=state.key,
                deployment_before=before,
            ),
            wait_step(
                self.api,
                task_definition=state.key,
                desired=_desired(state),
                deployment_before=before,
            ),
        ]
        return self._plan(
            state,
            current,
            steps,
            self._common_warnings(state),
            action="force-new-deployment",
            dry_run=dry_run,
        )

    def _plan_restore(self, snapshot_id: str, dry_run: bool) -> Plan:
        state = self.reader.read()
        instance = self.cfg.rds_instance
        snaps = self.rds.read()
        snap = next((s for s in snaps if s.id == snapshot_id), None)
        if snap is None:
            shown = ", ".join(s.id for s in snaps[:10]) or "none"
            raise NotFound(
                f"RDS snapshot {snapshot_id!r} of {instance} not found; snapshots: {shown}"
            )
        if snap.status != "available":
            raise InvalidTarget(f"RDS snapshot {snap.id} is {snap.status}, not available")
        source = instance_if_exists(self.api, instance)
        if source is None:
            raise NotFound(f"RDS instance {instance!r} not found in {self.cfg.region}")
        new_id = restored_name(instance, snap)
        args = restore_arguments(source, snap.id, new_id)
        existing = instance_if_exists(self.api, new_id)
        klass = args.get("DBInstanceClass", "the same class")
        title = (
            f"Restore snapshot {snap.id} ({hhmm(snap.created)}) to a NEW RDS instance "
            f"{new_id} ({klass}, same subnet group and security groups as {instance}); "
            f"{instance} itself is not changed"
        )
        if existing is not None:
            status = existing.get("DBInstanceStatus")
            title += f" — {new_id} already exists ({status}), so it is not restored again"
        steps = [restore_step(self.api, title, args), wait_rds_step(self.api, new_id)]
        warnings = [
            f"data written to {instance} after {hhmm(snap.created)} is not in {new_id}",
            *manual_steps(self.api, new_id, "<new endpoint>"),
        ]
        current = self.reader.revision(state.task_definition, state.key)
        return self._plan(
            state,
            current,
            steps,
            warnings,
            action="restore-rds-snapshot",
            argument=snap.id,
            dry_run=dry_run,
        )


def _available(revisions: tuple[Revision, ...]) -> str:
    shown = [f"{r.id} ({r.version}{', current' if r.current else ''})" for r in revisions]
    return ", ".join(shown) or "none"


def _desired(state: ServiceState) -> int:
    return int(state.service.get("desiredCount", 0) or 0)
