"""Cloud Run traffic arithmetic, without the SDK.

The provider leaves every decision about traffic to the functions here, so the
rules can be read and tested on their own (the views of a service and its
revisions are in ``providers.cloudrun.views``):

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
* In a step's params a route is ``{"revision": name, "percent": p}`` or
  ``{"latest": true, "percent": p}``, with ``"tag"`` when it has one
  (``params_of`` / ``routes_of``): plain JSON, journaled as it is.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Shared with the load balancer (re-exported: the rest of this package imports them from here).
from providers.weights import Split as Split
from providers.weights import gradual_splits as gradual_splits
from providers.weights import spread as spread

LATEST = "LATEST"
#: TrafficTargetAllocationType numbers (the API sends enums as integers).
TYPE_LATEST = 1
TYPE_REVISION = 2


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


def to_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


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

    def to_param(self) -> dict[str, Any]:
        """The route as a step's params hold it: only what it says (see the module doc)."""
        param: dict[str, Any] = {"latest": True} if self.latest else {"revision": self.revision}
        param["percent"] = self.percent
        if self.tag:
            param["tag"] = self.tag
        return param

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Route:
        """A route from ``to_param``, or as journals written before steps were typed hold it
        (``revision``, ``percent``, ``tag``, ``latest``); a missing key is empty / 0 / False."""
        return cls(
            revision=str(data.get("revision", "")),
            percent=to_int(data.get("percent")),
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
            latest = to_int(kind) == TYPE_LATEST
        routes.append(
            Route(
                revision=short_name(str(get(entry, "revision", "") or "")),
                percent=to_int(get(entry, "percent")),
                tag=str(get(entry, "tag", "") or ""),
                latest=latest,
            )
        )
    return tuple(routes)


def effective(routes: Sequence[Route]) -> tuple[Route, ...]:
    """The spec as the API reads it: no entries at all means 100% LATEST."""
    return tuple(routes) if routes else (Route("", 100, latest=True),)


def params_of(routes: Iterable[Route]) -> list[dict[str, Any]]:
    """Routes as a step's params hold them."""
    return [r.to_param() for r in routes]


def routes_of(params: Iterable[Mapping[str, Any]] | None) -> tuple[Route, ...]:
    """Routes back from a step's params (or an older journal's ``data``)."""
    return tuple(Route.from_json(p) for p in params or ())


def split_sent(routes: Sequence[Route]) -> Split:
    """The ``--to-revisions`` split ``routes`` send, in their order (0% tag entries aside)."""
    return [(route.key, route.percent) for route in routes if route.percent > 0]


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


def shell(argv: Sequence[str]) -> str:
    return shlex.join(argv)
