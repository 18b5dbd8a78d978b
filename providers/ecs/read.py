"""Reading the service and its task definitions: what runs, what ran, what a copy would be.

Task definitions are cached by ``family:rev``: a revision never changes once
registered, except its status (``fresh`` reads it again where that matters).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from console.errors import InvalidTarget, NotFound
from console.model import Revision
from providers.ecs.client import EcsApi, as_utc, hhmm
from providers.ecs.errors import aws_errors, call
from providers.ecs.refs import ImageRef, split_key, td_key

#: How many task-definition revisions of the family the snapshot lists (newest first).
HISTORY_LIMIT = 10


@dataclass
class ServiceState:
    """One read of the service and its live task definition."""

    service: dict[str, Any]
    task_definition: dict[str, Any]
    key: str

    @property
    def arn(self) -> str:
        return str(self.service.get("serviceArn", ""))

    @property
    def deployments(self) -> list[dict[str, Any]]:
        return list(self.service.get("deployments", []))

    def primary(self) -> dict[str, Any] | None:
        for dep in self.deployments:
            if dep.get("status") == "PRIMARY":
                return dep
        return None

    @property
    def primary_id(self) -> str:
        return str((self.primary() or {}).get("id", ""))

    @property
    def tags(self) -> dict[str, str]:
        return tags_of(self.service)


def tags_of(service: dict[str, Any]) -> dict[str, str]:
    """A service's tags as a dict (DescribeServices returns them only with ``include=TAGS``)."""
    raw = service.get("tags", []) or []
    return {str(t.get("key")): str(t.get("value", "")) for t in raw}


def canonical(register: dict[str, Any]) -> str:
    """A register-task-definition input as one compact JSON text: shown, run and hashed alike."""
    return json.dumps(register, separators=(",", ":"), sort_keys=True, default=str)


def input_hash(register: dict[str, Any]) -> str:
    """What identifies a copy in the journal, without its content (environment values...)."""
    return hashlib.sha256(canonical(register).encode()).hexdigest()


