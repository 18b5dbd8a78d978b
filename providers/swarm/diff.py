"""What changes between the live spec and the target: image, env, resources, replicas.

The target's spec is ``PreviousSpec`` when the target is its image (a
``docker service rollback`` brings all of it back), else the live spec with the
image replaced (only the image changes).  Env values named like secrets are
never shown (Swarm secrets are named with their source).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.model import Difference, Revision
from providers.swarm.read import Reader, image_of

_SECRETISH = ("PASSWORD", "SECRET", "TOKEN", "KEY", "CREDENTIAL")


def _env(spec: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("Env") or []:
        name, _, value = str(item).partition("=")
        out[name] = "(hidden)" if any(s in name.upper() for s in _SECRETISH) else value
    return out


def _resources(spec: Mapping[str, Any]) -> dict[str, str]:
    res = spec.get("TaskTemplate", {}).get("Resources") or {}
    out: dict[str, str] = {}
    for kind in ("Limits", "Reservations"):
        for key, value in (res.get(kind) or {}).items():
            if value:
                out[f"{kind.lower()} {key}"] = str(value)
    return out


def _replicas(spec: Mapping[str, Any]) -> str:
    mode = spec.get("Mode", {})
    return str(mode["Replicated"].get("Replicas", 1)) if "Replicated" in mode else "global"


def spec_differences(live: Mapping[str, Any], target: Mapping[str, Any]) -> list[Difference]:
    out: list[Difference] = []
    if image_of(live) != image_of(target):
        out.append(Difference("image", image_of(live), image_of(target)))
    le, te = _env(live), _env(target)
    for name in sorted(set(le) | set(te)):
        if le.get(name) != te.get(name):
            out.append(Difference(f"env {name}", le.get(name, ""), te.get(name, "")))
    lr, tr = _resources(live), _resources(target)
    for key in sorted(set(lr) | set(tr)):
        if lr.get(key) != tr.get(key):
            out.append(Difference(key, lr.get(key, ""), tr.get(key, "")))
    if _replicas(live) != _replicas(target):
        out.append(Difference("replicas", _replicas(live), _replicas(target)))
    return out


class SpecDiff:
    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def differences(self, live: Revision, target: Revision) -> tuple[Difference, ...]:
        state = self.reader.live()
        if state.previous is not None and target.image == state.previous_image:
            return tuple(spec_differences(state.spec, state.previous))
        spec: dict[str, Any] = {
            **state.spec,
            "TaskTemplate": {
                **state.spec.get("TaskTemplate", {}),
                "ContainerSpec": {
                    **state.spec.get("TaskTemplate", {}).get("ContainerSpec", {}),
                    "Image": target.image,
                },
            },
        }
        return tuple(spec_differences(state.spec, spec))
