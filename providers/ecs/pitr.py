"""Point-in-time recovery of an ECS service's RDS database: the action ``pitr`` (runbook 003).

The RDS engine's steps (``providers.database.pitr_rds``: restore into a new
instance, wait until available, the checks beside the live database), then
the Secrets Manager switch (``SecretSwitch``: ``put-secret-value`` with the
new DSN, the previous version kept as AWSPREVIOUS), then a forced new
deployment so the tasks read the secret again, waited for and verified as
after any rollback.  Without ``secret_id`` the plan stops after the checks
(the service is only waited for as it is): the operator compares and
switches by hand.

The switch is done once: ``put-secret-value`` carries a ClientRequestToken
derived from the secret and the new instance, so a request resent after a
lost answer makes no second version, and on resume ``took_effect`` reads the
secret back (its current value is the new DSN).  The DSN is never printed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from console.config import RdsPitrConfig, ServiceConfig
from console.errors import CommandFailed, InvalidTarget, ProviderError
from console.model import Action, Plan, Step, StepKind
from console.runner import Skipped
from providers.database import pitr
from providers.ecs.client import EcsApi
from providers.ecs.errors import aws_errors
from providers.ecs.lock import TagLock
from providers.ecs.read import EcsReader
from providers.ecs.steps import update_command, update_step, wait_step

if TYPE_CHECKING:
    # Imported when used: the engine module imports this package's pieces, and this
    # package's __init__ imports the provider, which imports this module.
    from providers.database.pitr_rds import RdsEngine

ACTION = pitr.ACTION
SWITCH_OP = "pitr.secret.switch"


def offered(service: ServiceConfig) -> bool:
    return service.database is not None and isinstance(service.database.pitr, RdsPitrConfig)


def engine_for(service: ServiceConfig, api: EcsApi) -> RdsEngine:
    from providers.database.pitr_rds import RdsEngine

    engine = pitr.make_engine(service, api)
    if not isinstance(engine, RdsEngine):
        raise InvalidTarget(
            f"{service.label}: an ECS service restores its database with "
            "[services.database.pitr.rds], not the WAL engine"
        )
    return engine


class SecretSwitch:
    """The Secrets Manager switch (``providers.database.pitr.PitrSwitch``)."""

    def __init__(self, api: EcsApi, cfg: RdsPitrConfig) -> None:
        self.api = api
        self.cfg = cfg

    def token(self, name: str) -> str:
        """The ClientRequestToken of the switch to ``name``: the same for a resent request
        (no second version), and the VersionId Secrets Manager gives the new version."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"rollback-console:{self.cfg.secret_id}:{name}"))

    def current_version(self) -> str:
        """The VersionId labelled AWSCURRENT now ("" when it cannot be told)."""
        doing = f"reading secret {self.cfg.secret_id}"
        with aws_errors("secretsmanager:DescribeSecret", doing):
            found = self.api.client("secretsmanager").describe_secret(SecretId=self.cfg.secret_id)
        for version, stages in (found.get("VersionIdsToStages") or {}).items():
            if "AWSCURRENT" in stages:
                return str(version)
        return ""

    def shown(self) -> str:
        """The secret and the keys switched, in words ("keys host, port of secret S")."""
        cfg = self.cfg
        keys = [k for k in (cfg.secret_key, cfg.secret_host_key, cfg.secret_port_key) if k]
        where = f"key{'s' if len(keys) > 1 else ''} {', '.join(keys)} of " if keys else ""
        return f"{where}secret {cfg.secret_id}"

    def steps(self, name: str) -> list[Step]:
        cfg = self.cfg
        fields = [
            f'"{cfg.secret_key}": "<the DSN of {name}>"' if cfg.secret_key else "",
            f'"{cfg.secret_host_key}": "<the endpoint of {name}>"' if cfg.secret_host_key else "",
            f'"{cfg.secret_port_key}": <its port>' if cfg.secret_port_key else "",
        ]
        given = ", ".join(f for f in fields if f)
        value = f"{{..., {given}}}" if given else f"<the DSN of {name}>"
        return [
            Step(
                title=f"Point {self.shown()} at {name} (the old version is kept as AWSPREVIOUS)",
                command=self.api.command(
                    "secretsmanager",
                    "put-secret-value",
                    "--secret-id",
                    cfg.secret_id,
                    "--secret-string",
                    value,
                ),
                kind=StepKind.SWITCH,
                op=SWITCH_OP,
                params={
                    "secret_id": cfg.secret_id,
                    "secret_key": cfg.secret_key,
                    "secret_host_key": cfg.secret_host_key,
                    "secret_port_key": cfg.secret_port_key,
                    "instance": name,
                    "version_before": self.current_version(),
                },
                # A separate, confirmed step: the operator sees the checks first.
                confirm_before=True,
            )
        ]

    def way_back(self, name: str, version_before: str = "", version_after: str = "") -> str:
        return self.api.command(
            "secretsmanager",
            "update-secret-version-stage",
            "--secret-id",
            self.cfg.secret_id,
            "--version-stage",
            "AWSCURRENT",
            "--move-to-version-id",
            version_before or "<the version before>",
            "--remove-from-version-id",
            version_after or self.token(name),
        )


