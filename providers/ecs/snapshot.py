"""What the dashboard shows of the ECS service: revisions, deployments, tasks, tags, snapshots.

Units are the running tasks and the recently stopped tasks of the live task
definition (a crash loop looks like that); tasks of other revisions that
stopped are summed up in a note.  ECR tags and RDS snapshots are read through
their caches, and a failure to read them is a note, never a broken snapshot.
"""

from __future__ import annotations

from typing import Any

from console.errors import ProviderError
from console.model import PlatformEvent, RestorePoint, Snapshot, Unit, utcnow
from providers.ecs.client import EcsApi, as_utc, hhmm
from providers.ecs.ecr import EcrTags
from providers.ecs.errors import aws_errors
from providers.ecs.rds import RdsSnapshots
from providers.ecs.read import EcsReader, ServiceState
from providers.ecs.refs import td_key

#: How many recently stopped tasks the snapshot shows beside the running ones.
STOPPED_LIMIT = 10
#: How many service events the snapshot keeps.
EVENT_LIMIT = 20


class SnapshotReader:
    """Builds the ``Snapshot`` of the service (blocking; several API calls)."""

    def __init__(self, api: EcsApi, reader: EcsReader, ecr: EcrTags, rds: RdsSnapshots) -> None:
        self.api = api
        self.cfg = api.cfg
        self.reader = reader
        self.ecr = ecr
        self.rds = rds

    def snapshot(self) -> Snapshot:
        """Task definition, deployments, revisions newest first, tasks, ECR tags, RDS snapshots."""
        state = self.reader.read()
        revisions = self.reader.revisions(state)
        current = next((r for r in revisions if r.current), None)
        notes: list[str] = []
        facts = self.facts(state)
        units = self.units(state, notes)
        image = self.reader.main_image(state.task_definition)
        tags, repo, tag_error = self.ecr.cached(image)
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
        instance = self.cfg.rds_instance
        if instance:
            snaps, rds_error = self.rds.cached()
            if rds_error:
                notes.append(f"RDS snapshots not read: {rds_error}")
            else:
                newest = snaps[0].label if snaps else "none"
                facts.append((f"RDS snapshots of {instance}", f"{len(snaps)}, newest {newest}"))
                points = tuple(
                    RestorePoint(
                        s.id,
                        s.created,
                        s.status,
                        s.kind + (f", {s.size_gb} GiB" if s.size_gb else ""),
                    )
                    for s in snaps
                )
        service = self.api.service
        return Snapshot(
            restore_source=f"RDS {instance}" if instance else "",
            restore_points=points,
            restore_error=rds_error,
            service=service.name,
            environment=service.environment,
            provider="ecs",
            taken_at=utcnow(),
            current=current,
            revisions=revisions,
            units=units,
            notes=tuple(notes),
            events=self.events(state),
            facts=tuple(facts),
        )

    def facts(self, state: ServiceState) -> list[tuple[str, str]]:
        svc, cfg = state.service, self.cfg
        facts: list[tuple[str, str]] = [
            ("cluster / service", f"{cfg.cluster} / {cfg.service} ({cfg.region})"),
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
                    self.reader.deployment_line(dep),
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

    def events(self, state: ServiceState) -> tuple[PlatformEvent, ...]:
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
        with aws_errors("ecs:ListTasks", f"listing {desired} tasks of {self.api.where}"):
            pages = self.api.ecs().get_paginator("list_tasks")
            for page in pages.paginate(
                cluster=self.cfg.cluster, serviceName=self.cfg.service, desiredStatus=desired
            ):
                arns.extend(str(a) for a in page.get("taskArns", []))
        return arns

    def _describe_tasks(self, arns: list[str]) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = []
        for start in range(0, len(arns), 100):
            with aws_errors("ecs:DescribeTasks", f"reading tasks of {self.api.where}"):
                found = self.api.ecs().describe_tasks(
                    cluster=self.cfg.cluster, tasks=arns[start : start + 100]
                )
            tasks.extend(found.get("tasks", []))
        return tasks

    def units(self, state: ServiceState, notes: list[str]) -> tuple[Unit, ...]:
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
                td = self.reader.task_definition(key)
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
