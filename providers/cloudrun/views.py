"""What the console needs of a Cloud Run ``Service`` and ``Revision``, as plain views.

The client (``providers.cloudrun.client``) turns the API's objects into these
with ``to_dict``; they read both the client's dicts (proto field names) and the
API's JSON (lowerCamelCase), and every number and enum as the API may send it.
Conditions keep the API's states; ``ServiceView`` says when a change has
settled, whether traffic is routed, and whether it is pinned to revisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from providers.cloudrun.traffic import (
    Route,
    effective,
    get,
    parse_routes,
    served_split,
    short_name,
    to_int,
)

#: Condition.State numbers and names.
STATE_NAMES = {0: "unknown", 1: "pending", 2: "reconciling", 3: "failed", 4: "succeeded"}
SUCCEEDED = 4
FAILED = 3


def _state(value: Any) -> int:
    if isinstance(value, str) and not value.isdigit():
        return {f"CONDITION_{n.upper()}": i for i, n in STATE_NAMES.items()}.get(value, 0)
    return to_int(value)


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class ConditionView:
    type: str
    state: int
    message: str = ""
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.state == SUCCEEDED

    @property
    def state_name(self) -> str:
        return STATE_NAMES.get(self.state, str(self.state))

    def describe(self) -> str:
        text = f"{self.type} {self.state_name}"
        return f"{text}: {self.message}" if self.message else text


def _conditions(raw: Any) -> tuple[ConditionView, ...]:
    out = []
    for cond in raw or ():
        out.append(
            ConditionView(
                type=str(get(cond, "type", "") or ""),
                state=_state(get(cond, "state")),
                message=str(get(cond, "message", "") or ""),
                reason=str(get(cond, "reason", "") or ""),
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class ServiceView:
    """What the console needs of a ``Service``."""

    name: str
    generation: int
    observed_generation: int
    etag: str
    traffic: tuple[Route, ...]
    statuses: tuple[Route, ...]
    latest_ready: str
    latest_created: str
    reconciling: bool
    terminal: ConditionView | None
    conditions: tuple[ConditionView, ...] = ()
    uri: str = ""
    updated: datetime | None = None
    last_modifier: str = ""

    @property
    def short(self) -> str:
        return short_name(self.name)

    @property
    def served(self) -> dict[str, int]:
        return served_split(self.statuses, self.latest_ready)

    @property
    def routes_ready(self) -> bool:
        """Traffic is routed as asked, as far as the ``RoutesReady`` condition says.

        The service's own Ready condition is not used: it also stays failed
        while the newest revision is broken (``ConfigurationsReady``), even when
        older revisions serve the traffic exactly as asked, which is the
        rollback case.  Without a ``RoutesReady`` condition, the traffic
        statuses themselves are the evidence (the caller compares them).
        """
        routes = next((c for c in self.conditions if c.type == "RoutesReady"), None)
        return routes is None or routes.ok

    @property
    def settled(self) -> bool:
        """The last change has been acted on and its traffic is routed."""
        return (
            self.observed_generation >= self.generation
            and not self.reconciling
            and self.routes_ready
        )

    @property
    def pinned(self) -> bool:
        """No share follows LATEST: a new deploy would receive no traffic."""
        return not any(r.latest and r.percent > 0 for r in effective(self.traffic))


def parse_service(data: Mapping[str, Any]) -> ServiceView:
    terminal = _conditions(
        [get(data, "terminal_condition")] if get(data, "terminal_condition") else []
    )
    return ServiceView(
        name=str(get(data, "name", "")),
        generation=to_int(get(data, "generation")),
        observed_generation=to_int(get(data, "observed_generation")),
        etag=str(get(data, "etag", "") or ""),
        traffic=parse_routes(get(data, "traffic") or ()),
        statuses=parse_routes(get(data, "traffic_statuses") or ()),
        latest_ready=short_name(str(get(data, "latest_ready_revision", "") or "")),
        latest_created=short_name(str(get(data, "latest_created_revision", "") or "")),
        reconciling=bool(get(data, "reconciling", False)),
        terminal=terminal[0] if terminal else None,
        conditions=_conditions(get(data, "conditions")),
        uri=str(get(data, "uri", "") or ""),
        updated=_time(get(data, "update_time")),
        last_modifier=str(get(data, "last_modifier", "") or ""),
    )


@dataclass(frozen=True)
class RevisionView:
    """What the console needs of a ``Revision``."""

    name: str
    created: datetime | None
    image: str
    conditions: tuple[ConditionView, ...]
    reconciling: bool = False
    min_instances: int = 0
    desired_min_instances: int | None = None
    creator: str = ""

    @property
    def ready(self) -> ConditionView | None:
        return next((c for c in self.conditions if c.type == "Ready"), None)

    @property
    def is_ready(self) -> bool:
        ready = self.ready
        return ready is not None and ready.ok

    @property
    def tag(self) -> str:
        """The image tag (``v1.2.9``), a short digest, or "" when the image names neither."""
        image = self.image
        if "@" in image:
            digest = image.split("@", 1)[1]
            algo, _, hexa = digest.partition(":")
            return f"{algo}:{hexa[:12]}" if hexa else digest
        last = image.rsplit("/", 1)[-1]
        return last.split(":", 1)[1] if ":" in last else ""


def parse_revision(data: Mapping[str, Any]) -> RevisionView:
    containers = get(data, "containers") or []
    image = str(get(containers[0], "image", "") or "") if containers else ""
    scaling = get(data, "scaling") or {}
    status = get(data, "scaling_status") or {}
    desired = get(status, "desired_min_instance_count") if status else None
    return RevisionView(
        name=short_name(str(get(data, "name", ""))),
        created=_time(get(data, "create_time")),
        image=image,
        conditions=_conditions(get(data, "conditions")),
        reconciling=bool(get(data, "reconciling", False)),
        min_instances=to_int(get(scaling, "min_instance_count")),
        desired_min_instances=None if desired is None else to_int(desired),
        creator=str(get(data, "creator", "") or ""),
    )
