"""Point-in-time recovery of a Kubernetes Deployment's database: the action ``pitr``.

The engine's steps (``[services.database.pitr.cloudsql]`` or ``.neon``: both
spoken to over HTTPS, nothing of another platform's SDK; restore into a NEW
instance or branch, wait until available, the checks beside the live
database), then the **switch**: the key of the Secret the pods read their DSN
from (``providers.kubernetes.secrets``) is patched to the new DSN, after its
previous value was copied into a Secret ``SECRET-before-INSTANCE`` made by the
console; then ``kubectl rollout restart`` (``restart.RestartPart``, its
``restartedAt`` decided with the plan) so the pods read it again, waited for
and verified as after any rollback.

The WAL engine is not offered here: its new server runs on the console's own
host (``pg_ctl``), which a cluster's pods may not reach, and the console could
not tell.

The switch is done once: on resume ``took_effect`` reads the Secret back (its
key holds the new DSN); a restart took effect when the Deployment carries the
step's ``restartedAt``.  The DSN is never in a step's params, a command or a
message: ``<new DSN: host HOST db NAME>`` is shown instead.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from console.config import ServiceConfig
from console.model import Action, Plan, Revision, Step, StepKind
from console.runner import Skipped
from providers.base import (
    CommandFailed,
    Conflict,
    InvalidTarget,
    NotFound,
    OutcomeUnknown,
    ProviderError,
    TimedOut,
    Unavailable,
)
from providers.database import pitr, pitr_managed
from providers.database.pitr_managed import ManagedEngine, ManagedPitrPart
from providers.kubernetes import read as rd
from providers.kubernetes import rollout as ro
from providers.kubernetes.client import Cluster
from providers.kubernetes.restart import RestartPart, next_restart
from providers.kubernetes.secrets import (
    SecretRef,
    Secrets,
    copy_name,
    find,
    managed,
    owners,
    value_of,
)

ACTION = pitr.ACTION
#: The Secret switch: params ``instance``, ``secret``, ``key``, ``secret_uid``, ``copy``.
SWITCH_OP = "k8s.pitr_secret"


offered = pitr_managed.offered


def engine_for(service: ServiceConfig) -> ManagedEngine:
    return pitr_managed.engine_for(service, "Kubernetes")


def action(service: ServiceConfig) -> Action:
    engine = engine_for(service)
    what = (
        f"Restore {engine.source()} into a NEW {engine.kind} (the live one is kept), "
        "point the Deployment's DSN Secret at it and `rollout restart`"
    )
    return pitr.action_of(engine, what)


def plan(
    service: ServiceConfig,
    cluster: Cluster,
    restart: RestartPart,
    argument: str | None,
    *,
    dry_run: bool,
) -> Plan:
    """Restore, wait, checks; then the Secret switch (confirmed apart), the restart."""
    engine = engine_for(service)
    at = pitr.moment(engine, argument)
    state = rd.read_state(cluster)
    d = state.deployment
    if (d.get("spec") or {}).get("paused"):
        raise InvalidTarget(
            f"can't restart paused deployment/{state.name} (run "
            f"`{rd.resume_first(cluster, state.name)}` first)"
        )
    ref = find(service, ro.template_of(d))
    secrets = Secrets(cluster)
    try:
        secret = secrets.get(ref.name)
    except NotFound:
        raise InvalidTarget(
            f"pitr: Secret {ref.name} ({ref.how}) does not exist in namespace "
            f"{cluster.k8s.namespace}"
        ) from None
    current_dsn = value_of(secret, ref.key)
    if current_dsn is None:
        raise InvalidTarget(f"pitr: Secret {ref.name} has no key {ref.key} ({ref.how})")
    _refuse_a_proxy(engine, ref, current_dsn)
    name = engine.new_id(at.when)
    copy = copy_name(ref, name)
    current = rd.current(cluster, state, rd.revisions(cluster, state))
    steps = engine.restore_steps(at.when, at.win)
    steps.append(switch_step(secrets, ref, name, copy, str(secret["metadata"].get("uid", ""))))
    params = {
        "deployment_uid": str(d["metadata"]["uid"]),
        "version": current.version,
        "restarted_at": next_restart(d),
    }
    steps.append(restart.step(service.environment, params))
    warnings = [
        f"To go back: {secrets.way_back(ref, copy)} (Secret {copy} keeps what "
        f"{ref.label} held before the switch; {engine.source()} keeps running).",
    ]
    writer = owners(secret) or managed(secret)
    if writer:
        warnings.append(
            f"Secret {ref.name} is managed ({writer}): its controller may write the old DSN "
            "back; change it at its source too."
        )
    return pitr.plan_of(
        service,
        engine,
        at,
        provider="kubernetes",
        kept=f"The live database ({engine.source()}) is kept as it is",
        current=current,
        to_revision=Revision(
            id=current.id,
            version=current.version,
            image=current.image,
            detail=f"{ref.label} -> {name}",
        ),
        steps=steps,
        warnings=warnings,
        dry_run=dry_run,
    )


def _refuse_a_proxy(engine: ManagedEngine, ref: SecretRef, current: str) -> None:
    """Pods that reach Cloud SQL through the Auth Proxy (a sidecar on 127.0.0.1) have a DSN
    naming no instance: pointing it at the clone's address would bypass the proxy, and
    the proxy would keep serving the live instance.  Refused, saying what to change."""
    from providers.database.pg import read_dsn

    if engine.name != "cloudsql":
        return
    try:
        host = read_dsn("the Secret's DSN", {"the Secret's DSN": current}).params.get("host", "")
    except ProviderError:
        return
    if host in ("127.0.0.1", "localhost", "::1"):
        raise InvalidTarget(
            f"pitr: {ref.label} points at {host} (a Cloud SQL Auth Proxy sidecar?): that DSN "
            "names no instance, so switching it cannot move the pods to the clone; restore "
            "with --no-switch and point the proxy at the clone's connection name by hand"
        )


def switch_step(secrets: Secrets, ref: SecretRef, name: str, copy: str, uid: str) -> Step:
    """Copy the key's value into ``copy``, then patch it to the DSN of ``name``."""
    commands = (
        secrets.copy_command(ref, copy),
        secrets.patch_command(ref, f"<base64 of the DSN of {name}>"),
    )
    return Step(
        title=f"Point {ref.label} at {name} (the value before is kept in Secret {copy})",
        command=" && ".join(commands),
        kind=StepKind.SWITCH,
        op=SWITCH_OP,
        params={
            "instance": name,
            "secret": ref.name,
            "key": ref.key,
            "secret_uid": uid,
            "copy": copy,
        },
        # A separate, confirmed step: the operator sees the checks first.
        confirm_before=True,
    )


