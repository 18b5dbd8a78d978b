"""What changes: the live pod template against the one ``kubectl rollout undo`` applies.

The operator at 02:00 needs to know whether the rollback is "the old image"
or more than that, and that ConfigMaps and Secrets stay as they are today.
So the two templates are flattened into *facets*, one readable name each
("image web", "env web LOG_LEVEL", "resources web limits.memory", "probe
web readiness", "volume config"), and the facets that differ become
``Difference`` lines; a container only one side has is one line; anything
else that differs is named in one "other fields" line, never dumped.

Values: a plain env value is shown quoted (``"info"``), except under a name
that looks like a credential (``***``); a value from a Secret is named by
where it comes from (``secret db/password``), never read.  Then every
ConfigMap and Secret the target refers to gets a line of its own
(``providers.kubernetes.config_refs``): the rollback leaves them as they are.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping
from typing import Any

from console.model import Difference, Revision
from console.redact import MASK
from console.textsafe import one_line
from providers.base import NotFound
from providers.kubernetes import config_refs
from providers.kubernetes import read as rd
from providers.kubernetes import rollout as ro
from providers.kubernetes.client import JSON, Cluster

#: The longest value a line shows (longer ones are cut, with a note when that hides the change).
MAX_VALUE = 100

#: Env names whose plain values are credentials by every convention: shown as ``***``.
_SECRET_NAME = re.compile(
    r"(?i)(PASSWORD|PASSWD|PASSPHRASE|(^|_)PWD($|_)|TOKEN|SECRET|CREDENTIAL|API_?KEY"
    r"|PRIVATE_?KEY|ACCESS_?KEY|(^|_)AUTH($|_))"
)
#: Container fields with facets of their own; any other that differs is named in "other fields".
_COVERED = frozenset(
    {
        "name",
        "image",
        "command",
        "args",
        "env",
        "envFrom",
        "resources",
        "readinessProbe",
        "livenessProbe",
        "startupProbe",
    }
)
_PROBES = (
    ("readiness", "readinessProbe"),
    ("liveness", "livenessProbe"),
    ("startup", "startupProbe"),
)


class Hidden(str):
    """A plain env value under a credential's name: compared as itself, shown as ``***``."""

    __slots__ = ()


def shown(value: str) -> str:
    """A facet value as a line shows it: ``***`` for a hidden one, long ones cut."""
    if isinstance(value, Hidden):
        return MASK
    return one_line(value, MAX_VALUE)


# --------------------------------------------------------------------------- facets


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _quoted(value: Any) -> str:
    return json.dumps(_text(value), ensure_ascii=False)


def _optional(ref: Mapping[str, Any]) -> str:
    return " (optional)" if ref.get("optional") else ""


def env_source(var: Mapping[str, Any]) -> str:
    """Where one env var's value comes from: ``"info"``, ``secret db/password``, ..."""
    source = var.get("valueFrom")
    if not isinstance(source, Mapping) or not source:
        value = _quoted(var.get("value") or "")
        return Hidden(value) if _SECRET_NAME.search(str(var.get("name", ""))) else value
    if isinstance(ref := source.get("secretKeyRef"), Mapping):
        return f"secret {ref.get('name', '')}/{ref.get('key', '')}{_optional(ref)}"
    if isinstance(ref := source.get("configMapKeyRef"), Mapping):
        return f"configmap {ref.get('name', '')}/{ref.get('key', '')}{_optional(ref)}"
    if isinstance(ref := source.get("fieldRef"), Mapping):
        return f"field {ref.get('fieldPath', '')}"
    if isinstance(ref := source.get("resourceFieldRef"), Mapping):
        of = f" of {ref['containerName']}" if ref.get("containerName") else ""
        return f"resource {ref.get('resource', '')}{of}"
    return "from " + json.dumps(source, sort_keys=True, separators=(",", ":"))


def env_from_source(source: Mapping[str, Any]) -> str:
    """``configmap app-config``, ``secret db (prefix DB_)``: one ``envFrom`` entry."""
    prefix = f" prefix {source['prefix']}" if source.get("prefix") else ""
    for key, kind in (("configMapRef", "configmap"), ("secretRef", "secret")):
        ref = source.get(key)
        if isinstance(ref, Mapping):
            return f"{kind} {ref.get('name', '')}{prefix}{_optional(ref)}"
    return json.dumps(source, sort_keys=True, separators=(",", ":"))


