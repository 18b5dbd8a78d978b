"""The AWS ECS provider: task-definition and image rollbacks of one ECS service (runbook 003).

What an operator would otherwise type, done by the console and shown as the
same ``aws`` commands:

* **Roll back to a revision** (``plan(target)``): ``aws ecs update-service
  --task-definition FAMILY:REV``.  ``target`` is ``None`` (the revision listed
  after the live one, newest first), ``"web:2"``, a bare ``"2"``, the
  task-definition ARN, or an image tag that a revision of the family runs.
* **Roll back to an image tag** (action ``rollback-image``): register a copy
  of the live task definition with only the chosen container's image changed
  (``aws ecs register-task-definition --cli-input-json ...``; read-only fields
  of ``describe-task-definition`` stripped), then point the service at it.  If
  an ACTIVE revision already is exactly that copy, it is reused.
* **Force a new deployment** (action ``force-new-deployment``), e.g. after the
  database secret was switched.
* **Restore an RDS snapshot to a new instance** (action
  ``restore-rds-snapshot``, see ``providers.aws_rds``), with the remaining
  manual steps listed in the plan and the timeline.

Every plan ends with a wait with the meaning of ``aws ecs wait
services-stable`` (one deployment left, running == desired), made stricter in
two ways the waiter is not: a deployment whose ``rolloutState`` is FAILED (the
circuit breaker gave up) is a failure, not "stable", and the deployment left
must run the planned task definition.  Progress is reported while waiting; a
rollout that does not settle within the step's time limit is reported as
such, never as done.  Once UpdateService has answered, the change is made (its
answer is the proof): reads of the rollout that fail after that (throttling, a
reset or hung connection, a 5xx) are reported and polled again until the time
limit, each poll given at most a tenth of it and no retries of its own, so a
flaky API makes the rollback "not verified", never "failed", and never holds
the wait past its limit.

ECS accepts and reports task definitions both as ``family:rev`` and as ARNs
(and some emulators store whatever ``update-service`` was given): everything
here compares the ``family:rev`` key of either form.

A platform-side advisory lock lives in three tags on the ECS service
(``rollback-console:lock-holder`` / ``-expires`` / ``-id``), taken by the flow
before executing and checked again by ``execute``.  Tags have no
compare-and-swap, so after writing, the lock is read back to see who won; two
bastions writing within the same instant can still both believe they won
(consoles on one bastion are kept apart by the local lock first).

Blocking, like every provider: the app runs these methods in worker threads.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import threading
import time
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from console.config import EcsConfig, ServiceConfig
from console.model import (
    Action,
    Plan,
    PlatformEvent,
    ProgressEvent,
    ProgressStatus,
    ReadyResult,
    RestorePoint,
    Revision,
    Snapshot,
    Step,
    StepKind,
    Unit,
    utcnow,
)
from providers.aws_common import (
    READ_TIMEOUT_S,
    AwsClients,
    as_utc,
    aws_errors,
    call,
    hhmm,
    translate,
)
from providers.aws_rds import (
    RDS_FAILED_STATES,
    RdsSnapshot,
    endpoint_of,
    instance_if_exists,
    list_snapshots,
    restore_arguments,
    restore_cli_args,
    restored_name,
)
from providers.base import (
    Conflict,
    InvalidTarget,
    LockHeld,
    NotFound,
    OutcomeUnknown,
    ProviderError,
    TimedOut,
    Unavailable,
)
from providers.steps import failure

#: How many task-definition revisions of the family the snapshot lists (newest first).
HISTORY_LIMIT = 10
#: How many recently stopped tasks the snapshot shows beside the running ones.
STOPPED_LIMIT = 10
#: How many service events the snapshot keeps.
EVENT_LIMIT = 20
#: ECR tags and RDS snapshots change rarely: read them at most this often.
SLOW_CACHE_S = 60.0
#: How many ECR tags an image rollback offers as choices.
TAG_CHOICES = 30

LOCK_HOLDER = "rollback-console:lock-holder"
LOCK_EXPIRES = "rollback-console:lock-expires"
LOCK_ID = "rollback-console:lock-id"
_LOCK_KEYS = (LOCK_HOLDER, LOCK_EXPIRES, LOCK_ID)

_ARN_TD = re.compile(r"^arn:[^:]+:ecs:[^:]*:[^:]*:task-definition/(?P<family>[^:/]+):(?P<rev>\d+)$")
_KEY_TD = re.compile(r"^(?P<family>[A-Za-z0-9_-]{1,255}):(?P<rev>\d+)$")
_ECR_HOST = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$"
)
_TAG_VALUE_BAD = re.compile(r"[^\w.:/=+\-@ ]")

#: What a shown command does when the console runs it (``aws SERVICE OPERATION``).
_OP_REGISTER = ("ecs", "register-task-definition")
_OP_UPDATE = ("ecs", "update-service")
_OP_WAIT_ECS = ("ecs", "wait", "services-stable")
_OP_RESTORE = ("rds", "restore-db-instance-from-db-snapshot")
_OP_WAIT_RDS = ("rds", "wait", "db-instance-available")

#: Waits poll quickly at first (a rollout that is already done is seen at once),
#: then back off to ``poll_interval_s``.
_FIRST_POLL_S = 0.5
#: A poll made while waiting gets at most a tenth of the wait's time limit to be
#: answered (but never less than this, nor more than the usual read timeout), and
#: one attempt: the wait polls again by itself, and a hung or throttled call must
#: not hold the wait past its own limit.
_POLL_READ_TIMEOUT_MIN_S = 2.0


# --------------------------------------------------------------------------- parsing


def td_key(ref: str) -> str:
    """``family:rev`` of a task-definition ARN or ``family:rev`` string ("" if neither)."""
    ref = ref.strip()
    match = _ARN_TD.match(ref) or _KEY_TD.match(ref)
    return f"{match['family']}:{int(match['rev'])}" if match else ""


def split_key(key: str) -> tuple[str, int]:
    family, _, rev = key.rpartition(":")
    return family, int(rev)


@dataclass(frozen=True)
class ImageRef:
    """A container image reference split into repository, tag and digest."""

    repository: str
    tag: str = ""
    digest: str = ""

    @classmethod
    def parse(cls, image: str) -> ImageRef:
        name, _, digest = image.partition("@")
        slash = name.rfind("/")
        colon = name.rfind(":")
        tag = ""
        if colon > slash:
            name, tag = name[:colon], name[colon + 1 :]
        return cls(name, tag, digest)

    @property
    def label(self) -> str:
        """What the console calls this image's version: its tag, else a short digest."""
        if self.tag:
            return self.tag
        if self.digest:
            return self.digest.split(":", 1)[-1][:12]
        return "latest"

    def with_tag(self, tag: str) -> str:
        if tag.startswith("sha256:"):
            return f"{self.repository}@{tag}"
        return f"{self.repository}:{tag}"

    def ecr(self) -> tuple[str, str, str] | None:
        """(registry id, region, repository name) when the image lives in ECR."""
        host, _, path = self.repository.partition("/")
        match = _ECR_HOST.match(host)
        if not match or not path:
            return None
        return match["account"], match["region"], path


@dataclass(frozen=True)
class EcrImageTag:
    """One tag of the service image's ECR repository."""

    tag: str
    pushed: datetime | None
    digest: str = ""


def parse_command(command: str) -> tuple[tuple[str, ...], dict[str, list[str]]]:
    """Split a shown ``aws`` command into its operation words and ``--option values``."""
    words = shlex.split(command)
    if not words or words[0] != "aws":
        raise InvalidTarget(f"not an aws command: {command}")
    op: list[str] = []
    opts: dict[str, list[str]] = {}
    current: str | None = None
    for word in words[1:]:
        if word.startswith("--"):
            current = word
            opts.setdefault(current, [])
        elif current is None:
            op.append(word)
        else:
            opts[current].append(word)
    return tuple(op), opts


def _one(opts: dict[str, list[str]], name: str) -> str:
    values = opts.get(name) or [""]
    return values[0]