class EcsReader:
    """Reads of the ECS service and its task-definition family (blocking, thread-safe)."""

    def __init__(self, api: EcsApi) -> None:
        self.api = api
        self.cfg = api.cfg
        self._mutex = threading.Lock()
        self._task_defs: dict[str, dict[str, Any]] = {}

    def describe_service(self, *, tags: bool = False, poll: bool = False) -> dict[str, Any]:
        cfg, service = self.cfg, self.api.service
        region = f"{cfg.region}, from {cfg.region_from}" if cfg.region_from else cfg.region
        cluster_missing = NotFound(
            f"ECS cluster {cfg.cluster!r} not found in {region} "
            f"(cluster in [services.ecs] of {service.name})"
        )
        extra: dict[str, Any] = {"include": ["TAGS"]} if tags else {}
        found = call(
            "ecs:DescribeServices",
            f"reading {self.api.where}",
            self.api.ecs(poll=poll).describe_services,
            missing={"ClusterNotFoundException": cluster_missing},
            attempts=1 if poll else self.api.aws.max_attempts,
            cluster=cfg.cluster,
            services=[cfg.service],
            **extra,
        )
        services = found.get("services", [])
        if not services:
            raise NotFound(
                f"ECS service {cfg.service!r} not found in cluster {cfg.cluster!r} "
                f"({cfg.region}; service in [services.ecs] of {service.name})"
            )
        svc: dict[str, Any] = services[0]
        if svc.get("status") == "INACTIVE":
            raise NotFound(
                f"ECS service {cfg.service!r} in cluster {cfg.cluster!r} is INACTIVE (deleted)"
            )
        return svc

    def task_definition(
        self, ref: str, *, fresh: bool = False, poll: bool = False
    ) -> dict[str, Any]:
        """The task definition ``ref`` names (ARN, ``family:rev`` or family = latest ACTIVE)."""
        key = td_key(ref)
        with self._mutex:
            cached = self._task_defs.get(key) if key and not fresh else None
        if cached is not None:
            return cached
        # ECS answers ClientException "Unable to describe task definition." for an
        # unknown family or revision.
        missing = NotFound(f"task definition {ref!r} not found in {self.cfg.region}")
        found = call(
            "ecs:DescribeTaskDefinition",
            f"reading task definition {ref}",
            self.api.ecs(poll=poll).describe_task_definition,
            missing={"ClientException": missing, "InvalidParameterException": missing},
            attempts=1 if poll else self.api.aws.max_attempts,
            taskDefinition=ref,
            include=["TAGS"],
        )
        td: dict[str, Any] = dict(found["taskDefinition"])
        if found.get("tags"):
            # Kept with the definition so an image-rollback copy carries them too.
            td["tags"] = found["tags"]
        self.remember(td)
        return td

    def remember(self, td: dict[str, Any]) -> str:
        """Cache ``td`` (just read or just registered) under its key; return the key."""
        key = td_key(str(td.get("taskDefinitionArn", "")))
        with self._mutex:
            self._task_defs[key] = td
        return key

    def read(self, *, tags: bool = False, poll: bool = False) -> ServiceState:
        """The service (with its tags if asked) and the task definition it names."""
        svc = self.describe_service(tags=tags, poll=poll)
        ref = str(svc.get("taskDefinition", ""))
        td = self.task_definition(ref, poll=poll)
        return ServiceState(svc, td, td_key(str(td["taskDefinitionArn"])))

    def family_keys(self, family: str, status: str = "ACTIVE", limit: int = 0) -> list[str]:
        """``family:rev`` of the revisions of ``family`` with ``status``, newest first.

        With ``limit``, listing stops once that many are known *and* the answer
        so far came newest first (a long-lived family has thousands of
        revisions: no need to page through them all).  Sorted and filtered here
        anyway: not every implementation honours ``sort``, and an ARN of
        another family is never taken for one of ours.
        """
        keys: list[str] = []
        with aws_errors("ecs:ListTaskDefinitions", f"listing revisions of {family}"):
            pages = self.api.ecs().get_paginator("list_task_definitions")
            for page in pages.paginate(familyPrefix=family, status=status, sort="DESC"):
                for arn in page.get("taskDefinitionArns", []):
                    key = td_key(str(arn))
                    if key and split_key(key)[0] == family:
                        keys.append(key)
                revs = [split_key(k)[1] for k in keys]
                if limit and len(keys) >= limit and revs == sorted(revs, reverse=True):
                    break
        keys.sort(key=lambda k: split_key(k)[1], reverse=True)
        return keys[:limit] if limit else keys

    def main_container(self, td: dict[str, Any]) -> dict[str, Any]:
        """The container whose image is "the version" (``container`` in the config)."""
        containers: list[dict[str, Any]] = list(td.get("containerDefinitions", []))
        if not containers:
            raise InvalidTarget(
                f"task definition {td_key(td['taskDefinitionArn'])} has no containers"
            )
        if self.cfg.container:
            for container in containers:
                if container.get("name") == self.cfg.container:
                    return container
            names = ", ".join(str(c.get("name")) for c in containers)
            raise InvalidTarget(
                f"container {self.cfg.container!r} is not in "
                f"{td_key(td['taskDefinitionArn'])} (containers: {names}); "
                "fix container in [services.ecs]"
            )
        for container in containers:
            if container.get("essential", True):
                return container
        return containers[0]

    def main_or_first(self, td: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.main_container(td)
        except InvalidTarget:
            return dict((td.get("containerDefinitions") or [{}])[0])

    def main_image(self, td: dict[str, Any]) -> str:
        return str(self.main_or_first(td).get("image", ""))

    def revision(self, td: dict[str, Any], current_key: str) -> Revision:
        key = td_key(str(td["taskDefinitionArn"]))
        try:
            main = self.main_container(td)
        except InvalidTarget:
            main = (td.get("containerDefinitions") or [{}])[0]
        image = str(main.get("image", ""))
        details: list[str] = []
        others = [
            f"{c.get('name')}={ImageRef.parse(str(c.get('image', ''))).label}"
            for c in td.get("containerDefinitions", [])
            if c is not main
        ]
        if others:
            details.append("also " + ", ".join(others))
        if td.get("status") and td.get("status") != "ACTIVE":
            details.append(str(td["status"]))
        return Revision(
            id=key,
            version=ImageRef.parse(image).label,
            created=as_utc(td.get("registeredAt")),
            image=image,
            current=key == current_key,
            detail="; ".join(details),
            change_cause=registered_by(str(td.get("registeredBy", ""))),
        )

    def revisions(self, state: ServiceState) -> tuple[Revision, ...]:
        """The family's newest ACTIVE revisions (and the live one), newest first."""
        family = split_key(state.key)[0]
        keys = self.family_keys(family, limit=HISTORY_LIMIT)
        if state.key not in keys:
            keys.append(state.key)
            keys.sort(key=lambda k: split_key(k)[1], reverse=True)
        revisions = []
        for key in keys:
            td = state.task_definition if key == state.key else self.task_definition(key)
            revisions.append(self.revision(td, state.key))
        return tuple(revisions)

    def deployment_line(self, dep: dict[str, Any]) -> str:
        key = td_key(str(dep.get("taskDefinition", ""))) or str(dep.get("taskDefinition", ""))
        rollout = dep.get("rolloutState") or "?"
        line = (
            f"{key} {rollout}: {dep.get('runningCount', 0)}/{dep.get('desiredCount', 0)} running, "
            f"{dep.get('pendingCount', 0)} pending, {dep.get('failedTasks', 0)} failed"
        )
        created = as_utc(dep.get("createdAt"))
        if created:
            line += f", since {hhmm(created)}"
        reason = str(dep.get("rolloutStateReason") or "")
        if reason and rollout != "COMPLETED":
            line += f" ({reason})"
        return line

    # ------------------------------------------------------------------ copies

    def register_input(self, td: dict[str, Any]) -> dict[str, Any]:
        """``describe-task-definition`` output reduced to what ``register-task-definition`` accepts.

        The allowed keys come from the API model itself, so read-only fields
        (ARN, revision, status, requiresAttributes, compatibilities,
        registeredAt/By...) are dropped and new writable fields are kept.
        """
        model = self.api.ecs().meta.service_model.operation_model("RegisterTaskDefinition")
        writable = set(model.input_shape.members)
        return {k: v for k, v in td.items() if k in writable and v not in (None, "", [], {})}

    def existing_copy(self, family: str, digest: str) -> str:
        """An ACTIVE revision of ``family`` whose register input hashes to ``digest``, or ""."""
        for key in self.family_keys(family, limit=HISTORY_LIMIT):
            if input_hash(self.register_input(self.task_definition(key))) == digest:
                return key
        return ""


def registered_by(arn: str) -> str:
    """``registered by deployer`` from the task definition's ``registeredBy`` ARN.

    The whole ARN (``arn:aws:sts::123456789012:assumed-role/ci-deploy/run-42``)
    fills a table column with the account and the path; who registered it is
    the name: the role of an assumed role, else the last part (a user, a role).
    """
    if not arn:
        return ""
    resource = arn.split(":", 5)[-1]
    parts = [part for part in resource.split("/") if part]
    if not parts:
        return f"registered by {arn}"
    name = parts[1] if parts[0] == "assumed-role" and len(parts) > 1 else parts[-1]
    return f"registered by {name}"
