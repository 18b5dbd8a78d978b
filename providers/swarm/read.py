"""The snapshot of a Swarm service: live spec, update status, tasks, revisions Swarm keeps.

A Swarm service has no revision list.  What it keeps is the live spec, the
spec before the last update (``PreviousSpec``: what ``docker service rollback``
goes to) and the tasks' history (``TaskHistoryRetentionLimit``, 5 per slot by
default).  Revisions are the distinct images of those, newest first: the live
spec's, ``PreviousSpec``'s, then the tasks', newest task first.  A revision's id
is the image reference as the spec holds it (``local/web:v2``, a digest kept
when there is one), its version the tag.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from console.clock import utcnow
from console.config import ServiceConfig
from console.model import Revision, Snapshot, Unit
from console.textsafe import one_line
from providers.base import ProviderError
from providers.swarm.client import EngineClient

NAME = "swarm"
#: Update states in which the last update stopped half-way: the 02:00 case.
PAUSED = frozenset({"paused", "rollback_paused"})
#: Update states after which the spec is what runs.
DONE = frozenset({"completed", "rollback_completed"})
HISTORY_RETENTION_DEFAULT = 5
#: A Swarm object id (25 lowercase letters and digits), as messages quote them.
_TASK_ID = re.compile(r"\b[0-9a-z]{25}\b")


def image_of(spec: Mapping[str, Any] | None) -> str:
    if not spec:
        return ""
    return str(spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("Image", ""))


def version_of(image: str) -> str:
    """``local/web:v2@sha256:...`` -> ``v2``; no tag: the short digest, else the image."""
    ref, _, digest = image.partition("@")
    name, _, tag = ref.rpartition(":")
    if name and "/" not in tag:
        return tag
    return digest[:19] if digest else ref


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.rstrip("Z")
    head, _, frac = text.partition(".")
    try:
        when = datetime.fromisoformat(head)
    except ValueError:
        return None
    if frac:
        when = when.replace(microsecond=int(frac[:6].ljust(6, "0")))
    return when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Live:
    """One read of the service and its tasks."""

    service: dict[str, Any]
    tasks: tuple[dict[str, Any], ...]
    nodes: Mapping[str, str]

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.service["Spec"]
        return spec

    @property
    def previous(self) -> dict[str, Any] | None:
        prev: dict[str, Any] | None = self.service.get("PreviousSpec")
        return prev

    @property
    def image(self) -> str:
        return image_of(self.spec)

    @property
    def previous_image(self) -> str:
        return image_of(self.previous)

    @property
    def index(self) -> int:
        return int(self.service["Version"]["Index"])

    @property
    def update_state(self) -> str:
        return str((self.service.get("UpdateStatus") or {}).get("State", ""))

    @property
    def update_message(self) -> str:
        return one_line(str((self.service.get("UpdateStatus") or {}).get("Message", "")), 200)

    @property
    def replicas(self) -> int | None:
        mode = self.spec.get("Mode", {})
        if "Replicated" in mode:
            return int(mode["Replicated"].get("Replicas", 1))
        return None  # global: one a node

    def running(self) -> list[dict[str, Any]]:
        """Tasks Swarm wants running (the others are history)."""
        return [t for t in self.tasks if t.get("DesiredState") == "running"]


def task_image(task: Mapping[str, Any]) -> str:
    return image_of({"TaskTemplate": task.get("Spec", {})})


def newest_first(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(tasks, key=lambda t: str(t.get("CreatedAt", "")), reverse=True)


class Reader:
    """Reads the service and makes the snapshot."""

    def __init__(self, service: ServiceConfig, client: EngineClient) -> None:
        self.service = service
        self.client = client
        self._retention: int | None = None

    def live(self) -> Live:
        svc = self.client.service()
        tasks = tuple(newest_first(self.client.tasks(svc["ID"])))
        return Live(svc, tasks, self.client.nodes())

    def snapshot(self) -> Snapshot:
        return self.snapshot_of(self.live())

    def retention(self) -> int:
        """The Swarm's ``TaskHistoryRetentionLimit`` (read once; 5, Swarm's default, when
        it cannot be read: ``GET /swarm`` answers on managers only)."""
        if self._retention is None:
            try:
                swarm = self.client.request("GET", "/swarm", what="swarm")
                limit = swarm["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"]
                self._retention = int(limit)
            except (ProviderError, KeyError, TypeError, ValueError):
                self._retention = HISTORY_RETENTION_DEFAULT
        return self._retention

    def revisions(self, live: Live) -> tuple[Revision, ...]:
        seen: dict[str, Revision] = {}
        current = Revision(
            id=live.image,
            version=version_of(live.image),
            created=parse_time(live.service.get("UpdatedAt")),
            image=live.image,
            current=True,
            detail=f"live spec (version {live.index})",
        )
        seen[live.image] = current
        prev = live.previous_image
        if prev and prev not in seen:
            seen[prev] = Revision(
                id=prev,
                version=version_of(prev),
                image=prev,
                detail="PreviousSpec: what `docker service rollback` goes to",
            )
        for task in live.tasks:
            image = task_image(task)
            if image and image not in seen:
                seen[image] = Revision(
                    id=image,
                    version=version_of(image),
                    created=parse_time(task.get("CreatedAt")),
                    image=image,
                    detail="seen in the task history",
                )
        return tuple(seen.values())

    def snapshot_of(self, live: Live) -> Snapshot:
        revisions = self.revisions(live)
        running = live.running()
        up = [t for t in running if t.get("Status", {}).get("State") == "running"]
        notes: list[str] = []
        state = live.update_state
        # A paused update is the snapshot's alert (the dashboard's status line), not a note.
        if state and state not in DONE | PAUSED:
            notes.append(f"Update {state}: {live.update_message}")
        if len(revisions) < 3:
            notes.append(
                f"Swarm keeps only the live spec, PreviousSpec and {self.retention()} tasks per "
                "slot (task history retention): older images are not listed"
            )
        want = live.replicas
        alert, alert_action, paused_facts = self._paused(live)
        facts = (
            *paused_facts,
            (
                "service",
                f"{live.spec.get('Name', self.client.cfg.service)} ({live.service['ID'][:12]})",
            ),
            ("version", str(live.index)),
            ("update status", f"{state or 'none'}" + (f": {live.update_message}" if state else "")),
            ("replicas", f"{len(up)} running of {want if want is not None else 'global'}"),
            ("image", live.image),
            ("previous spec", live.previous_image or "(none)"),
        )
        return Snapshot(
            service=self.service.name,
            environment=self.service.environment,
            provider=NAME,
            taken_at=utcnow(),
            current=revisions[0],
            revisions=revisions,
            units=tuple(self._unit(live, t) for t in live.tasks[:20]),
            paused=state in PAUSED,
            alert=alert,
            alert_action=alert_action,
            notes=tuple(notes),
            facts=facts,
        )

    @staticmethod
    def _paused(live: Live) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        """A paused update, loudly: the status line (``update paused: <message>``), what
        ``r`` does about it, and the first fact (the message and the failing task's error).
        """
        state = live.update_state
        if state not in PAUSED:
            return "", "", ()
        words = state.replace("_", " ")  # "paused", "rollback paused"
        message = live.update_message or "no message"
        head = f"update {words}" if state == "paused" else words
        # Swarm's message ("update paused due to failure or early termination of task
        # <25-character id>") reads as "update paused: due to ... task <12 characters>".
        short = _TASK_ID.sub(lambda m: m.group(0)[:12], message)
        if short.lower().startswith(head + " "):
            alert = f"{head}: {short[len(head) + 1 :]}"
        else:
            alert = f"{head}: {short}"
        failed = next(
            (t for t in live.tasks if t.get("Status", {}).get("Err") and t["ID"][:10] in message),
            None,
        ) or next((t for t in live.tasks if t.get("Status", {}).get("Err")), None)
        fact = message
        if failed is not None:
            err = one_line(str(failed["Status"]["Err"]), 120)
            fact += f" (task {str(failed['ID'])[:12]} on {task_image(failed)}: {err})"
        # A paused rollback already has the older spec live: no default action is claimed.
        action = ""
        if state == "paused" and live.previous_image:
            action = f"roll back the paused update to {live.previous_image}"
        return alert, action, ((head, fact),)

    def _unit(self, live: Live, task: Mapping[str, Any]) -> Unit:
        status = task.get("Status", {})
        state = str(status.get("State", "?"))
        desired = str(task.get("DesiredState", "?"))
        slot = task.get("Slot")
        name = f"{live.spec.get('Name', 'svc')}.{slot}" if slot else str(task["ID"][:12])
        err = one_line(str(status.get("Err", "")), 120)
        image = task_image(task)
        detail = f"desired {desired}; {image}" + (f"; error: {err}" if err else "")
        return Unit(
            name=f"{name} {task['ID'][:12]}",
            state=state,
            ready=state == "running" and desired == "running",
            # Swarm keeps shut-down tasks as history (TaskHistoryRetentionLimit).
            retired=desired in ("shutdown", "remove"),
            revision=image,
            started=parse_time(status.get("Timestamp")),
            node=live.nodes.get(str(task.get("NodeID", "")), str(task.get("NodeID", ""))[:12]),
            detail=detail,
        )
