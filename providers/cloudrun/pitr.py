"""Point-in-time recovery of a Cloud Run service's database: the action ``pitr``.

The engine's steps (``[services.database.pitr.cloudsql]`` or ``.neon``:
restore into a NEW instance or branch, wait until available, the checks
beside the live database), then the **switch**: a new revision of the
service whose environment variable ``dsn_env`` holds the new DSN.  The
revision IS the application's roll: it is followed until served (as a
traffic change is) and then waited for and verified as after any rollback.

The revision is named after the time (``SERVICE-pitr-20260105t224107z``), so
on resume ``took_effect`` reads it back by name (its variable holds the new
DSN) and it is never made twice.  Traffic that followed LATEST keeps
following it (the new revision serves); traffic pinned to a revision is
sent 100% to the new one, tags kept where they are.

The DSN is a secret: never in a step's params, a journal line or a message;
what is shown is ``<new DSN: host HOST db NAME>``.  A variable that comes from
Secret Manager (``secretKeyRef``) stays there: the DSN goes into a new
version of that secret (``providers.cloudrun.pitr_secret``), never into the
revision's plain environment, where anyone who can read the service would
see it.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from console.config import ServiceConfig
from console.model import Action, Plan, Revision, Step, StepKind
from console.runner import Skipped
from providers.base import CommandFailed, Conflict, InvalidTarget, NotFound, ProviderError
from providers.cloudrun import pitr_secret as secret_switch
from providers.cloudrun.apply import Updater
from providers.cloudrun.client import CloudRunClient
from providers.cloudrun.ops import PITR_ENV, TrafficChange
from providers.cloudrun.pitr_secret import SecretRef, ref_of
from providers.cloudrun.read import NAME, Reader
from providers.cloudrun.secretmanager import SecretManagerClient
from providers.cloudrun.traffic import (
    LATEST,
    describe_routes,
    get,
    routes_for,
    same_routes,
    split_of,
)
from providers.database import pitr, pitr_managed
from providers.database.pitr_managed import ManagedEngine, ManagedPitrPart

ACTION = pitr.ACTION


offered = pitr_managed.offered


def engine_for(service: ServiceConfig) -> ManagedEngine:
    return pitr_managed.engine_for(service, "Cloud Run")


def revision_name(service: str, when: Any) -> str:
    """``SERVICE-pitr-20260105t224107z``: the switch's revision (a name Cloud Run accepts)."""
    name = f"{service}-pitr-{when:%Y%m%dt%H%M%Sz}"
    if len(name) > 63:
        raise InvalidTarget(
            f"pitr: the revision name {name!r} would be longer than Cloud Run's 63 characters"
        )
    return name


def _container(raw: Any, key: str) -> tuple[str, SecretRef | None]:
    """(the name of the container reading ``key`` (else the first), the Secret Manager
    reference it reads ``key`` from, if any) in the service's template."""
    containers = list(raw.template.containers)
    if not containers:
        raise InvalidTarget("the service's template has no container")
    for container in containers:
        for env in container.env:
            if env.name == key:
                return container.name, ref_of(env)
    return containers[0].name, None


def action(service: ServiceConfig) -> Action:
    engine = engine_for(service)
    key = service.database.dsn_env if service.database else "?"
    what = (
        f"Restore {engine.source()} into a NEW {engine.kind} (the live one is kept), "
        f"then roll a new revision with {key} pointing at it"
    )
    return pitr.action_of(engine, what)


def plan(
    service: ServiceConfig,
    client: CloudRunClient,
    reader: Reader,
    argument: str | None,
    *,
    dry_run: bool,
) -> Plan:
    """Restore, wait, checks; then the new revision reading the new DSN, followed until served."""
    engine = engine_for(service)
    database = service.database
    assert database is not None
    key = database.dsn_env
    at = pitr.moment(engine, argument)
    when = at.when
    state = client.state()
    snap = reader.snapshot_of(state)
    container, ref = _container(state.raw, key)
    name = engine.new_id(when)
    revision = revision_name(client.cfg.service, when)
    live = state.service.traffic
    follows_latest = split_of(live) == [(LATEST, 100)]
    traffic = live if follows_latest else routes_for([(revision, 100)], live)
    change = TrafficChange(tuple(traffic), tuple(live))
    cfg = client.cfg
    steps = engine.restore_steps(when, at.win)
    serves = "(LATEST: it serves all the traffic)" if follows_latest else "(100% of traffic)"
    current = snap.current
    params: dict[str, Any] = {
        **change.params(),
        "instance": name,
        "revision": revision,
        "key": key,
        "container": container,
    }
    if ref is not None:
        sm = secret_switch.manager(client, ref.secret)
        before = secret_switch.live_version(sm, ref)
        previous = current.id if current else ""
        params.update(
            secret=ref.secret,
            version=ref.version,
            version_before=before,
            previous_revision=previous,
        )
        latest = "" if ref.pinned else " (as latest)"
        title = (
            f"Add a new version of secret {ref.secret}{latest} holding the DSN of {name} and "
            f"roll out revision {revision} of {cfg.service} reading it {serves}"
        )
        command = secret_switch.command(client, key, ref, name, revision)
        back = secret_switch.way_back(client, key, ref, before, "", previous)
    else:
        title = f"Roll out revision {revision} of {cfg.service} with {key} pointing at {name} "
        title += serves
        command = client.gcloud_update(
            "--update-env-vars",
            f"{key}=<the DSN of {name}>",
            "--revision-suffix",
            revision.removeprefix(f"{cfg.service}-"),
        )
        back = client.gcloud([(current.id, 100)]) if current else "(no current revision)"
        back += f" (revision {current.id if current else '?'} still reads the live database)"
    steps.append(
        Step(
            title=title,
            command=command,
            kind=StepKind.SWITCH,
            timeout_s=cfg.operation_timeout_s,
            op=PITR_ENV,
            params=params,
            # A separate, confirmed step: the operator sees the checks first.
            confirm_before=True,
        )
    )
    return pitr.plan_of(
        service,
        engine,
        at,
        provider=NAME,
        kept=f"The live database ({engine.source()}) is kept as it is",
        current=current,
        to_revision=Revision(
            id=revision,
            version=f"{current.version if current else ''} with {key} -> {name}".strip(),
        ),
        steps=steps,
        warnings=[f"To go back: {back}."],
        dry_run=dry_run,
    )


