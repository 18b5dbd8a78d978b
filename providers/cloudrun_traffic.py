"""Cloud Run traffic arithmetic and the plain views of a service, without the SDK.

The provider (``providers.cloudrun``) turns the API's objects into these views
with ``to_dict`` and leaves every decision to the functions here, so the rules
can be read and tested on their own:

* A traffic entry (``Route``) sends ``percent`` to a named revision, or to
  LATEST (whatever the latest Ready revision is), optionally under a ``tag``
  (a URL of its own).  The spec is ``Service.traffic``; what is served is
  ``Service.traffic_statuses``.  An empty spec means 100% LATEST.
* A *split* is what ``gcloud run services update-traffic --to-revisions``
  takes: ``[(key, percent), ...]`` adding up to 100, where key is a revision
  name or ``LATEST``.  ``routes_for`` turns a split into the entries sent to
  the API and keeps every tag where it was, at 0% (what gcloud does): tags
  are never dropped or moved by a rollback.
* ``gradual_splits`` plans runbook 004's 10% -> 50% -> 100%: the target
  gets the step's share and the rest is spread over the revisions serving now
  in proportion to what they serve, in whole percents adding up to 100.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

LATEST = "LATEST"
#: TrafficTargetAllocationType numbers (the API sends enums as integers).
TYPE_LATEST = 1
TYPE_REVISION = 2
#: Condition.State numbers and names.
STATE_NAMES = {0: "unknown", 1: "pending", 2: "reconciling", 3: "failed", 4: "succeeded"}
SUCCEEDED = 4
FAILED = 3

Split = list[tuple[str, int]]


def get(data: Mapping[str, Any], snake: str, default: Any = None) -> Any:
    """A field by its proto name (``type_`` too) or its JSON lowerCamelCase name."""
    for key in (snake, snake + "_", _camel(snake)):
        if key in data:
            return data[key]
    return default


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


def short_name(name: str) -> str:
    """``projects/p/locations/r/services/s/revisions/s-001`` -> ``s-001``."""
    return name.rsplit("/", 1)[-1] if name else ""


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _state(value: Any) -> int:
    if isinstance(value, str) and not value.isdigit():
        return {f"CONDITION_{n.upper()}": i for i, n in STATE_NAMES.items()}.get(value, 0)
    return _int(value)


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


# --------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class Route:
    """One traffic entry: ``percent`` to ``revision`` (or LATEST), under ``tag`` if any."""

    revision: str
    percent: int
    tag: str = ""
    latest: bool = False

    @property
    def key(self) -> str:
        """What ``--to-revisions`` calls it: the revision name, or ``LATEST``."""
        return LATEST if self.latest else self.revision

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "percent": self.percent,
            "tag": self.tag,
            "latest": self.latest,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Route:
        return cls(
            revision=str(data.get("revision", "")),
            percent=_int(data.get("percent")),
            tag=str(data.get("tag", "")),
            latest=bool(data.get("latest", False)),
        )


def parse_routes(entries: Iterable[Mapping[str, Any]]) -> tuple[Route, ...]:
    """Traffic entries (spec or statuses) as routes; a LATEST status keeps its resolved name."""
    routes = []
    for entry in entries:
        kind = get(entry, "type")
        if isinstance(kind, str) and not kind.isdigit():
            latest = kind.endswith("LATEST")
        else:
            latest = _int(kind) == TYPE_LATEST
        routes.append(
            Route(
                revision=short_name(str(get(entry, "revision", "") or "")),
                percent=_int(get(entry, "percent")),
                tag=str(get(entry, "tag", "") or ""),
                latest=latest,
            )
        )
    return tuple(routes)


def effective(routes: Sequence[Route]) -> tuple[Route, ...]:
    """The spec as the API reads it: no entries at all means 100% LATEST."""
    return tuple(routes) if routes else (Route("", 100, latest=True),)


def routes_json(routes: Iterable[Route]) -> list[dict[str, Any]]:
    return [r.to_json() for r in routes]


def _route_key(route: Route) -> tuple[bool, str, int, str]:
    return (route.latest, "" if route.latest else route.revision, route.percent, route.tag)


def same_routes(a: Sequence[Route], b: Sequence[Route]) -> bool:
    """Equal as the API means it: same entries in any order (LATEST names ignored)."""
    return sorted(map(_route_key, effective(a))) == sorted(map(_route_key, effective(b)))


def served_split(routes: Sequence[Route], latest_ready: str) -> dict[str, int]:
    """Revision -> percent it receives, LATEST resolved to ``latest_ready``; 0% left out."""
    split: dict[str, int] = {}
    for route in effective(routes):
        name = (route.revision or latest_ready) if route.latest else route.revision
        if route.percent > 0 and name:
            split[name] = split.get(name, 0) + route.percent
    return split


def routes_for(split: Split, live: Sequence[Route]) -> tuple[Route, ...]:
    """The entries that send ``split`` and keep every tag of ``live`` where it is, at 0%.

    A tag on an entry that carried traffic keeps its revision (or LATEST) and
    loses the share: traffic goes where the split says, tags stay addressable.
    """
    routes = [
        Route("" if key == LATEST else key, percent, latest=key == LATEST)
        for key, percent in split
        if percent > 0
    ]
    for route in live:
        if route.tag:
            routes.append(
                Route(route.revision if not route.latest else "", 0, route.tag, route.latest)
            )
    return tuple(routes)


def split_of(routes: Sequence[Route]) -> Split:
    """The ``--to-revisions`` split equivalent to ``routes`` (shares per key, tags aside)."""
    totals: dict[str, int] = {}
    for route in effective(routes):
        if route.percent > 0:
            totals[route.key] = totals.get(route.key, 0) + route.percent
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def spread(shares: Mapping[str, int], total: int) -> Split:
    """``total`` percent spread over ``shares`` in proportion, whole numbers adding up exactly.

    Largest remainder first; ties go to the bigger share, then the name, so the
    result is the same every time.
    """
    weight = sum(shares.values())
    if total <= 0 or weight <= 0:
        return []
    exact = {key: total * share / weight for key, share in shares.items()}
    whole = {key: int(value) for key, value in exact.items()}
    left = total - sum(whole.values())
    order = sorted(shares, key=lambda k: (-(exact[k] - whole[k]), -shares[k], k))
    for key in order[:left]:
        whole[key] += 1
    return sorted(((k, v) for k, v in whole.items() if v > 0), key=lambda item: (-item[1], item[0]))


def gradual_splits(target: str, serving: Mapping[str, int], steps: Sequence[int]) -> list[Split]:
    """One split per step that gives ``target`` more than it has now; the last is 100%."""
    others = {k: v for k, v in serving.items() if k != target and v > 0}
    has = serving.get(target, 0)
    splits: list[Split] = []
    for percent in steps:
        if percent <= has:
            continue
        if percent >= 100 or not others:
            splits.append([(target, 100)])
            break
        splits.append([(target, percent), *spread(others, 100 - percent)])
    return splits


def describe_split(split: Split) -> str:
    return ", ".join(f"{key} {percent}%" for key, percent in split) or "nothing"


def describe_routes(routes: Sequence[Route], latest_ready: str = "") -> str:
    """``LATEST (k-back-00042-abc) 100%, k-back-00041-xyz 0% tag prev``."""
    parts = []
    for route in effective(routes):
        if route.latest:
            resolved = route.revision or latest_ready
            name = f"LATEST ({resolved})" if resolved else LATEST
        else:
            name = route.revision
        parts.append(f"{name} {route.percent}%" + (f" tag {route.tag}" if route.tag else ""))
    return ", ".join(parts)


def tags_of(routes: Sequence[Route]) -> list[str]:
    return [f"{r.tag} -> {r.key}" for r in routes if r.tag]


# --------------------------------------------------------------------------- gcloud


def gcloud_update_traffic(
    service: str, region: str, project: str, split: Split | None = None
) -> tuple[str, ...]:
    """The ``gcloud run services update-traffic`` argv that sends ``split`` (None: --to-latest)."""
    argv = ["gcloud", "run", "services", "update-traffic", service]
    argv += ["--region", region, "--project", project]
    if split is None:
        argv.append("--to-latest")
    else:
        argv += ["--to-revisions", ",".join(f"{key}={percent}" for key, percent in split)]
    return tuple(argv)


def split_from_argv(argv: Sequence[str]) -> Split | None:
    """The split a ``gcloud ... update-traffic`` argv sends, or None if it is not one.

    ``--to-latest`` is ``[("LATEST", 100)]``.  Both ``--flag value`` and
    ``--flag=value`` are understood.
    """
    args = list(argv)
    if args[:4] != ["gcloud", "run", "services", "update-traffic"]:
        return None
    for i, arg in enumerate(args):
        if arg == "--to-latest":
            return [(LATEST, 100)]
        value = None
        if arg == "--to-revisions" and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--to-revisions="):
            value = arg.split("=", 1)[1]
        if value is not None:
            split: Split = []
            for part in value.split(","):
                match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9.\-]*)=(\d{1,3})", part.strip())
                if not match:
                    return None
                split.append((match.group(1), int(match.group(2))))
            return split
    return None


def shell(argv: Sequence[str]) -> str:
    return shlex.join(argv)


# --------------------------------------------------------------------------- views


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
        generation=_int(get(data, "generation")),
        observed_generation=_int(get(data, "observed_generation")),
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
        min_instances=_int(get(scaling, "min_instance_count")),
        desired_min_instances=None if desired is None else _int(desired),
        creator=str(get(data, "creator", "") or ""),
    )