class SecretSwitchPart:
    """Owns ``pitr.secret.switch``: put the new DSN, read it back; never twice."""

    ops = frozenset({SWITCH_OP})

    def __init__(self, engine: RdsEngine, lock: TagLock) -> None:
        self.engine = engine
        self.api = engine.api
        self.lock = lock

    def _client(self) -> Any:
        return self.api.client("secretsmanager")

    def _read(self, step: Step) -> tuple[str, str]:
        """(the secret string, its VersionId) as AWSCURRENT now."""
        secret = str(step.params["secret_id"])
        with aws_errors("secretsmanager:GetSecretValue", f"reading secret {secret}"):
            found = self._client().get_secret_value(SecretId=secret)
        return str(found.get("SecretString") or ""), str(found.get("VersionId") or "")

    def _wanted(self, step: Step, name: str) -> dict[str, Any] | str:
        """What the secret holds once switched: the whole string (the DSN), or the JSON
        keys to set (``secret_key``: the DSN; ``secret_host_key`` / ``secret_port_key``:
        the endpoint's address and port); never journaled, never printed."""
        key = str(step.params.get("secret_key") or "")
        host_key = str(step.params.get("secret_host_key") or "")
        port_key = str(step.params.get("secret_port_key") or "")
        if not key and not host_key:
            return self.engine.dsn_of(name)
        wanted: dict[str, Any] = {}
        if key:
            wanted[key] = self.engine.dsn_of(name)
        if host_key:
            address, port = self.engine.endpoint(name)
            wanted[host_key] = address
            if port_key:
                wanted[port_key] = port
        return wanted

    @staticmethod
    def _holds(text: str, wanted: dict[str, Any] | str) -> bool:
        """Whether the secret ``text`` holds ``wanted`` (a port compares as text: "5432")."""
        if isinstance(wanted, str):
            return text == wanted
        try:
            body = json.loads(text)
        except ValueError:
            return False
        if not isinstance(body, dict):
            return False
        return all(str(body.get(k)) == str(v) for k, v in wanted.items())

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        try:
            wanted = self._wanted(step, str(step.params["instance"]))
        except ProviderError:
            return False
        return self._holds(self._read(step)[0], wanted)

    def _new_text(self, shown: str, text: str, wanted: dict[str, Any] | str) -> str:
        """The secret string to put: the DSN, or the JSON with ``wanted``'s keys set (every
        other key kept; a port keeps its kind: "5432" stays text, 5432 a number)."""
        if isinstance(wanted, str):
            return wanted
        try:
            body = json.loads(text)
        except ValueError:
            raise CommandFailed(
                f"{shown}: the secret is not JSON, so it has no such keys"
            ) from None
        if not isinstance(body, dict):
            raise CommandFailed(f"{shown}: the secret's JSON is not an object")
        new = dict(body)
        for key, value in wanted.items():
            if isinstance(value, str):
                if not isinstance(body.get(key), str):
                    raise CommandFailed(f"{shown}: the secret's JSON has no string key {key}")
                new[key] = value
            else:
                new[key] = str(value) if isinstance(body.get(key), str) else value
        return json.dumps(new)

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        secret, name = str(step.params["secret_id"]), str(step.params["instance"])
        switch = SecretSwitch(self.api, self.engine.cfg)
        shown = switch.shown()
        self.lock.before_change()
        wanted = self._wanted(step, name)
        text, version = self._read(step)
        if self._holds(text, wanted):
            return Skipped(f"{shown} points at {name} already")
        new_text = self._new_text(shown, text, wanted)
        token = switch.token(name)
        with aws_errors("secretsmanager:PutSecretValue", f"switching {shown} to {name}"):
            put = self._client().put_secret_value(
                SecretId=secret, SecretString=new_text, ClientRequestToken=token
            )
        after_text, after_version = self._read(step)
        if not self._holds(after_text, wanted):
            raise CommandFailed(f"{shown} does not read back as pointing at {name}")
        before = str(step.params.get("version_before") or version)
        back = switch.way_back(name, before, str(put.get("VersionId") or after_version))
        yield f"the previous version {before} of {secret} is kept (AWSPREVIOUS)"
        yield f"to go back: {back}"
        return f"{shown} now points at {name} (version {after_version})"