def _shorten(command: str, limit: int = 240) -> str:
    """A command as the timeline shows it: a long JSON argument is cut, not the options."""
    return command if len(command) <= limit else command[: limit - 1] + "…"


def _tag_value(text: str) -> str:
    """A string made safe for an AWS tag value (letters, digits, spaces, ``_.:/=+-@``)."""
    return _TAG_VALUE_BAD.sub("_", text)[:256]


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime | None:
    try:
        return as_utc(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return None


@dataclass
class _ServiceState:
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


# --------------------------------------------------------------------------- the provider


class EcsProvider:
    """Rolls back one ECS service (``[services.ecs]``); see the module doc.

    Construction does no I/O and imports no SDK.  Task definitions are cached
    by ``family:rev`` (they never change once registered, except their status),
    ECR tags and RDS snapshots for ``SLOW_CACHE_S``.
    """

    name: str = "ecs"

    def __init__(self, service: ServiceConfig) -> None:
        if service.ecs is None:
            raise ProviderError(f"{service.label}: provider 'ecs' needs a [services.ecs] table")
        self.service = service
        self.cfg: EcsConfig = service.ecs
        self.aws = AwsClients(self.cfg.region, self.cfg.profile, self.cfg.endpoint_url)
        #: Longest pause between two polls while waiting for a rollout.
        self.poll_interval_s = 5.0
        self._mutex = threading.Lock()
        self._task_defs: dict[str, dict[str, Any]] = {}
        self._ecr_cache: tuple[float, str, list[EcrImageTag], str] | None = None
        self._rds_cache: tuple[float, list[RdsSnapshot], str] | None = None
        self._lock_id = ""
        #: Plans whose wait step already ran out of time (``wait_ready`` then only looks once).
        self._gave_up: set[str] = set()
        #: Planned revision key -> the one ECS really registered, when they differ.
        self._registered: dict[str, str] = {}

    @property
    def label(self) -> str:
        return self.service.label

    @property
    def where(self) -> str:
        return f"service {self.cfg.service} in cluster {self.cfg.cluster} ({self.cfg.region})"

    def _ecs(self, *, poll: bool = False) -> Any:
        """The ECS client; ``poll``: the one for a wait's polls (short read timeout, one try)."""
        if not poll:
            return self.aws.client("ecs")
        timeout = min(
            READ_TIMEOUT_S, max(_POLL_READ_TIMEOUT_MIN_S, self.service.ready_timeout_s / 10)
        )
        return self.aws.client("ecs", read_timeout_s=timeout, max_attempts=1)

    # ------------------------------------------------------------------ reading

    def _describe_service(self, *, tags: bool = False, poll: bool = False) -> dict[str, Any]:
        cluster_missing = NotFound(
            f"ECS cluster {self.cfg.cluster!r} not found in {self.cfg.region} "
            f"(cluster in [services.ecs] of {self.service.name})"
        )
        extra: dict[str, Any] = {"include": ["TAGS"]} if tags else {}
        found = call(
            "ecs:DescribeServices",
            f"reading {self.where}",
            self._ecs(poll=poll).describe_services,
            missing={"ClusterNotFoundException": cluster_missing},
            attempts=1 if poll else self.aws.max_attempts,
            cluster=self.cfg.cluster,
            services=[self.cfg.service],
            **extra,
        )
        services = found.get("services", [])
        if not services:
            raise NotFound(
                f"ECS service {self.cfg.service!r} not found in cluster {self.cfg.cluster!r} "
                f"({self.cfg.region}; service in [services.ecs] of {self.service.name})"
            )
        svc: dict[str, Any] = services[0]
        if svc.get("status") == "INACTIVE":
            raise NotFound(
                f"ECS service {self.cfg.service!r} in cluster {self.cfg.cluster!r} "
                "is INACTIVE (deleted)"
            )
        return svc

    def _task_definition(
        self, ref: str, *, fresh: bool = False, poll: bool = False
    ) -> dict[str, Any]:
        """The task definition ``ref`` names (ARN, ``family:rev`` or family = latest ACTIVE).

        Cached: a revision never changes once registered, except its status
        (``fresh`` reads it again where that matters).
        """
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
            self._ecs(poll=poll).describe_task_definition,
            missing={"ClientException": missing, "InvalidParameterException": missing},
            attempts=1 if poll else self.aws.max_attempts,
            taskDefinition=ref,
            include=["TAGS"],
        )
        td: dict[str, Any] = dict(found["taskDefinition"])
        if found.get("tags"):
            # Kept with the definition so an image-rollback copy carries them too.
            td["tags"] = found["tags"]
        real = td_key(str(td.get("taskDefinitionArn", "")))
        with self._mutex:
            self._task_defs[real] = td
        return td

    def _read(self, *, poll: bool = False) -> _ServiceState:
        svc = self._describe_service(poll=poll)
        ref = str(svc.get("taskDefinition", ""))
        td = self._task_definition(ref, poll=poll)
        return _ServiceState(svc, td, td_key(str(td["taskDefinitionArn"])))

    def _family_keys(self, family: str, status: str = "ACTIVE", limit: int = 0) -> list[str]:
        """``family:rev`` of the revisions of ``family`` with ``status``, newest first.

        With ``limit``, listing stops once that many are known *and* the answer
        so far came newest first (a long-lived family has thousands of
        revisions: no need to page through them all).  Sorted and filtered here
        anyway: not every implementation honours ``sort``, and an ARN of
        another family is never taken for one of ours.
        """
        keys: list[str] = []
        with aws_errors("ecs:ListTaskDefinitions", f"listing revisions of {family}"):
            pages = self._ecs().get_paginator("list_task_definitions")
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

    def _main_container(self, td: dict[str, Any]) -> dict[str, Any]:
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

    def _revision(self, td: dict[str, Any], current_key: str) -> Revision:
        key = td_key(str(td["taskDefinitionArn"]))
        try:
            main = self._main_container(td)
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
            change_cause=str(td.get("registeredBy", "")),
        )

    def _revisions(self, state: _ServiceState) -> tuple[Revision, ...]:
        family = split_key(state.key)[0]
        keys = self._family_keys(family, limit=HISTORY_LIMIT)
        if state.key not in keys:
            keys.append(state.key)
            keys.sort(key=lambda k: split_key(k)[1], reverse=True)
        revisions = []
        for key in keys:
            td = state.task_definition if key == state.key else self._task_definition(key)
            revisions.append(self._revision(td, state.key))
        return tuple(revisions)

    # ------------------------------------------------------------------ snapshot

    def snapshot(self) -> Snapshot:
        """Task definition, deployments, revisions newest first, tasks, ECR tags, RDS snapshots."""
        state = self._read()
        revisions = self._revisions(state)
        current = next((r for r in revisions if r.current), None)
        notes: list[str] = []
        facts = self._facts(state)
        units = self._units(state, notes)
        image = str(self._main_container_or_first(state.task_definition).get("image", ""))
        tags, repo, tag_error = self._ecr_tags_cached(image)
        if tag_error:
            notes.append(f"ECR tags not read: {tag_error}")
        elif repo:
            shown = ", ".join(f"{t.tag} ({hhmm(t.pushed)})" for t in tags[:8]) or "none"
            facts.append((f"ECR tags of {repo}", shown))
            notes.append(
                f"Image rollback (action rollback-image) offers {len(tags)} ECR tag(s) of {repo}"
            )
        points: tuple[RestorePoint, ...] = ()
        rds_error = ""
        if self.cfg.rds_instance:
            snaps, rds_error = self._rds_cached()
            if rds_error:
                notes.append(f"RDS snapshots not read: {rds_error}")
            else:
                newest = snaps[0].label if snaps else "none"
                facts.append(
                    (f"RDS snapshots of {self.cfg.rds_instance}", f"{len(snaps)}, newest {newest}")
                )
                points = tuple(
                    RestorePoint(
                        s.id,
                        s.created,
                        s.status,
                        s.kind + (f", {s.size_gb} GiB" if s.size_gb else ""),
                    )
                    for s in snaps
                )
        return Snapshot(
            restore_source=f"RDS {self.cfg.rds_instance}" if self.cfg.rds_instance else "",
            restore_points=points,
            restore_error=rds_error,
            service=self.service.name,
            environment=self.service.environment,
            provider=self.name,
            taken_at=utcnow(),
            current=current,
            revisions=revisions,
            units=units,
            notes=tuple(notes),
            events=self._events(state),
            facts=tuple(facts),
        )

    def _main_container_or_first(self, td: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._main_container(td)
        except InvalidTarget:
            return dict((td.get("containerDefinitions") or [{}])[0])

    def _deployment_line(self, dep: dict[str, Any]) -> str:
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

    def _facts(self, state: _ServiceState) -> list[tuple[str, str]]:
        svc = state.service
        facts: list[tuple[str, str]] = [
            ("cluster / service", f"{self.cfg.cluster} / {self.cfg.service} ({self.cfg.region})"),
            (
                "service",
                f"{svc.get('status', '?')}: desired {svc.get('desiredCount', 0)}, "
                f"running {svc.get('runningCount', 0)}, pending {svc.get('pendingCount', 0)}",
            ),
            ("task definition", f"{state.key} ({state.task_definition.get('taskDefinitionArn')})"),
        ]
        for container in state.task_definition.get("containerDefinitions", []):
            facts.append((f"container {container.get('name')}", str(container.get("image", ""))))
        for dep in state.deployments:
            facts.append(
                (
                    f"deployment {dep.get('status', '?')} {dep.get('id', '')}",
                    self._deployment_line(dep),
                )
            )
        config = svc.get("deploymentConfiguration") or {}
        breaker = config.get("deploymentCircuitBreaker") or {}
        if breaker.get("enable"):
            text = "on, " + (
                "rolls back to the last completed deployment on failure"
                if breaker.get("rollback")
                else "stops a failing deployment (no automatic rollback)"
            )
        else:
            text = "off"
        facts.append(("circuit breaker", text))
        if config:
            facts.append(
                (
                    "deployment limits",
                    f"min healthy {config.get('minimumHealthyPercent', '?')}%, "
                    f"max {config.get('maximumPercent', '?')}%",
                )
            )
        controller = (svc.get("deploymentController") or {}).get("type", "ECS")
        if controller != "ECS":
            facts.append(("deployment controller", str(controller)))
        return facts

    def _events(self, state: _ServiceState) -> tuple[PlatformEvent, ...]:
        events = []
        for raw in list(state.service.get("events", []))[:EVENT_LIMIT]:
            message = str(raw.get("message", ""))
            lowered = message.lower()
            warning = any(
                word in lowered
                for word in ("unable", "failed", "error", "circuit breaker", "unhealthy")
            )
            events.append(
                PlatformEvent(
                    at=as_utc(raw.get("createdAt")),
                    kind="Warning" if warning else "Normal",
                    reason="ServiceEvent",
                    object=f"service/{self.cfg.service}",
                    message=message,
                )
            )
        events.sort(key=lambda e: e.at.timestamp() if e.at else 0.0, reverse=True)
        return tuple(events)

    def _list_task_arns(self, desired: str) -> list[str]:
        arns: list[str] = []
        with aws_errors("ecs:ListTasks", f"listing {desired} tasks of {self.where}"):
            pages = self._ecs().get_paginator("list_tasks")
            for page in pages.paginate(
                cluster=self.cfg.cluster, serviceName=self.cfg.service, desiredStatus=desired
            ):
                arns.extend(str(a) for a in page.get("taskArns", []))
        return arns

    def _describe_tasks(self, arns: list[str]) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = []
        for start in range(0, len(arns), 100):
            with aws_errors("ecs:DescribeTasks", f"reading tasks of {self.where}"):
                found = self._ecs().describe_tasks(
                    cluster=self.cfg.cluster, tasks=arns[start : start + 100]
                )
            tasks.extend(found.get("tasks", []))
        return tasks

    def _units(self, state: _ServiceState, notes: list[str]) -> tuple[Unit, ...]:
        """Running tasks, and the recently stopped tasks of the live task definition.

        Stopped tasks of the live revision are what a crash loop looks like, so
        they are units (not ready, with ECS's stopped reason).  Tasks of other
        revisions that stopped (drained by a deployment, or the bad release's
        crashes after a rollback) are summed up in a note instead: they are
        history, not part of what should be running now.
        """
        deployment_ids = {str(d.get("id")) for d in state.deployments}
        group = f"service:{self.cfg.service}"
        running = self._describe_tasks(self._list_task_arns("RUNNING"))
        stopped = self._describe_tasks(self._list_task_arns("STOPPED"))

        def ours(task: dict[str, Any]) -> bool:
            # ListTasks already filters by service; the group / startedBy check keeps
            # the list right where an implementation ignores that filter.
            return task.get("group") == group or task.get("startedBy") in deployment_ids

        running = [t for t in running if ours(t)]
        stopped = [t for t in stopped if ours(t)]
        stopped.sort(
            key=lambda t: as_utc(t.get("stoppedAt")) or as_utc(t.get("createdAt")) or utcnow(),
            reverse=True,
        )
        live = [t for t in stopped if td_key(str(t.get("taskDefinitionArn", ""))) == state.key]
        earlier = [t for t in stopped if t not in live]
        if len(live) > STOPPED_LIMIT:
            notes.append(
                f"{len(live) - STOPPED_LIMIT} older stopped task(s) of {state.key} not shown"
            )
        if earlier:
            newest = earlier[0]
            key = td_key(str(newest.get("taskDefinitionArn", "")))
            reason = str(newest.get("stoppedReason") or "no reason given")
            notes.append(
                f"{len(earlier)} task(s) of earlier revisions stopped recently "
                f"(newest: {key}, {reason})"
            )
        units = [self._unit(t) for t in running]
        units += [self._unit(t) for t in live[:STOPPED_LIMIT]]
        return tuple(units)

    def _unit(self, task: dict[str, Any]) -> Unit:
        arn = str(task.get("taskArn", ""))
        last = str(task.get("lastStatus", "?"))
        desired = str(task.get("desiredStatus", ""))
        health = str(task.get("healthStatus") or "UNKNOWN")
        key = td_key(str(task.get("taskDefinitionArn", "")))
        has_check = False
        if key:
            try:
                td = self._task_definition(key)
                has_check = any(c.get("healthCheck") for c in td.get("containerDefinitions", []))
            except ProviderError:
                has_check = False
        ready = (
            last == "RUNNING"
            and desired != "STOPPED"
            and health != "UNHEALTHY"
            and (health == "HEALTHY" or not has_check)
        )
        state = last if not desired or desired == last else f"{last} -> {desired}"
        detail_parts = []
        if has_check or health != "UNKNOWN":
            detail_parts.append(f"health {health}")
        reason = str(task.get("stoppedReason") or "")
        if reason:
            detail_parts.append(reason)
        stop_code = str(task.get("stopCode") or "")
        if stop_code:
            detail_parts.append(stop_code)
        for container in task.get("containers", []):
            if container.get("reason"):
                detail_parts.append(f"{container.get('name')}: {container['reason']}")
        node = str(task.get("containerInstanceArn") or "").rsplit("/", 1)[-1]
        return Unit(
            name=arn.rsplit("/", 1)[-1],
            state=state,
            ready=ready,
            revision=key,
            started=as_utc(task.get("startedAt")),
            node=node or str(task.get("availabilityZone") or ""),
            detail="; ".join(detail_parts),
        )

    # ------------------------------------------------------------------ logs

    def logs(self, unit: str, lines: int = 50) -> tuple[str, ...]:
        """The last ``lines`` log lines of task ``unit``'s main container (awslogs driver).

        ECS's awslogs driver writes each container to the stream
        ``PREFIX/CONTAINER/TASK_ID`` of the group its ``logConfiguration`` names.
        ``NotFound`` when the task or its stream is gone; ``InvalidTarget`` when
        the container does not log to CloudWatch Logs.
        """
        found = call(
            "ecs:DescribeTasks",
            f"reading task {unit} of {self.where}",
            self._ecs().describe_tasks,
            cluster=self.cfg.cluster,
            tasks=[unit],
        )
        tasks = found.get("tasks", [])
        if not tasks:
            raise NotFound(f"task {unit} not found in cluster {self.cfg.cluster}")
        task = tasks[0]
        td = self._task_definition(str(task.get("taskDefinitionArn", "")))
        container = self._main_container_or_first(td)
        name = str(container.get("name"))
        config = container.get("logConfiguration") or {}
        driver = config.get("logDriver", "")
        if driver != "awslogs":
            raise InvalidTarget(
                f"container {name} of {td_key(str(td['taskDefinitionArn']))} logs with "
                f"{driver or 'no log driver'}, not awslogs: its logs are not in CloudWatch Logs"
            )
        options = config.get("options") or {}
        group = str(options.get("awslogs-group", ""))
        prefix = str(options.get("awslogs-stream-prefix", ""))
        if not group or not prefix:
            raise InvalidTarget(
                f"container {name} has no awslogs-group / awslogs-stream-prefix: "
                "its log stream cannot be named"
            )
        task_id = str(task.get("taskArn", unit)).rsplit("/", 1)[-1]
        stream = f"{prefix}/{name}/{task_id}"
        region = str(options.get("awslogs-region") or self.cfg.region)
        missing = NotFound(f"log stream {stream} not found in {group} (nothing logged yet?)")
        events = call(
            "logs:GetLogEvents",
            f"reading {group}/{stream}",
            self.aws.client("logs", region).get_log_events,
            missing={"ResourceNotFoundException": missing},
            logGroupName=group,
            logStreamName=stream,
            limit=max(1, lines),
            startFromHead=False,
        )
        return tuple(str(e.get("message", "")).rstrip("\n") for e in events.get("events", []))[
            -lines:
        ]

    # ------------------------------------------------------------------ ECR / RDS

    def image_tags(self) -> list[EcrImageTag]:
        """ECR tags of the live image's repository, newest push first ([] when not ECR)."""
        state = self._read()
        image = str(self._main_container(state.task_definition).get("image", ""))
        return self._ecr_tags(ImageRef.parse(image))[0]

    def _ecr_tags(self, ref: ImageRef) -> tuple[list[EcrImageTag], str]:
        location = ref.ecr()
        if location is None:
            return [], ""
        registry, region, repo = location
        ecr = self.aws.client("ecr", region)
        tags: list[EcrImageTag] = []
        with aws_errors("ecr:DescribeImages", f"listing tags of ECR repository {repo}"):
            pages = ecr.get_paginator("describe_images")
            for page in pages.paginate(
                repositoryName=repo, registryId=registry, filter={"tagStatus": "TAGGED"}
            ):
                for detail in page.get("imageDetails", []):
                    for tag in detail.get("imageTags", []) or []:
                        tags.append(
                            EcrImageTag(
                                str(tag),
                                as_utc(detail.get("imagePushedAt")),
                                str(detail.get("imageDigest", "")),
                            )
                        )
        tags.sort(key=lambda t: (t.pushed.timestamp() if t.pushed else 0.0, t.tag), reverse=True)
        return tags, repo

    def _ecr_tags_cached(self, image: str) -> tuple[list[EcrImageTag], str, str]:
        """(tags, repository, error) for ``image``, read at most every ``SLOW_CACHE_S``."""
        ref = ImageRef.parse(image)
        now = time.monotonic()
        with self._mutex:
            cached = self._ecr_cache
        if cached and cached[1] == ref.repository and now - cached[0] < SLOW_CACHE_S:
            tags, error = cached[2], cached[3]
        else:
            try:
                tags, _ = self._ecr_tags(ref)
                error = ""
            except ProviderError as err:
                tags, error = [], str(err)
            with self._mutex:
                self._ecr_cache = (now, ref.repository, tags, error)
        location = ref.ecr()
        return tags, (location[2] if location else ""), error

    def rds_snapshots(self) -> list[RdsSnapshot]:
        """Snapshots of ``rds_instance`` newest first ([] when none is configured).

        For the database panel (runbook 003); raises ``NotFound`` for an unknown
        instance and the usual ``ProviderError``s for AWS failures.
        """
        if not self.cfg.rds_instance:
            return []
        snaps = list_snapshots(self.aws, self.cfg.rds_instance)
        with self._mutex:
            self._rds_cache = (time.monotonic(), snaps, "")
        return snaps

    def _rds_cached(self) -> tuple[list[RdsSnapshot], str]:
        now = time.monotonic()
        with self._mutex:
            cached = self._rds_cache
        if cached and now - cached[0] < SLOW_CACHE_S:
            return cached[1], cached[2]
        try:
            return self.rds_snapshots(), ""
        except ProviderError as err:
            with self._mutex:
                self._rds_cache = (now, [], str(err))
            return [], str(err)

    # ------------------------------------------------------------------ planning

    def _check_rollable(self, state: _ServiceState) -> None:
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
        self, state: _ServiceState, revisions: tuple[Revision, ...], target: str | None
    ) -> str:
        """The ``family:rev`` key ``target`` means (see module doc)."""
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
            f"number or an ARN (ACTIVE: {self._available(revisions)}); "
            "for an image tag use the rollback-image action"
        )

    @staticmethod
    def _available(revisions: tuple[Revision, ...]) -> str:
        shown = [f"{r.id} ({r.version}{', current' if r.current else ''})" for r in revisions]
        return ", ".join(shown) or "none"

    def _cmd_update(self, *extra: str) -> str:
        return self.aws.command(
            "ecs",
            "update-service",
            "--cluster",
            self.cfg.cluster,
            "--service",
            self.cfg.service,
            *extra,
        )

    def _wait_step(self, state: _ServiceState, target: str) -> Step:
        desired = state.service.get("desiredCount", 0)
        return Step(
            title=(
                f"Wait until {self.cfg.service} is stable on {target}: one deployment, "
                f"{desired} of {desired} tasks running (aws ecs wait services-stable)"
            ),
            command=self.aws.command(
                "ecs",
                "wait",
                "services-stable",
                "--cluster",
                self.cfg.cluster,
                "--services",
                self.cfg.service,
            ),
            kind=StepKind.WAIT,
            timeout_s=self.service.ready_timeout_s,
        )

    def _common_warnings(self, state: _ServiceState) -> list[str]:
        warnings: list[str] = []
        deployments = state.deployments
        if len(deployments) > 1:
            lines = "; ".join(self._deployment_line(d) for d in deployments)
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
        state: _ServiceState,
        to: Revision,
        steps: list[Step],
        warnings: list[str],
        *,
        action: str = "rollback",
        argument: str = "",
        dry_run: bool,
        data: dict[str, Any] | None = None,
    ) -> Plan:
        current = self._revision(state.task_definition, state.key)
        primary = state.primary() or {}
        before = str(primary.get("id", ""))
        payload: dict[str, Any] = {
            "plan_id": uuid.uuid4().hex,
            "deployment_before": before,
            "resume": {"deployment_before": before},
        }
        payload.update(data or {})
        return Plan(
            service=self.service.name,
            environment=self.service.environment,
            provider=self.name,
            from_revision=current,
            to_revision=to,
            steps=tuple(steps),
            warnings=tuple(warnings),
            dry_run=dry_run,
            action=action,
            argument=argument,
            data=payload,
        )

    def plan(self, target: str | None, *, dry_run: bool = False) -> Plan:
        """Point the service at an earlier task-definition revision (module doc, first route).

        ``NotFound`` for an unknown revision (naming the ACTIVE ones),
        ``InvalidTarget`` when it is already live, INACTIVE, or the service
        cannot be rolled back with update-service.
        """
        state = self._read()
        self._check_rollable(state)
        revisions = self._revisions(state)
        key = self._resolve(state, revisions, target)
        if key == state.key:
            raise InvalidTarget(f"{key} is already the task definition of {self.label}")
        try:
            td = self._task_definition(key, fresh=True)
        except NotFound:
            raise NotFound(
                f"task definition {key} not found for {self.label} "
                f"(ACTIVE: {self._available(revisions)})"
            ) from None
        if td.get("status") != "ACTIVE":
            raise InvalidTarget(
                f"{key} is {td.get('status')} (deregistered): ECS cannot deploy it; use the "
                f"rollback-image action to register a copy of {state.key} with its image"
            )
        to = self._revision(td, state.key)
        warnings = self._common_warnings(state)
        current = self._revision(state.task_definition, state.key)
        if split_key(key)[0] != split_key(state.key)[0]:
            warnings.append(f"{key} belongs to another family than the live {state.key}")
        if to.image == current.image:
            warnings.append(
                f"{key} runs the same {self._main_name(state)} image as {state.key} "
                f"({to.version}): only the task definition's other settings change"
            )
        steps = [
            Step(
                title=(
                    f"Point {self.label} at {key} (image {to.version}); ECS starts a new "
                    f"deployment and drains the tasks of {state.key}"
                ),
                command=self._cmd_update("--task-definition", key),
                kind=StepKind.SWITCH,
            ),
            self._wait_step(state, key),
        ]
        return self._plan(state, to, steps, warnings, dry_run=dry_run)

    def _main_name(self, state: _ServiceState) -> str:
        return str(self._main_container_or_first(state.task_definition).get("name", "main"))

    # ------------------------------------------------------------------ actions

    def actions(self) -> tuple[Action, ...]:
        """Image rollback (with the ECR tags as choices), force new deployment, RDS restore."""
        state = self._read()
        main = self._main_container_or_first(state.task_definition)
        ref = ImageRef.parse(str(main.get("image", "")))
        tags, _repo, _error = self._ecr_tags_cached(str(main.get("image", "")))
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
            snaps, _ = self._rds_cached()
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
        return tuple(actions)

    def plan_action(self, action: str, argument: str | None, *, dry_run: bool = False) -> Plan:
        """Plan an action: ``rollback-image`` (argument: an image tag),
        ``force-new-deployment`` (no argument) or ``restore-rds-snapshot`` (a snapshot id)."""
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
        known = "rollback-image, force-new-deployment" + (
            ", restore-rds-snapshot" if self.cfg.rds_instance else ""
        )
        raise NotFound(f"unknown action {action!r} for {self.label} (known: {known})")

    def _register_input(self, td: dict[str, Any]) -> dict[str, Any]:
        """``describe-task-definition`` output reduced to what ``register-task-definition`` accepts.

        The allowed keys come from the API model itself, so read-only fields
        (ARN, revision, status, requiresAttributes, compatibilities,
        registeredAt/By...) are dropped and new writable fields are kept.
        """
        model = self._ecs().meta.service_model.operation_model("RegisterTaskDefinition")
        writable = set(model.input_shape.members)
        return {k: v for k, v in td.items() if k in writable and v not in (None, "", [], {})}

    def _plan_image(self, tag: str, dry_run: bool) -> Plan:
        state = self._read()
        self._check_rollable(state)
        main = self._main_container(state.task_definition)
        name = str(main.get("name"))
        ref = ImageRef.parse(str(main.get("image", "")))
        if tag in (ref.tag, ref.digest) or ref.with_tag(tag) == main.get("image"):
            raise InvalidTarget(f"{state.key} already runs {ref.with_tag(tag)} in container {name}")
        if "/" in tag or not re.fullmatch(r"[\w][\w.\-]{0,127}|sha256:[0-9a-f]{64}", tag):
            raise InvalidTarget(
                f"{tag!r} is not an image tag (letters, digits, '_', '.', '-'; or sha256:DIGEST)"
            )
        warnings = self._common_warnings(state)
        location = ref.ecr()
        if location is None:
            warnings.append(
                f"{ref.repository} is not an ECR repository: whether tag {tag} exists was "
                "not checked"
            )
        else:
            self._check_ecr_tag(ref, tag)
        new_image = ref.with_tag(tag)
        register = self._register_input(state.task_definition)
        register["containerDefinitions"] = [
            dict(c, image=new_image) if c.get("name") == name else c
            for c in register.get("containerDefinitions", [])
        ]
        family = split_key(state.key)[0]
        reuse = self._existing_copy(family, register)
        if reuse:
            td = self._task_definition(reuse)
            to = self._revision(td, state.key)
            warnings.append(
                f"{reuse} already is this copy (container {name} on {tag}): it is reused, "
                "no new revision is registered"
            )
            steps = [
                Step(
                    title=f"Point {self.label} at {reuse} ({name} image {tag})",
                    command=self._cmd_update("--task-definition", reuse),
                    kind=StepKind.SWITCH,
                ),
                self._wait_step(state, reuse),
            ]
            return self._plan(
                state, to, steps, warnings, action="rollback-image", argument=tag, dry_run=dry_run
            )
        highest = max(
            [split_key(k)[1] for k in self._family_keys(family, "ACTIVE", limit=1)]
            + [split_key(k)[1] for k in self._family_keys(family, "INACTIVE", limit=1)]
            + [split_key(state.key)[1]]
        )
        predicted = f"{family}:{highest + 1}"
        to = Revision(
            id=predicted,
            version=ImageRef.parse(new_image).label,
            image=new_image,
            change_cause=f"copy of {state.key} with {name} image {tag}",
        )
        body = json.dumps(register, separators=(",", ":"), sort_keys=True, default=str)
        steps = [
            Step(
                title=(
                    f"Register {predicted}: a copy of {state.key} with container {name}'s "
                    f"image set to {new_image}"
                ),
                command=self.aws.command(
                    "ecs", "register-task-definition", "--cli-input-json", body
                ),
                kind=StepKind.COMMAND,
            ),
            Step(
                title=f"Point {self.label} at {predicted} (the revision step 1 registers)",
                command=self._cmd_update("--task-definition", predicted),
                kind=StepKind.SWITCH,
            ),
            self._wait_step(state, predicted),
        ]
        return self._plan(
            state, to, steps, warnings, action="rollback-image", argument=tag, dry_run=dry_run
        )

    def switch_took_effect(self, plan: Plan) -> bool | None:
        """Whether the service already runs what ``plan`` points it at (for resume).

        A rollback is done when the service names the target revision; an image
        rollback when the live main container runs the target image (the copy's
        revision number may not be the one predicted); a forced deployment when
        the PRIMARY deployment is no longer the one seen at plan time.  An RDS
        restore is idempotent already (re-planning finds the restored instance).
        """
        if plan.action not in ("rollback", "rollback-image", "force-new-deployment"):
            return None
        state = self._read()
        if plan.action == "rollback":
            return state.key == td_key(plan.to_revision.id)
        if plan.action == "rollback-image":
            image = str(self._main_container_or_first(state.task_definition).get("image", ""))
            return bool(plan.to_revision.image) and image == plan.to_revision.image
        before = str((plan.data.get("resume") or {}).get("deployment_before", ""))
        if not before:
            return None
        primary = state.primary() or {}
        return str(primary.get("id", "")) != before

    def _check_ecr_tag(self, ref: ImageRef, tag: str) -> None:
        location = ref.ecr()
        if location is None:
            return
        registry, region, repo = location
        image_id = {"imageDigest": tag} if tag.startswith("sha256:") else {"imageTag": tag}
        try:
            call(
                "ecr:DescribeImages",
                f"checking tag {tag} in ECR repository {repo}",
                self.aws.client("ecr", region).describe_images,
                missing={
                    "ImageNotFoundException": NotFound("image"),
                    "RepositoryNotFoundException": NotFound(
                        f"ECR repository {repo!r} (of the live image) not found in {region}"
                    ),
                },
                repositoryName=repo,
                registryId=registry,
                imageIds=[image_id],
            )
        except NotFound as err:
            if str(err) != "image":
                raise
            tags, _ = self._ecr_tags(ref)
            recent = ", ".join(t.tag for t in tags[:10]) or "none"
            raise NotFound(
                f"image tag {tag!r} not found in ECR repository {repo}; recent tags: {recent}"
            ) from None

    def _existing_copy(self, family: str, register: dict[str, Any]) -> str:
        """An ACTIVE revision of ``family`` that registering ``register`` would duplicate."""
        want = json.dumps(register, sort_keys=True, default=str)
        for key in self._family_keys(family, limit=HISTORY_LIMIT):
            candidate = self._register_input(self._task_definition(key))
            if json.dumps(candidate, sort_keys=True, default=str) == want:
                return key
        return ""

    def _plan_force(self, dry_run: bool) -> Plan:
        state = self._read()
        status = state.service.get("status")
        if status != "ACTIVE":
            raise InvalidTarget(f"{self.label} is {status}, not ACTIVE")
        current = self._revision(state.task_definition, state.key)
        steps = [
            Step(
                title=(
                    f"Start a new deployment of {self.label} on {state.key} ({current.version}): "
                    "ECS replaces every task with a fresh one"
                ),
                command=self._cmd_update("--force-new-deployment"),
                kind=StepKind.RESTART,
            ),
            self._wait_step(state, state.key),
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
        state = self._read()
        instance = self.cfg.rds_instance
        snaps = self.rds_snapshots()
        snap = next((s for s in snaps if s.id == snapshot_id), None)
        if snap is None:
            shown = ", ".join(s.id for s in snaps[:10]) or "none"
            raise NotFound(
                f"RDS snapshot {snapshot_id!r} of {instance} not found; snapshots: {shown}"
            )
        if snap.status != "available":
            raise InvalidTarget(f"RDS snapshot {snap.id} is {snap.status}, not available")
        source = instance_if_exists(self.aws, instance)
        if source is None:
            raise NotFound(f"RDS instance {instance!r} not found in {self.cfg.region}")
        new_id = restored_name(instance, snap)
        args = restore_arguments(source, snap.id, new_id)
        existing = instance_if_exists(self.aws, new_id)
        klass = args.get("DBInstanceClass", "the same class")
        restore_title = (
            f"Restore snapshot {snap.id} ({hhmm(snap.created)}) to a NEW RDS instance "
            f"{new_id} ({klass}, same subnet group and security groups as {instance}); "
            f"{instance} itself is not changed"
        )
        if existing is not None:
            status = existing.get("DBInstanceStatus")
            restore_title += f" — {new_id} already exists ({status}), so it is not restored again"
        steps = [
            Step(
                title=restore_title,
                command=self.aws.command(
                    "rds", "restore-db-instance-from-db-snapshot", *restore_cli_args(args)
                ),
                kind=StepKind.COMMAND,
                timeout_s=120.0,
            ),
            Step(
                title=f"Wait until {new_id} is available (RDS restores take minutes)",
                command=self.aws.command(
                    "rds", "wait", "db-instance-available", "--db-instance-identifier", new_id
                ),
                kind=StepKind.WAIT,
                timeout_s=self.service.ready_timeout_s,
            ),
        ]
        warnings = [
            f"data written to {instance} after {hhmm(snap.created)} is not in {new_id}",
            *self._manual_steps(new_id, "<new endpoint>"),
        ]
        current = self._revision(state.task_definition, state.key)
        return self._plan(
            state,
            current,
            steps,
            warnings,
            action="restore-rds-snapshot",
            argument=snap.id,
            dry_run=dry_run,
            data={"restored_instance": new_id},
        )

    def _manual_steps(self, new_id: str, endpoint: str) -> list[str]:
        force = self._cmd_update("--force-new-deployment")
        return [
            (
                f"manual step 1 (the console does not change secrets): point the application's "
                f"database secret at {new_id} ({endpoint}), e.g. aws secretsmanager "
                "update-secret --secret-id <the service's database secret> --secret-string "
                f'\'{{"host":"{endpoint.rsplit(":", 1)[0]}",...}}\''
            ),
            (
                f"manual step 2: force a new deployment of {self.label} so its tasks read the "
                f"new secret (action force-new-deployment, or {force})"
            ),
        ]

    # ------------------------------------------------------------------ lock

    def _lock_tags(self, *, poll: bool = False) -> tuple[str, dict[str, str]]:
        """The service's ARN and its tags (one DescribeServices call with include=TAGS)."""
        svc = self._describe_service(tags=True, poll=poll)
        tags = {str(t.get("key")): str(t.get("value", "")) for t in svc.get("tags", []) or []}
        return str(svc["serviceArn"]), tags

    def _held_by_other(self, tags: dict[str, str]) -> tuple[str, datetime | None] | None:
        """(holder, expiry) of an unexpired lock someone else holds, else None."""
        holder = tags.get(LOCK_HOLDER, "")
        if not holder or tags.get(LOCK_ID) == self._lock_id:
            return None
        expires = _parse_iso(tags.get(LOCK_EXPIRES, ""))
        if expires is None or expires <= utcnow():
            return None
        return holder, expires

    def acquire_lock(self, operator: str, host: str, ttl_s: float) -> str:
        """Tag the service as locked by ``operator@host`` until now + ``ttl_s``.

        ``LockHeld`` (exit 3) while another console's lock has not expired; the
        same operator on the same host takes their own earlier lock back (a
        crashed run).  Returns a warning when an expired lock was taken over.
        """
        me = _tag_value(f"{operator}@{host}")
        arn, tags = self._lock_tags()
        holder = tags.get(LOCK_HOLDER, "")
        warning = ""
        other = self._held_by_other(tags)
        if other is not None and other[0] != me:
            raise LockHeld(
                f"{self.label} is locked by {other[0]} until {other[1]:%H:%M:%S} UTC "
                f"(tag {LOCK_HOLDER} on the ECS service); wait for them or for it to expire"
            )
        if other is not None:
            warning = f"took back the platform lock {me} still held from an earlier run"
        elif holder and tags.get(LOCK_ID) != self._lock_id:
            expired = _parse_iso(tags.get(LOCK_EXPIRES, ""))
            when = f"expired {hhmm(expired)}" if expired else "with an unreadable expiry"
            warning = f"took over the platform lock of {holder} ({when})"
        lock_id = secrets.token_hex(8)
        expires = utcnow() + timedelta(seconds=ttl_s)
        with aws_errors("ecs:TagResource", f"taking the lock on {self.where}"):
            self._ecs().tag_resource(
                resourceArn=arn,
                tags=[
                    {"key": LOCK_HOLDER, "value": me},
                    {"key": LOCK_EXPIRES, "value": _iso(expires)},
                    {"key": LOCK_ID, "value": lock_id},
                ],
            )
        _, after = self._lock_tags()
        if after.get(LOCK_ID) != lock_id:
            raise LockHeld(
                f"{self.label}: {after.get(LOCK_HOLDER, 'another console')} took the platform "
                "lock at the same moment; try again"
            )
        self._lock_id = lock_id
        return warning

    def release_lock(self, operator: str, host: str) -> None:
        """Remove the lock tags if this console (or ``operator@host``) still holds them.

        With the wait's short timeouts and no retries: the rollback is over by now,
        and an API that stopped answering must not hold the operator's terminal for
        minutes over a lock that expires on its own.
        """
        arn, tags = self._lock_tags(poll=True)
        me = _tag_value(f"{operator}@{host}")
        mine = tags.get(LOCK_ID) == self._lock_id if self._lock_id else tags.get(LOCK_HOLDER) == me
        if not tags.get(LOCK_HOLDER) or not mine:
            return
        call(
            "ecs:UntagResource",
            f"releasing the lock on {self.where}",
            self._ecs(poll=True).untag_resource,
            attempts=1,
            resourceArn=arn,
            tagKeys=list(_LOCK_KEYS),
        )
        self._lock_id = ""

    def _check_lock(self) -> dict[str, Any]:
        """``LockHeld`` if another console holds the lock; else the service as just read."""
        svc = self._describe_service(tags=True)
        tags = {str(t.get("key")): str(t.get("value", "")) for t in svc.get("tags", []) or []}
        other = self._held_by_other(tags)
        if other is not None:
            raise LockHeld(
                f"{self.label} is locked by {other[0]} until {other[1]:%H:%M:%S} UTC "
                f"(tag {LOCK_HOLDER} on the ECS service); nothing was changed"
            )
        return svc

    # ------------------------------------------------------------------ execute

    def execute(self, plan: Plan) -> Iterator[ProgressEvent]:
        """Run the plan's shown ``aws`` commands through boto3, observing each result.

        The lock tag is checked first, and before the first change the service
        must still run the plan's starting revision (``Conflict`` otherwise).
        """
        if plan.dry_run:
            raise InvalidTarget("a dry-run plan is never executed")
        svc = self._check_lock()
        parsed = [parse_command(step.command) for step in plan.steps]
        changes = [i for i, (op, _) in enumerate(parsed) if op in (_OP_REGISTER, _OP_UPDATE)]
        if changes and plan.from_revision is not None:
            ref = str(svc.get("taskDefinition", ""))
            now = td_key(ref) or td_key(str(self._task_definition(ref)["taskDefinitionArn"]))
            if now != plan.from_revision.id:
                raise Conflict(
                    f"{self.label} changed since the plan: it runs {now}, the plan started "
                    f"from {plan.from_revision.id}; plan again"
                )
        for index, (step, (op, opts)) in enumerate(zip(plan.steps, parsed, strict=True)):
            yield ProgressEvent(index, ProgressStatus.STARTED, _shorten(step.command))
            try:
                if op == _OP_REGISTER:
                    yield from self._run_register(index, opts, plan)
                elif op == _OP_UPDATE:
                    yield from self._run_update(index, opts, plan)
                elif op == _OP_WAIT_ECS:
                    yield from self._run_wait(index, step, plan)
                elif op == _OP_RESTORE:
                    yield from self._run_restore(index, opts)
                elif op == _OP_WAIT_RDS:
                    yield from self._run_wait(index, step, plan)
                else:
                    raise InvalidTarget(f"the console does not run {' '.join(op)}")
            except ProviderError as err:
                yield failure(index, err)
                raise

    def _run_register(
        self, index: int, opts: dict[str, list[str]], plan: Plan
    ) -> Iterator[ProgressEvent]:
        body = json.loads(_one(opts, "--cli-input-json"))
        found = yield from self._register_once(index, body)
        td = dict(found["taskDefinition"])
        if found.get("tags") or body.get("tags"):
            td["tags"] = found.get("tags") or body["tags"]
        key = td_key(str(td["taskDefinitionArn"]))
        with self._mutex:
            self._task_defs[key] = td
        planned = plan.to_revision.id
        if key != planned:
            self._registered[planned] = key
            yield ProgressEvent(
                index,
                ProgressStatus.OUTPUT,
                f"ECS registered {key}, not {planned} as planned (another revision was "
                f"registered meanwhile); the next steps use {key}",
            )
        image = ImageRef.parse(str(self._main_container_or_first(td).get("image", "")))
        yield ProgressEvent(index, ProgressStatus.FINISHED, f"registered {key} ({image.label})")

    def _register_once(
        self, index: int, body: dict[str, Any]
    ) -> Generator[ProgressEvent, None, dict[str, Any]]:
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
        client = self.aws.client("ecs", max_attempts=1)
        attempts = self.aws.max_attempts
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
                copy = self._existing_copy(str(body.get("family", "")), body)
                if copy:
                    yield ProgressEvent(
                        index,
                        ProgressStatus.OUTPUT,
                        f"no answer to ecs:RegisterTaskDefinition ({err}), but {copy} is that "
                        "copy when looked for: it is used, not registered again",
                    )
                    return {"taskDefinition": self._task_definition(copy)}
            yield ProgressEvent(
                index, ProgressStatus.OUTPUT, f"{err}; registering again (attempt {attempt + 1})"
            )
            time.sleep(min(2.0, 0.2 * 2**attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _target_key(self, plan: Plan) -> str:
        return self._registered.get(plan.to_revision.id, plan.to_revision.id)

    def _run_update(
        self, index: int, opts: dict[str, list[str]], plan: Plan
    ) -> Iterator[ProgressEvent]:
        cluster = _one(opts, "--cluster") or self.cfg.cluster
        service = _one(opts, "--service") or self.cfg.service
        force = "--force-new-deployment" in opts
        before = self._read()
        before_id = str((before.primary() or {}).get("id", ""))
        kwargs: dict[str, Any] = {"cluster": cluster, "service": service}
        target = ""
        if "--task-definition" in opts:
            target = self._registered.get(
                _one(opts, "--task-definition"), _one(opts, "--task-definition")
            )
            kwargs["taskDefinition"] = target
        if force:
            kwargs["forceNewDeployment"] = True
        doing = (
            f"pointing {self.label} at {target}"
            if target
            else f"forcing a new deployment of {self.label}"
        )
        try:
            with aws_errors("ecs:UpdateService", doing):
                found = self._ecs().update_service(**kwargs)
        except (Unavailable, TimedOut) as err:
            found = {"service": self._unanswered_update(err, before, target)}
            yield ProgressEvent(
                index,
                ProgressStatus.OUTPUT,
                f"no answer to ecs:UpdateService ({err}), but {self.label} "
                + (f"points at {target}" if target else "has a new deployment")
                + " when read again: the update was applied",
            )
        # UpdateService answers with the service as it now is: that answer is the proof,
        # not a second read, which may fail although the change is made (the wait
        # step then reads the rollout, tolerating a flaky API until its time limit).
        answer: dict[str, Any] = dict(found.get("service") or {})
        key = td_key(str(answer.get("taskDefinition", "")))
        if not key:
            try:
                after = self._read(poll=True)
            except (Unavailable, TimedOut) as err:
                yield ProgressEvent(
                    index,
                    ProgressStatus.FINISHED,
                    f"ECS accepted the update of {self.label}"
                    + (f" to {target}" if target else "")
                    + f"; the service could not be read back yet ({err})",
                )
                return
            answer, key = after.service, after.key
        primary = _ServiceState(answer, {}, key).primary() or {}
        new_id = str(primary.get("id", ""))
        started = new_id and new_id != before_id
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
            yield ProgressEvent(
                index, ProgressStatus.FINISHED, f"{self.label} now points at {target}; {deployment}"
            )
        else:
            deployment = (
                f"deployment {new_id} started"
                if started
                else "ECS has not reported a new deployment yet"
            )
            yield ProgressEvent(
                index,
                ProgressStatus.FINISHED,
                f"ECS accepted a new deployment of {key}; {deployment}",
            )

    def _unanswered_update(
        self, err: ProviderError, before: _ServiceState, target: str
    ) -> dict[str, Any]:
        """UpdateService got no answer (every attempt reset, hung or 5xx): was it applied?

        Read the service again rather than guess: ECS may well have made the change
        and only its answer was lost, and calling that "failed" would send the
        operator to roll back a service that already was.  Returns the service as
        read when the update is there; otherwise raises ``err``'s kind saying what
        the service runs, or that nobody knows.
        """
        try:
            after = self._read(poll=True)
        except ProviderError as again:
            look = self.aws.command(
                "ecs",
                "describe-services",
                "--cluster",
                self.cfg.cluster,
                "--services",
                self.cfg.service,
            )
            raise OutcomeUnknown(
                f"{err}; whether the update was applied is not known: {self.label} could not "
                f"be read again ({again}); look with `{look}` before retrying"
            ) from None
        if target:
            applied = after.key == td_key(target)
        else:
            primary = after.primary() or {}
            applied = str(primary.get("id", "")) != str((before.primary() or {}).get("id", ""))
        if applied:
            return after.service
        if after.key == before.key:
            found = f"{self.label} still runs {after.key} when read again"
        else:
            found = f"{self.label} now runs {after.key} (someone else changed it)"
        raise type(err)(f"{err}; {found}: the update was not applied") from None

    def _run_restore(self, index: int, opts: dict[str, list[str]]) -> Iterator[ProgressEvent]:
        new_id = _one(opts, "--db-instance-identifier")
        snapshot = _one(opts, "--db-snapshot-identifier")
        existing = instance_if_exists(self.aws, new_id)
        if existing is not None:
            yield ProgressEvent(
                index,
                ProgressStatus.SKIPPED,
                f"{new_id} already exists ({existing.get('DBInstanceStatus')}): not restored again",
            )
            return
        args: dict[str, Any] = {"DBInstanceIdentifier": new_id, "DBSnapshotIdentifier": snapshot}
        if "--db-instance-class" in opts:
            args["DBInstanceClass"] = _one(opts, "--db-instance-class")
        if "--db-subnet-group-name" in opts:
            args["DBSubnetGroupName"] = _one(opts, "--db-subnet-group-name")
        if opts.get("--vpc-security-group-ids"):
            args["VpcSecurityGroupIds"] = list(opts["--vpc-security-group-ids"])
        if "--multi-az" in opts:
            args["MultiAZ"] = True
        if "--no-multi-az" in opts:
            args["MultiAZ"] = False
        if "--db-parameter-group-name" in opts:
            args["DBParameterGroupName"] = _one(opts, "--db-parameter-group-name")
        with aws_errors("rds:RestoreDBInstanceFromDBSnapshot", f"restoring {snapshot} to {new_id}"):
            found = self.aws.client("rds").restore_db_instance_from_db_snapshot(**args)
        status = found.get("DBInstance", {}).get("DBInstanceStatus", "?")
        yield ProgressEvent(
            index,
            ProgressStatus.FINISHED,
            f"RDS is restoring {snapshot} into the new instance {new_id} ({status})",
        )

    def _run_wait(self, index: int, step: Step, plan: Plan) -> Iterator[ProgressEvent]:
        started = time.monotonic()
        deadline = started + step.timeout_s
        last = ""
        pause = _FIRST_POLL_S
        while True:
            try:
                state, message = self._settle_state(plan)
            except (Unavailable, TimedOut) as err:
                # The change is made; only reading its progress failed: say so, poll again.
                state, message = "waiting", f"could not read the rollout: {err}"
            if state == "ready":
                if plan.action == "restore-rds-snapshot":
                    new_id = self._restored_instance(plan)
                    endpoint = message.rsplit(" at ", 1)[-1]
                    for line in self._manual_steps(new_id, endpoint):
                        yield ProgressEvent(index, ProgressStatus.OUTPUT, line)
                yield ProgressEvent(index, ProgressStatus.FINISHED, message)
                return
            if state == "failed":
                raise ProviderError(message)
            if message != last:
                yield ProgressEvent(index, ProgressStatus.OUTPUT, message)
                last = message
            left = deadline - time.monotonic()
            if left <= 0:
                self._gave_up.add(self._plan_key(plan))
                yield ProgressEvent(
                    index,
                    ProgressStatus.SKIPPED,
                    f"stopped waiting after {time.monotonic() - started:.0f} s, not settled: "
                    f"{message}",
                )
                return
            time.sleep(min(pause, left, self.poll_interval_s))
            pause = min(self.poll_interval_s, pause * 2)

    @staticmethod
    def _plan_key(plan: Plan) -> str:
        return f"{plan.action}|{plan.argument}|{plan.to_revision.id}|{plan.data.get('plan_id', '')}"

    def _restored_instance(self, plan: Plan) -> str:
        for step in plan.steps:
            op, opts = parse_command(step.command)
            if op in (_OP_RESTORE, _OP_WAIT_RDS):
                return _one(opts, "--db-instance-identifier")
        return str(plan.data.get("restored_instance", ""))

    # ------------------------------------------------------------------ waiting

    def _settle_state(self, plan: Plan) -> tuple[str, str]:
        """("ready" | "waiting" | "failed", what was seen) for the plan's rollout."""
        if plan.action == "restore-rds-snapshot":
            return self._restore_state(self._restored_instance(plan))
        return self._rollout_state(plan)

    def _restore_state(self, new_id: str) -> tuple[str, str]:
        instance = instance_if_exists(self.aws, new_id)
        if instance is None:
            return "failed", f"RDS instance {new_id} does not exist (the restore did not start)"
        status = str(instance.get("DBInstanceStatus", "?"))
        if status == "available":
            return "ready", f"{new_id} is available at {endpoint_of(instance) or '(no endpoint)'}"
        if status in RDS_FAILED_STATES:
            return "failed", f"RDS instance {new_id} is {status}: the restore failed"
        return "waiting", f"{new_id} is {status}"

    def _rollout_state(self, plan: Plan) -> tuple[str, str]:
        state = self._read(poll=True)
        target = self._target_key(plan)
        if state.key != target and self._is_image_copy(plan, state):
            # An image rollback's copy that ECS numbered otherwise than planned, seen by
            # a console that did not register it (a resumed one): the image decides.
            target = state.key
        deployments = state.deployments
        primary = state.primary()
        name = self.cfg.service
        if primary is None:
            return "waiting", f"{name} reports no PRIMARY deployment yet"
        primary_key = td_key(str(primary.get("taskDefinition", "")))
        reason = str(primary.get("rolloutStateReason") or "")
        if primary.get("rolloutState") == "FAILED":
            return "failed", (
                f"the deployment of {primary_key} FAILED"
                + (f": {reason}" if reason else "")
                + f"; {name} runs {state.key}"
            )
        if state.key != target:
            # The service itself names another task definition: not ours to wait for.
            now = (
                f"runs {state.key}"
                if primary_key == state.key
                else f"points at {state.key} (PRIMARY deployment still on {primary_key})"
            )
            return "failed", (
                f"{name} now {now}, not {target}: it was changed by someone else "
                "or rolled back by the circuit breaker" + (f" ({reason})" if reason else "")
            )
        if primary_key != target:
            return "waiting", (
                f"{name} points at {target} but ECS has not started its deployment yet "
                f"(PRIMARY still {primary_key})"
            )
        before = str(plan.data.get("deployment_before", ""))
        if plan.action == "force-new-deployment" and before and primary.get("id") == before:
            return "waiting", f"ECS has not started the new deployment of {name} yet"
        desired = int(primary.get("desiredCount", 0))
        running = int(primary.get("runningCount", 0))
        rollout = primary.get("rolloutState")
        if len(deployments) == 1 and running == desired and rollout in (None, "COMPLETED"):
            return "ready", (
                f"{name} is stable: one deployment ({target}), {running} of {desired} tasks "
                "running" + (", rollout COMPLETED" if rollout else "")
            )
        lines = "; ".join(f"{d.get('status')} {self._deployment_line(d)}" for d in deployments)
        return "waiting", f"{len(deployments)} deployment(s): {lines}"

    def _is_image_copy(self, plan: Plan, state: _ServiceState) -> bool:
        """Whether ``plan`` is an image rollback whose image the live revision runs."""
        if plan.action != "rollback-image" or not plan.to_revision.image:
            return False
        image = str(self._main_container_or_first(state.task_definition).get("image", ""))
        return image == plan.to_revision.image

    def wait_ready(self, plan: Plan, timeout_s: float) -> ReadyResult:
        """Poll until the rollout settled (module doc), FAILED, or ``timeout_s`` passed.

        When the plan's wait step already ran out of time, this looks once more
        instead of waiting a second full period.  AWS errors while polling are
        retried until the time limit and then reported as the reason.
        """
        started = time.monotonic()
        budget = 0.0 if self._plan_key(plan) in self._gave_up else timeout_s
        deadline = started + budget
        pause = _FIRST_POLL_S
        message = "not checked yet"
        while True:
            try:
                state, message = self._settle_state(plan)
            except (Unavailable, TimedOut) as err:
                state, message = "waiting", f"could not read the rollout: {err}"
            except ProviderError as err:
                return ReadyResult(
                    False, f"could not read the rollout: {err}", time.monotonic() - started
                )
            waited = time.monotonic() - started
            if state == "ready":
                return ReadyResult(True, message, waited)
            if state == "failed":
                return ReadyResult(False, message, waited)
            left = deadline - time.monotonic()
            if left <= 0:
                limit = timeout_s if budget else self._limit_of(plan)
                return ReadyResult(False, f"not settled within {limit:.0f} s: {message}", waited)
            time.sleep(min(pause, left, self.poll_interval_s))
            pause = min(self.poll_interval_s, pause * 2)

    @staticmethod
    def _limit_of(plan: Plan) -> float:
        waits = [s.timeout_s for s in plan.steps if s.kind is StepKind.WAIT]
        return waits[-1] if waits else 0.0