def probe_summary(probe: Mapping[str, Any]) -> str:
    """``http GET :8080/healthz, delay 5s, every 10s, timeout 1s, failures 3`` on one line."""
    parts = []
    if isinstance(action := probe.get("httpGet"), Mapping):
        scheme = str(action.get("scheme", "HTTP")).lower()
        text = f"{scheme} GET :{action.get('port', '')}{action.get('path', '')}"
        headers = [str(h.get("name", "")) for h in action.get("httpHeaders") or []]
        parts.append(text + (f" (headers {', '.join(headers)})" if headers else ""))
    elif isinstance(action := probe.get("tcpSocket"), Mapping):
        parts.append(f"tcp :{action.get('port', '')}")
    elif isinstance(action := probe.get("exec"), Mapping):
        parts.append("exec " + shlex.join(str(a) for a in action.get("command") or []))
    elif isinstance(action := probe.get("grpc"), Mapping):
        service = f" {action['service']}" if action.get("service") else ""
        parts.append(f"grpc :{action.get('port', '')}{service}")
    for key, label, unit in (
        ("initialDelaySeconds", "delay", "s"),
        ("periodSeconds", "every", "s"),
        ("timeoutSeconds", "timeout", "s"),
        ("failureThreshold", "failures", ""),
        ("successThreshold", "successes", ""),
        ("terminationGracePeriodSeconds", "grace", "s"),
    ):
        if probe.get(key) is not None:
            parts.append(f"{label} {probe[key]}{unit}")
    return ", ".join(parts)


def container_facets(container: Mapping[str, Any]) -> dict[str, str]:
    """One container's facets: ``image web`` -> ``app:1.2.9``, ``env web X`` -> ``"1"``..."""
    name = str(container.get("name", ""))
    out = {f"image {name}": str(container.get("image", ""))}
    for key in ("command", "args"):
        if container.get(key):
            out[f"{key} {name}"] = shlex.join(str(a) for a in container[key])
    for var in container.get("env") or []:
        out[f"env {name} {var.get('name', '')}"] = env_source(var)
    sources = [env_from_source(s) for s in container.get("envFrom") or []]
    if sources:
        out[f"envFrom {name}"] = ", ".join(sources)
    resources = container.get("resources") or {}
    for group in ("requests", "limits"):
        for resource, quantity in sorted((resources.get(group) or {}).items()):
            out[f"resources {name} {group}.{resource}"] = _text(quantity)
    claims = [str(c.get("name", "")) for c in resources.get("claims") or []]
    if claims:
        out[f"resources {name} claims"] = ", ".join(claims)
    for label, key in _PROBES:
        if isinstance(container.get(key), Mapping):
            out[f"probe {name} {label}"] = probe_summary(container[key])
    return out


def volume_source(volume: Mapping[str, Any]) -> str:
    """``configmap app-config``, ``secret tls``, ``projected: configmap a, secret b``; "" else."""
    if isinstance(ref := volume.get("configMap"), Mapping):
        return f"configmap {ref.get('name', '')}{_optional(ref)}"
    if isinstance(ref := volume.get("secret"), Mapping):
        return f"secret {ref.get('secretName', '')}{_optional(ref)}"
    if isinstance(projected := volume.get("projected"), Mapping):
        parts = []
        for source in projected.get("sources") or []:
            if isinstance(ref := source.get("configMap"), Mapping):
                parts.append(f"configmap {ref.get('name', '')}{_optional(ref)}")
            elif isinstance(ref := source.get("secret"), Mapping):
                parts.append(f"secret {ref.get('name', '')}{_optional(ref)}")
        return "projected: " + ", ".join(parts) if parts else ""
    return ""


def _clean(template: Mapping[str, Any]) -> JSON:
    """The template as the API compares it: no ``pod-template-hash``, empty fields dropped."""
    cleaned = ro.semantic(ro.without_hash(template))
    return cleaned if isinstance(cleaned, dict) else {}