class SecretSwitchPart:
    """Owns ``k8s.pitr_secret``: the DSN Secret's key pointed at the new instance, once."""

    ops = frozenset({SWITCH_OP})

    def __init__(self, service: ServiceConfig, cluster: Cluster) -> None:
        self.service = service
        self.secrets = Secrets(cluster)
        self._engine: ManagedEngine | None = None

    @property
    def engine(self) -> ManagedEngine:
        if self._engine is None:
            self._engine = engine_for(self.service)
        return self._engine

    @staticmethod
    def _ref(step: Step) -> SecretRef:
        return SecretRef(str(step.params["secret"]), str(step.params["key"]), "planned")

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        """Whether the Secret's key holds the new DSN now."""
        ref = self._ref(step)
        try:
            dsn = self.engine.dsn_of(str(step.params["instance"]))
            return value_of(self.secrets.get(ref.name), ref.key) == dsn
        except ProviderError:
            return False

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        ref, name = self._ref(step), str(step.params["instance"])
        copy = str(step.params["copy"])
        dsn, shown = self.engine.dsn_of(name), self.engine.shown_dsn(name)
        secret = self.secrets.get(ref.name)
        uid = str(step.params.get("secret_uid") or "")
        if uid and secret["metadata"].get("uid") != uid:
            raise Conflict(
                f"Secret {ref.name} was deleted and re-created since the plan was made; "
                "look again before retrying"
            )
        if value_of(secret, ref.key) == dsn:
            return Skipped(f"{ref.label} holds {shown} already: not switched twice")
        raw = (secret.get("data") or {}).get(ref.key)
        if raw is None:
            raise CommandFailed(f"Secret {ref.name} has no key {ref.key} any more")
        yield from self._keep(ref, copy, str(raw))
        rv = str(secret["metadata"]["resourceVersion"])
        yield f"PATCH Secret {ref.name} (merge, resourceVersion {rv}): {ref.key} = {shown}"
        try:
            self.secrets.patch_key(ref.name, ref.key, dsn, rv)
        except (Unavailable, TimedOut) as err:
            if self._holds(ref, err) != dsn:  # read again: never sent a second time
                raise type(err)(f"{err}; {ref.label} does not hold {shown}: not switched") from None
            yield f"no answer to the PATCH ({err}), but {ref.label} holds {shown}: switched"
        after = self.secrets.get(ref.name)
        if value_of(after, ref.key) != dsn:
            raise CommandFailed(f"{ref.label} does not read back as {shown}")
        yield f"to go back: {self.secrets.way_back(ref, copy)}"
        version = after["metadata"].get("resourceVersion", "?")
        return f"{ref.label} now holds {shown} (resourceVersion {version}); before: Secret {copy}"

    def _holds(self, ref: SecretRef, err: ProviderError) -> str | None:
        """The key's value read again after a write got no answer (``OutcomeUnknown`` when
        it cannot be read: ``resume`` finds out once the API answers)."""
        try:
            return value_of(self.secrets.get(ref.name), ref.key)
        except ProviderError as again:
            raise OutcomeUnknown(
                f"{err}; whether {ref.label} was switched is not known: it could not be read "
                f"again ({again})"
            ) from None

    def _keep(self, ref: SecretRef, copy: str, raw: str) -> Generator[str, None, None]:
        """The value before the switch, in Secret ``copy``; one made earlier is kept as it is."""
        try:
            kept = self.secrets.get(copy)
        except NotFound:
            kept = None
        if kept is not None:
            yield f"Secret {copy} exists already (an earlier attempt's copy): kept as it is"
            return
        try:
            self.secrets.create_copy(copy, ref.key, raw)
        except Conflict:  # made meanwhile (a resent create)
            self.secrets.get(copy)
        if (self.secrets.get(copy).get("data") or {}).get(ref.key) != raw:
            raise CommandFailed(f"Secret {copy} does not hold the previous value of {ref.label}")
        yield f"the previous value of {ref.label} is kept in Secret {copy}"


def parts(service: ServiceConfig, cluster: Cluster) -> tuple[Any, ...]:
    """The parts running a ``pitr`` plan's own steps: the engine's and the switch (the
    restart is ``RestartPart``'s, as for the action ``restart``)."""
    return (ManagedPitrPart(engine_for(service)), SecretSwitchPart(service, cluster))


__all__ = ["ACTION", "SWITCH_OP", "SecretSwitchPart", "action", "offered", "parts", "plan"]
