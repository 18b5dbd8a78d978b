"""The Cloud Run switch of a restore when the DSN comes from Secret Manager.

The service's ``dsn_env`` is ``valueSource.secretKeyRef {secret, version}``:
the DSN lives in a secret version, never in the revision.  So the switch

1. adds a version of that secret holding the new DSN (``addVersion``), read
   back with ``versions/N:access``, unless a version holding it exists
   already (a resumed switch, a lost answer: never a second version);
2. rolls the new revision ``SERVICE-pitr-…`` referencing that version by
   number when the live revision pinned one, or still ``latest`` (the new
   version IS the latest; the new revision makes instances start and read
   it again; the instances already running keep the DSN they read).

The way back: a pinned switch sends the traffic to the revision that served
before (it still reads the old version); a ``latest`` one disables the new
version and rolls a revision pinned to the old one (``--update-secrets``).
The DSN is never printed, journaled or put in a step's params.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from providers.base import CommandFailed, NotFound, OutcomeUnknown
from providers.cloudrun.client import CloudRunClient
from providers.cloudrun.secretmanager import SecretManagerClient, split_ref
from providers.cloudrun.traffic import get, shell


@dataclass(frozen=True)
class SecretRef:
    """Where the live revision reads ``dsn_env`` from: ``secret`` as the revision names it
    (``S`` or ``projects/P/secrets/S``) and ``version`` (a number, or ``latest``)."""

    secret: str
    version: str

    @property
    def pinned(self) -> bool:
        return self.version != "latest"


def ref_of(env: Any) -> SecretRef | None:
    """The ``secretKeyRef`` of a ``run_v2.EnvVar`` (None: a plain value)."""
    ref = env.value_source.secret_key_ref
    if not ref.secret:
        return None
    return SecretRef(str(ref.secret), str(ref.version or "latest"))


def revision_ref(revision: Mapping[str, Any], container: str, key: str) -> SecretRef | None:
    """The ``secretKeyRef`` ``key`` has in a revision read as a dict (None: none)."""
    for entry in get(revision, "containers") or []:
        if container and str(get(entry, "name", "") or "") != container:
            continue
        for env in get(entry, "env") or []:
            if get(env, "name") != key:
                continue
            ref = get(get(env, "value_source") or {}, "secret_key_ref") or {}
            if get(ref, "secret"):
                return SecretRef(str(get(ref, "secret")), str(get(ref, "version") or "latest"))
    return None


def manager(client: CloudRunClient, secret: str) -> SecretManagerClient:
    project, secret_id = split_ref(secret, client.cfg.project)
    return SecretManagerClient(project, secret_id, api_endpoint=client.cfg.secret_manager_endpoint)


def live_version(sm: SecretManagerClient, ref: SecretRef) -> str:
    """The number the live revision reads now (``latest`` resolved; metadata only): read
    at plan time, so a secret that is not there stops the plan before any restore."""
    return sm.version(ref.version)


def command(client: CloudRunClient, key: str, ref: SecretRef, name: str, revision: str) -> str:
    """What an operator would type: add the version, then the revision reading it."""
    sm = manager(client, ref.secret)
    cfg = client.cfg
    version = "<the new version>" if ref.pinned else "latest"
    add = shell(
        [
            "gcloud",
            "secrets",
            "versions",
            "add",
            sm.secret,
            "--project",
            sm.project,
            "--data-file",
            f"<a file holding the DSN of {name}>",
        ]
    )
    roll = client.gcloud_update(
        "--update-secrets",
        f"{key}={ref.secret}:{version}",
        "--revision-suffix",
        revision.removeprefix(f"{cfg.service}-"),
    )
    return f"{add} && {roll}"


def way_back(
    client: CloudRunClient,
    key: str,
    ref: SecretRef,
    before: str,
    new: str,
    previous_revision: str,
) -> str:
    """How to point the service at the live database again."""
    if ref.pinned:
        split = [(previous_revision, 100)] if previous_revision else None
        return (
            f"{client.gcloud(split)} (revision {previous_revision or '?'} still reads version "
            f"{before} of secret {ref.secret})"
        )
    sm = manager(client, ref.secret)
    roll = client.gcloud_update(
        "--update-secrets", f"{key}={ref.secret}:{before or '<the version before>'}"
    )
    return f"{sm.gcloud_disable(new or '<the new version>')} && {roll}"


def version_holding(sm: SecretManagerClient, data: bytes, pinned: bool) -> str | None:
    """A version that holds ``data`` already: any recent one for a pinned reference, the
    latest one only for ``latest`` (an older one would not be what instances read)."""
    if pinned:
        return sm.find(data)
    try:
        number, payload = sm.access("latest")
    except NotFound:
        return None
    return number if payload == data else None


def add_version(sm: SecretManagerClient, data: bytes, pinned: bool) -> tuple[str, bool]:
    """(the version holding ``data``, whether it was added now); never two versions."""
    found = version_holding(sm, data, pinned)
    if found is not None:
        return found, False
    try:
        number = sm.add(data)
    except OutcomeUnknown:
        found = version_holding(sm, data, pinned)
        if found is None:
            raise
        return found, True
    if sm.access(number)[1] != data:
        raise CommandFailed(f"version {number} of {sm.where} does not read back as the new DSN")
    return number, True


__all__ = [
    "SecretRef",
    "add_version",
    "command",
    "live_version",
    "manager",
    "ref_of",
    "revision_ref",
    "version_holding",
    "way_back",
]