def _spec(template: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = template.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _containers(template: Mapping[str, Any]) -> dict[str, tuple[Mapping[str, Any], bool]]:
    """name -> (container, is an init container), init containers first (names are unique)."""
    spec = _spec(template)
    out: dict[str, tuple[Mapping[str, Any], bool]] = {}
    for key, init in (("initContainers", True), ("containers", False)):
        for container in spec.get(key) or []:
            if isinstance(container, Mapping):
                out[str(container.get("name", ""))] = (container, init)
    return out


def pod_facets(template: Mapping[str, Any]) -> dict[str, str]:
    """Facets of the pod itself: volumes from ConfigMaps and Secrets, template labels and
    annotations (``kubectl rollout restart``'s ``restartedAt`` among them)."""
    out: dict[str, str] = {}
    for volume in _spec(template).get("volumes") or []:
        source = volume_source(volume)
        if source:
            out[f"volume {volume.get('name', '')}"] = source
    meta = template.get("metadata") or {}
    for key, label in (("labels", "label"), ("annotations", "annotation")):
        for name, value in sorted((meta.get(key) or {}).items()):
            if name != ro.HASH_LABEL:
                out[f"template {label} {name}"] = _text(value)
    return out


def facets(template: Mapping[str, Any]) -> dict[str, str]:
    """Every facet of a pod template: what a "What changes" list compares, by name."""
    clean = _clean(template)
    out: dict[str, str] = {}
    for container, _ in _containers(clean).values():
        out.update(container_facets(container))
    out.update(pod_facets(clean))
    return out


def _compare(live: Mapping[str, str], target: Mapping[str, str]) -> Iterator[Difference]:
    for what in [*target, *(k for k in live if k not in target)]:
        before, after = live.get(what, ""), target.get(what, "")
        if before == after:
            continue
        note = ""
        if isinstance(after, Hidden) or isinstance(before, Hidden):
            note = "a plain value under a credential's name: not shown"
        elif shown(before) == shown(after):
            note = f"they differ past the first {MAX_VALUE} characters"
        yield Difference(what, shown(before), shown(after), note)


def _other_fields(live: Mapping[str, Any], target: Mapping[str, Any]) -> list[str]:
    """Names of what differs besides the facets: ``web ports``, ``pod serviceAccountName``."""
    names = []
    live_spec, target_spec = _spec(live), _spec(target)
    for key in sorted(set(live_spec) | set(target_spec)):
        covered = key in ("containers", "initContainers", "volumes")
        if not covered and live_spec.get(key) != target_spec.get(key):
            names.append(f"pod {key}")
    live_volumes = {v.get("name"): v for v in live_spec.get("volumes") or []}
    target_volumes = {v.get("name"): v for v in target_spec.get("volumes") or []}
    for name in sorted(set(live_volumes) | set(target_volumes), key=str):
        before, after = live_volumes.get(name), target_volumes.get(name)
        if before != after and volume_source(before or {}) == volume_source(after or {}):
            names.append(f"volume {name}")
    live_containers, target_containers = _containers(live), _containers(target)
    for name, (container, _) in target_containers.items():
        if name not in live_containers:
            continue
        before = live_containers[name][0]
        for key in sorted(set(container) | set(before)):
            if key not in _COVERED and container.get(key) != before.get(key):
                names.append(f"{name} {key}")
        for label, key in _PROBES:
            one, other = before.get(key), container.get(key)
            if one != other and one and other and probe_summary(one) == probe_summary(other):
                names.append(f"{name} {label} probe")
    return names


def template_differences(
    live: Mapping[str, Any], target: Mapping[str, Any]
) -> tuple[Difference, ...]:
    """What ``kubectl rollout undo`` changes by replacing the ``live`` template by ``target``."""
    live, target = _clean(live), _clean(target)
    out: list[Difference] = []
    live_containers, target_containers = _containers(live), _containers(target)
    names = [*target_containers, *(n for n in live_containers if n not in target_containers)]
    for name in names:
        before = live_containers.get(name)
        after = target_containers.get(name)
        if before is None and after is not None:
            kind = "init container" if after[1] else "container"
            out.append(
                Difference(
                    f"container {name}",
                    "",
                    str(after[0].get("image", "")),
                    f"{kind} added by the rollback",
                )
            )
        elif after is None and before is not None:
            kind = "init container" if before[1] else "container"
            out.append(
                Difference(
                    f"container {name}",
                    str(before[0].get("image", "")),
                    "",
                    f"{kind} removed by the rollback",
                )
            )
        elif before is not None and after is not None:
            out.extend(_compare(container_facets(before[0]), container_facets(after[0])))
    out.extend(_compare(pod_facets(live), pod_facets(target)))
    other = _other_fields(live, target)
    if other:
        out.append(Difference("other fields", note="also differ: " + ", ".join(other)))
    return tuple(out)


# --------------------------------------------------------------------------- the provider's answer


def _revision_rs(cluster: Cluster, state: rd.State, revision: Revision) -> tuple[JSON, int]:
    number = int(revision.id) if revision.id.isdigit() else None
    if number is None or number not in state.history:
        raise NotFound(
            f"revision {revision.id} ({revision.version}) is no longer in the history of "
            f"deployment/{state.name} (revisions: {rd.known(cluster, state)})"
        )
    return state.history[number], number


def differences(cluster: Cluster, live: Revision, target: Revision) -> tuple[Difference, ...]:
    """The live revision (the Deployment's template when ``live`` is current) against the
    target ReplicaSet's template, then the ConfigMaps and Secrets the target refers to."""
    state = rd.read_state(cluster)
    if live.current:
        live_template = ro.template_of(state.deployment)
    else:
        live_template = ro.template_of(_revision_rs(cluster, state, live)[0])
    rs, number = _revision_rs(cluster, state, target)
    template = ro.template_of(rs)
    version = cluster.version(template)[0]
    label = f"revision {number} ({version})" if version else f"revision {number}"
    created = ro.parse_time(ro.meta(rs).get("creationTimestamp"))
    return template_differences(live_template, template) + config_refs.reference_differences(
        cluster, _clean(template), created, label
    )