def action(service: ServiceConfig, api: EcsApi) -> Action:
    engine = engine_for(service, api)
    what = (
        f"Restore {engine.cfg.db_instance} into a NEW RDS instance (the live one is kept), "
        f"switch secret {engine.cfg.secret_id or '(none: by hand)'} and redeploy"
    )
    return pitr.action_of(engine, what)


def plan(
    service: ServiceConfig, api: EcsApi, reader: EcsReader, argument: str | None, *, dry_run: bool
) -> Plan:
    """Restore, wait, checks; then (with ``secret_id``) switch, force a deployment, wait."""
    engine = engine_for(service, api)
    cfg = engine.cfg
    at = pitr.moment(engine, argument)
    state = reader.read()
    if state.service.get("status") != "ACTIVE":
        raise InvalidTarget(f"{api.label} is {state.service.get('status')}, not ACTIVE")
    name = engine.new_id(at.when)
    steps = engine.restore_steps(at.when, at.win)
    warnings: list[str] = []
    current = reader.revision(state.task_definition, state.key)
    desired = int(state.service.get("desiredCount", 0) or 0)
    if cfg.secret_id:
        switch = SecretSwitch(api, cfg)
        switching = switch.steps(name)
        before = str(switching[0].params.get("version_before") or "")
        steps += switching
        steps.append(
            update_step(
                api,
                f"Start a new deployment of {api.label} on {state.key} so its tasks read "
                f"secret {cfg.secret_id} again",
                source=state.key,
                deployment_before=state.primary_id,
            )
        )
        steps.append(
            wait_step(
                api,
                task_definition=state.key,
                desired=desired,
                deployment_before=state.primary_id,
            )
        )
        force = update_command(
            api, {"cluster": api.cfg.cluster, "service": api.cfg.service, "force": True}
        )
        warnings.append(
            f"To go back: {switch.way_back(name, before)} and {force} "
            f"({cfg.db_instance} was never stopped)."
        )
    else:
        steps.append(wait_step(api, task_definition=state.key, desired=desired))
        warnings.append(
            "No secret_id in [services.database.pitr.rds]: the plan stops after the checks; "
            f"point the application's database secret at {name} and force a new deployment "
            "by hand."
        )
    return pitr.plan_of(
        service,
        engine,
        at,
        provider="ecs",
        kept=f"The live database {cfg.db_instance} is kept as it is",
        current=current,
        to_revision=current,
        steps=steps,
        warnings=warnings,
        dry_run=dry_run,
    )


def parts(service: ServiceConfig, api: EcsApi, lock: TagLock) -> tuple[Any, ...]:
    """The parts running a ``pitr`` plan's own steps (the ECS ones run as usual)."""
    from providers.database.pitr_rds import RdsPitrPart

    engine = engine_for(service, api)
    return (RdsPitrPart(engine), SecretSwitchPart(engine, lock))


__all__ = ["ACTION", "SecretSwitch", "SecretSwitchPart", "action", "offered", "parts", "plan"]
