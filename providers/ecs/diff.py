"""What changes between the live task definition and the target ("What changes").

Task-level cpu and memory, then per container (in the target's order, then
the containers the rollback removes): image, command, entry point,
environment (plain values shown, credential-named ones masked), secrets by
name with the *name part* of their ``valueFrom`` only (``Secrets Manager
prod/db-AbCdEf key password``, ``SSM parameter prod/db_url``: never an
account, never a value, which ECS does not even return), cpu, memory and port
mappings.  A container only one side has is one line, not its every field.

Revisions never change once registered, so both are read through the
reader's cache (``EcsReader.task_definition``).
"""

from __future__ import annotations

import shlex
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
from providers.ecs.read import EcsReader


def differences(reader: EcsReader, live: Revision, target: Revision) -> tuple[Difference, ...]:
    """The differences between the task definitions ``live.id`` and ``target.id`` name."""
    if live.id == target.id:
        return ()
    return task_definition_changes(
        reader.task_definition(live.id), reader.task_definition(target.id)
    )


def task_definition_changes(
    live: Mapping[str, Any], target: Mapping[str, Any]
) -> tuple[Difference, ...]:
    """Readable lines of what differs between two ``describe-task-definition`` documents."""
    out: list[Difference] = []
    out += changed("cpu", _text(live.get("cpu")), _text(target.get("cpu")))
    out += changed("memory", _mib(live.get("memory")), _mib(target.get("memory")))
    live_by_name = _containers(live)
    target_by_name = _containers(target)
    for name, container in target_by_name.items():
        before = live_by_name.get(name)
        if before is None:
            image = shown(str(container.get("image", "")))
            out.append(Difference(label("container", name), "", image, "added by the rollback"))
        else:
            out += container_changes(name, before, container)
    for name, container in live_by_name.items():
        if name not in target_by_name:
            image = shown(str(container.get("image", "")))
            out.append(Difference(label("container", name), image, "", "removed by the rollback"))
    return tuple(out)


def container_changes(
    name: str, live: Mapping[str, Any], target: Mapping[str, Any]
) -> list[Difference]:
    """What differs in one container present on both sides."""
    out: list[Difference] = []
    out += image_change(
        label("image", name), str(live.get("image", "")), str(target.get("image", ""))
    )
    for key, kind in (("entryPoint", "entrypoint"), ("command", "command")):
        out += changed(label(kind, name), _argv(live.get(key)), _argv(target.get(key)))
    out += variables(name, _variables(live), _variables(target))
    out += changed(label("cpu", name), _units(live.get("cpu")), _units(target.get("cpu")))
    out += changed(label("memory", name), _mib(live.get("memory")), _mib(target.get("memory")))
    out += changed(
        label("memory reservation", name),
        _mib(live.get("memoryReservation")),
        _mib(target.get("memoryReservation")),
    )
    out += changed(label("ports", name), _ports(live), _ports(target))
    return out


def _containers(td: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for i, container in enumerate(td.get("containerDefinitions") or []):
        found[shown(str(container.get("name") or f"#{i + 1}"))] = container
    return found


def _variables(container: Mapping[str, Any]) -> dict[str, Variable]:
    found: dict[str, Variable] = {}
    for entry in container.get("environment") or []:
        name = str(entry.get("name", ""))
        found[name] = plain(name, str(entry.get("value", "")))
    for entry in container.get("secrets") or []:
        ref = str(entry.get("valueFrom", ""))
        found[str(entry.get("name", ""))] = Variable(secret_source(ref), ref, secret=True)
    return found


def secret_source(value_from: str) -> str:
    """Where an ECS secret comes from, by name: ``Secrets Manager prod/db-AbCdEf key password``.

    ``valueFrom`` is a Secrets Manager ARN (``...:secret:NAME[:json-key:stage:version-id]``),
    an SSM parameter ARN (``...:parameter/NAME``) or a parameter's name.
    """
    parts = value_from.split(":")
    if value_from.startswith("arn:") and len(parts) >= 6:
        service, resource = parts[2], parts[5]
        if service == "secretsmanager" and resource == "secret" and len(parts) >= 7:
            text = f"Secrets Manager {parts[6]}"
            for word, part in zip(("key", "stage", "version"), parts[7:10], strict=False):
                if part:
                    text += f" {word} {part}"
            return shown(text)
        if service == "ssm":
            return shown(f"SSM parameter {':'.join(parts[5:]).removeprefix('parameter/')}")
        return shown(f"{service} {':'.join(parts[5:])}")
    return shown(f"SSM parameter {value_from}")


def _argv(value: Any) -> str:
    return shlex.join(str(v) for v in value) if value else ""


def _text(value: Any) -> str:
    return str(value) if value not in (None, "") else ""


def _units(value: Any) -> str:
    """Container cpu units; 0 (or absent) reserves none."""
    return str(value) if value else ""


def _mib(value: Any) -> str:
    text = _text(value)
    return f"{text} MiB" if text.isdigit() else text


def _ports(container: Mapping[str, Any]) -> str:
    """``8080/tcp``, ``80:8080/tcp`` with a fixed host port, sorted, comma separated."""
    ports = []
    for mapping in container.get("portMappings") or []:
        port = str(mapping.get("containerPort", ""))
        host = mapping.get("hostPort")
        if host and str(host) != port:
            port = f"{host}:{port}"
        ports.append(f"{port}/{mapping.get('protocol') or 'tcp'}")
    return ", ".join(sorted(ports))
