"""What changes between the live revision and the target ("What changes").

A Cloud Run revision is an immutable copy of the service's template, so the
two revisions themselves are compared (``GET .../revisions/NAME``, each read
once: a revision never changes).  Revision-wide: request concurrency
(``maxInstanceRequestConcurrency``, v1's ``containerConcurrency``), scaling
(min and max instances), request timeout, service account and the secrets
mounted as volumes; per container (matched by name, or the one container
each side has): image, command, args, environment, cpu and memory limits,
port.  An environment variable from Secret Manager
(``valueSource.secretKeyRef``) reads ``secret NAME version V``: its value is
never read, and the API does not hold it.  Plain values are shown, except
those whose name says they are a credential (``providers.changes``).
"""

from __future__ import annotations

import re
import shlex
import threading
from collections.abc import Mapping
from typing import Any

from console.model import Difference, Revision
from providers.changes import (
    Variable,
    changed,
    image_change,
    label,
    plain,
    shown,
    variables,
)
from providers.cloudrun.client import CloudRunClient
from providers.cloudrun.traffic import get, to_int

_QUANTITY = re.compile(r"^\s*([0-9.]+)\s*([A-Za-z]*)\s*$")
_SUFFIX = {
    "": 1,
    "m": 1e-3,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


class RevisionDiff:
    """Reads revisions (cached: they are immutable) and says what differs between two."""

    def __init__(self, client: CloudRunClient) -> None:
        self.client = client
        self._cache: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def revision(self, name: str) -> dict[str, Any]:
        with self._lock:
            found = self._cache.get(name)
        if found is None:
            found = self.client.read_revision(name)
            with self._lock:
                self._cache[name] = found
        return found

    def differences(self, live: Revision, target: Revision) -> tuple[Difference, ...]:
        if live.id == target.id:
            return ()
        return revision_changes(self.revision(live.id), self.revision(target.id))


def revision_changes(live: Mapping[str, Any], target: Mapping[str, Any]) -> tuple[Difference, ...]:
    """Readable lines of what differs between two revisions (client dicts or API JSON)."""
    out: list[Difference] = []
    out += _containers(live, target)
    out += changed(
        "concurrency",
        _count(live, "max_instance_request_concurrency"),
        _count(target, "max_instance_request_concurrency"),
    )
    live_scaling = get(live, "scaling") or {}
    target_scaling = get(target, "scaling") or {}
    out += changed(
        "scaling min",
        str(to_int(get(live_scaling, "min_instance_count"))),
        str(to_int(get(target_scaling, "min_instance_count"))),
    )
    out += changed(
        "scaling max",
        _count(live_scaling, "max_instance_count"),
        _count(target_scaling, "max_instance_count"),
    )
    live_timeout, target_timeout = (
        _duration(get(live, "timeout")),
        _duration(get(target, "timeout")),
    )
    if _seconds(live_timeout) != _seconds(target_timeout):
        out += changed("timeout", live_timeout, target_timeout)
    out += changed(
        "service account",
        str(get(live, "service_account") or "") or "project default",
        str(get(target, "service_account") or "") or "project default",
    )
    out += _secret_volumes(live, target)
    return tuple(out)


def _containers(live: Mapping[str, Any], target: Mapping[str, Any]) -> list[Difference]:
    before = list(get(live, "containers") or [])
    after = list(get(target, "containers") or [])
    if len(before) == 1 and len(after) == 1:
        a, b = str(get(before[0], "name") or ""), str(get(after[0], "name") or "")
        return container_changes(shown(b) if a == b else "", before[0], after[0])
    live_by_key = _keyed(before)
    target_by_key = _keyed(after)
    out: list[Difference] = []
    for key, container in target_by_key.items():
        if key in live_by_key:
            out += container_changes(key, live_by_key[key], container)
        else:
            image = shown(str(get(container, "image") or ""))
            out.append(Difference(label("container", key), "", image, "added by the rollback"))
    for key, container in live_by_key.items():
        if key not in target_by_key:
            image = shown(str(get(container, "image") or ""))
            out.append(Difference(label("container", key), image, "", "removed by the rollback"))
    return out


def _keyed(containers: list[Any]) -> dict[str, Mapping[str, Any]]:
    return {shown(str(get(c, "name") or "") or f"#{i + 1}"): c for i, c in enumerate(containers)}


def container_changes(
    name: str, live: Mapping[str, Any], target: Mapping[str, Any]
) -> list[Difference]:
    """What differs in one container both revisions have (``name`` "" for the only one)."""
    out: list[Difference] = []
    out += image_change(
        label("image", name), str(get(live, "image") or ""), str(get(target, "image") or "")
    )
    for key in ("command", "args"):
        out += changed(label(key, name), _argv(get(live, key)), _argv(get(target, key)))
    out += variables(name, _variables(live), _variables(target))
    live_limits = dict(get(get(live, "resources") or {}, "limits") or {})
    target_limits = dict(get(get(target, "resources") or {}, "limits") or {})
    for key in sorted(set(live_limits) | set(target_limits), key=_limit_order):
        a, b = str(live_limits.get(key, "")), str(target_limits.get(key, ""))
        if _quantity(a) != _quantity(b) or (_quantity(a) is None and a != b):
            what = key if key in ("cpu", "memory") else f"limit {shown(key)}"
            out += changed(label(what, name), a, b)
    out += changed(label("port", name), _port(live), _port(target))
    return out


def _variables(container: Mapping[str, Any]) -> dict[str, Variable]:
    found: dict[str, Variable] = {}
    for entry in get(container, "env") or []:
        name = str(get(entry, "name") or "")
        ref = get(get(entry, "value_source") or {}, "secret_key_ref") or {}
        secret = str(get(ref, "secret") or "")
        if secret:
            version = str(get(ref, "version") or "") or "latest"
            source = f"secret {_secret_name(secret)} version {version}"
            found[name] = Variable(shown(source), f"{secret}@{version}", secret=True)
        else:
            found[name] = plain(name, str(get(entry, "value") or ""))
    return found


def _secret_name(secret: str) -> str:
    """``db-password``, or ``db-password (project other)`` for another project's secret."""
    parts = secret.split("/")
    if len(parts) >= 4 and parts[0] == "projects" and parts[2] == "secrets":
        return f"{parts[3]} (project {parts[1]})"
    return secret


def _secret_volumes(live: Mapping[str, Any], target: Mapping[str, Any]) -> list[Difference]:
    before, after = _volume_sources(live), _volume_sources(target)
    out: list[Difference] = []
    for name in sorted(set(before) | set(after)):
        out += changed(f"secret volume {shown(name)}", before.get(name, ""), after.get(name, ""))
    return out


def _volume_sources(revision: Mapping[str, Any]) -> dict[str, str]:
    """Volume name -> ``secret NAME version V`` for every volume mounting a secret."""
    found: dict[str, str] = {}
    for volume in get(revision, "volumes") or []:
        source = get(volume, "secret") or {}
        secret = str(get(source, "secret") or "")
        if not secret:
            continue
        versions = sorted(
            {str(get(i, "version") or "") or "latest" for i in get(source, "items") or []}
        )
        found[str(get(volume, "name") or "")] = (
            f"secret {_secret_name(secret)} version {', '.join(versions) or 'latest'}"
        )
    return found


def _argv(value: Any) -> str:
    return shlex.join(str(v) for v in value) if value else ""


def _count(data: Mapping[str, Any], key: str) -> str:
    """A count where 0 means unset: the API's default applies."""
    value = to_int(get(data, key))
    return str(value) if value else "default"


def _duration(value: Any) -> str:
    """A protobuf Duration as the API writes it (``300s``); ``timedelta`` from the client too."""
    if value is None or value == "":
        return ""
    seconds = getattr(value, "total_seconds", None)
    if callable(seconds):
        total = float(seconds())
        return f"{total:g}s"
    return str(value)


def _seconds(text: str) -> float | None:
    try:
        return float(text.removesuffix("s")) if text else None
    except ValueError:
        return None


def _quantity(text: str) -> float | None:
    """``1000m`` -> 1.0, ``512Mi`` -> 536870912.0: limits compared by amount, not spelling."""
    match = _QUANTITY.match(text)
    if not match or match[2] not in _SUFFIX:
        return None
    try:
        return float(match[1]) * _SUFFIX[match[2]]
    except ValueError:
        return None


def _limit_order(key: str) -> tuple[int, str]:
    return ({"cpu": 0, "memory": 1}.get(key, 2), key)


def _port(container: Mapping[str, Any]) -> str:
    ports = get(container, "ports") or []
    return ", ".join(str(to_int(get(p, "container_port"))) for p in ports)