def _env_of(revision: Mapping[str, Any], container: str, key: str) -> str | None:
    for entry in get(revision, "containers") or []:
        if container and str(get(entry, "name", "") or "") != container:
            continue
        for env in get(entry, "env") or []:
            if get(env, "name") == key:
                return str(get(env, "value", "") or "")
    return None


class EnvSwitchPart:
    """Owns ``cloudrun.pitr_env``: the new revision reading the new DSN; never twice."""

    ops = frozenset({PITR_ENV})

    def __init__(self, service: ServiceConfig, client: CloudRunClient, updater: Updater) -> None:
        self.service = service
        self.client = client
        self.updater = updater
        self._engine: ManagedEngine | None = None
        self._managers: dict[str, SecretManagerClient] = {}

    def _manager(self, secret: str) -> SecretManagerClient:
        """One Secret Manager client a secret (its connection kept between calls)."""
        if secret not in self._managers:
            self._managers[secret] = secret_switch.manager(self.client, secret)
        return self._managers[secret]

    @property
    def engine(self) -> ManagedEngine:
        if self._engine is None:
            self._engine = engine_for(self.service)
        return self._engine

    def _made(self, step: Step, dsn: str) -> bool:
        """The revision exists and its variable holds ``dsn`` (in its plain value, or in the
        secret version it references)."""
        try:
            found = self.client.read_revision(str(step.params["revision"]))
        except NotFound:
            return False
        container, key = str(step.params["container"]), str(step.params["key"])
        secret = str(step.params.get("secret") or "")
        if not secret:
            return _env_of(found, container, key) == dsn
        ref = secret_switch.revision_ref(found, container, key)
        if ref is None or ref.secret != secret:
            return False
        try:
            return self._manager(secret).access(ref.version)[1] == dsn.encode()
        except NotFound:
            return False

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        try:
            return self._made(step, self.engine.dsn_of(str(step.params["instance"])))
        except ProviderError:
            return False

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        from google.cloud import run_v2

        name, revision = str(step.params["instance"]), str(step.params["revision"])
        key, container = str(step.params["key"]), str(step.params["container"])
        secret = str(step.params.get("secret") or "")
        dsn = self.engine.dsn_of(name)
        shown = self.engine.shown_dsn(name)
        if self._made(step, dsn):
            return Skipped(f"revision {revision} reads {key} = {shown} already: not made twice")
        change = TrafficChange.of(step)
        raw, svc = self.client.read_service()
        if not same_routes(svc.traffic, change.expect):
            raise Conflict(
                f"the traffic of {self.client.where} changed since the plan was made (now "
                f"{describe_routes(svc.traffic, svc.latest_ready)}): plan again"
            )
        raw.template.revision = revision
        target = next((c for c in raw.template.containers if c.name == container), None)
        if target is None:
            raise CommandFailed(f"container {container!r} is no longer in {self.client.where}")
        entry = next((e for e in target.env if e.name == key), None)
        back = ""
        if secret:
            ref = ref_of(entry) if entry is not None else None
            if entry is None or ref is None or ref.secret != secret:
                raise CommandFailed(
                    f"{key} of {self.client.where} no longer reads secret {secret}: plan again"
                )
            sm = self._manager(secret)
            version, added = secret_switch.add_version(sm, dsn.encode(), ref.pinned)
            said = "added" if added else "found: not added twice"
            yield f"version {version} of secret {secret} holds {shown} ({said})"
            if ref.pinned:
                entry.value_source.secret_key_ref.version = version
            before = str(step.params.get("version_before") or "")
            back = secret_switch.way_back(
                self.client, key, ref, before, version, str(step.params.get("previous_revision"))
            )
            shown = f"secret {secret} version {version if ref.pinned else 'latest'} ({shown})"
        elif entry is None:
            target.env.append(run_v2.EnvVar(name=key, value=dsn))
        else:
            entry.value = dsn  # a oneof: any value_source is cleared
        yield f"new revision {revision}: {key} = {shown}"
        served = yield from self.updater.apply(
            raw, change.traffic, f"roll out revision {revision} with {key} = {shown}"
        )
        if not self._made(step, dsn):
            raise CommandFailed(f"revision {revision} does not read back {key} = {shown}")
        if back:
            yield f"to go back: {back}"
        now = describe_routes(served.statuses, served.latest_ready)
        return f"revision {revision} reads {key} = {shown}; {self.client.cfg.service} serves {now}"


def parts(service: ServiceConfig, client: CloudRunClient, updater: Updater) -> tuple[Any, ...]:
    """The parts running a ``pitr`` plan's own steps: the engine's and the switch."""
    return (ManagedPitrPart(engine_for(service)), EnvSwitchPart(service, client, updater))


__all__ = ["ACTION", "EnvSwitchPart", "action", "offered", "parts", "plan", "revision_name"]
