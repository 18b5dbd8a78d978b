"""The RDS engine of point-in-time recovery (runbook 003, ``[services.database.pitr.rds]``).

``restore-db-instance-to-point-in-time`` from ``db_instance`` into a NEW
instance named after the time (``providers.database.pitr.identifier``), placed
where the live one is (class, subnet group, security groups, parameter group:
``providers.ecs.rds.placement_arguments``) and tagged with the restore time;
then a bounded wait until RDS says ``available`` (the same poll loop as the
ECS waits), then the ``[services.database] checks`` against the new instance
beside the live one.  The live instance is never changed; nothing is deleted.

What is restorable: from now minus ``BackupRetentionPeriod`` days (not before
the instance was created) to ``LatestRestorableTime``; retention 0 means no
automated backups, so nothing is (snapshots remain: ``restore-rds-snapshot``).

The new DSN is the live one (``dsn_env``) with the new instance's endpoint:
read from RDS when a step needs it, never journaled, never printed.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from console.config import RdsPitrConfig, ServiceConfig
from console.model import Plan, Step, StepKind, utcnow
from console.runner import Skipped
from providers.base import InvalidTarget, NotFound, ProviderError, TimedOut
from providers.database.connection import DatabaseConnection
from providers.database.pitr import (
    Window,
    checks_beside_live,
    identifier,
    new_dsn,
    shown,
)
from providers.ecs.client import EcsApi, as_utc
from providers.ecs.errors import aws_errors
from providers.ecs.rds import (
    describe_instance,
    endpoint_of,
    instance_if_exists,
    placement_arguments,
    placement_cli_args,
    restore_state,
)
from providers.ecs.rollout import watch

RESTORE_OP = "pitr.rds.restore"
WAIT_OP = "pitr.rds.wait"
CHECKS_OP = "pitr.rds.checks"
OPS = frozenset({RESTORE_OP, WAIT_OP, CHECKS_OP})
#: The tag the console puts on the instance it restores: the time restored to.
TIME_TAG = "rollback-console:restore-time"


class RdsEngine:
    """The RDS engine (``providers.database.pitr.PitrEngine``); ``api``: the ECS service's
    AWS clients (region, profile, endpoint)."""

    name: ClassVar[str] = "rds"

    def __init__(self, service: ServiceConfig, cfg: RdsPitrConfig, api: EcsApi) -> None:
        self.service = service
        self.cfg = cfg
        self.api = api

    def new_id(self, when: datetime) -> str:
        return identifier(self.service, when)

    def source(self) -> dict[str, Any]:
        """The live instance as RDS describes it; ``NotFound`` naming this table's key."""
        try:
            return describe_instance(self.api, self.cfg.db_instance)
        except NotFound:
            raise NotFound(
                f"RDS instance {self.cfg.db_instance!r} not found in {self.api.cfg.region} "
                "(db_instance in [services.database.pitr.rds])"
            ) from None

    def window(self) -> Window:
        source = self.source()
        db = self.cfg.db_instance
        days = int(source.get("BackupRetentionPeriod") or 0)
        if days <= 0:
            raise InvalidTarget(
                f"pitr: RDS instance {db} keeps no automated backups (BackupRetentionPeriod 0): "
                "it cannot be restored to a point in time; restore a snapshot instead "
                "(action restore-rds-snapshot)"
            )
        latest = as_utc(source.get("LatestRestorableTime"))
        if latest is None:
            raise InvalidTarget(
                f"pitr: RDS reports no LatestRestorableTime for {db} yet (its first backup "
                "has not finished): nothing is restorable"
            )
        earliest = utcnow() - timedelta(days=days)
        earliest_is = f"the backup retention of {db} ({days} days)"
        created = as_utc(source.get("InstanceCreateTime"))
        if created is not None and created > earliest:
            earliest, earliest_is = created, f"the creation of {db}"
        return Window(earliest, latest, (), earliest_is, f"the latest restorable time of {db}")

    def restore_arguments(self, when: datetime) -> dict[str, Any]:
        """``RestoreDBInstanceToPointInTime``'s input (placed as the live instance)."""
        source = self.source()
        args: dict[str, Any] = {
            "SourceDBInstanceIdentifier": self.cfg.db_instance,
            "TargetDBInstanceIdentifier": self.new_id(when),
            "RestoreTime": _iso(when),
            "UseLatestRestorableTime": False,
            **placement_arguments(source),
        }
        if self.cfg.db_instance_class:
            args["DBInstanceClass"] = self.cfg.db_instance_class
        if self.cfg.subnet_group:
            args["DBSubnetGroupName"] = self.cfg.subnet_group
        args["Tags"] = [{"Key": TIME_TAG, "Value": _iso(when)}]
        return args

    def restore_steps(self, when: datetime, win: Window) -> list[Step]:
        args = self.restore_arguments(when)
        new_id = str(args["TargetDBInstanceIdentifier"])
        db = self.cfg.db_instance
        title = (
            f"Restore {db} as it was at {shown(when)} into a NEW RDS instance {new_id} "
            f"({args.get('DBInstanceClass', 'same class')}); {db} itself is not changed"
        )
        if instance_if_exists(self.api, new_id) is not None:
            title += f" — {new_id} exists already, so it is not restored again"
        steps = [
            Step(
                title=title,
                command=self.api.command(
                    "rds", "restore-db-instance-to-point-in-time", *_cli_args(args)
                ),
                kind=StepKind.BACKUP,
                timeout_s=120.0,
                op=RESTORE_OP,
                params=args,
            ),
            Step(
                title=f"Wait until {new_id} is available (RDS restores take minutes)",
                command=self.api.command(
                    "rds", "wait", "db-instance-available", "--db-instance-identifier", new_id
                ),
                kind=StepKind.WAIT,
                timeout_s=self.cfg.timeout_s,
                op=WAIT_OP,
                params={"instance": new_id},
            ),
        ]
        database = self.service.database
        if database is not None and database.checks:
            steps.append(
                Step(
                    title=f"Checks on the live database and on {new_id}, side by side",
                    command="; ".join(c.sql for c in database.checks),
                    kind=StepKind.COMMAND,
                    op=CHECKS_OP,
                    params={"instance": new_id},
                )
            )
        return steps

    def where(self, when: datetime) -> str:
        return f"the RDS instance {self.new_id(when)} beside {self.cfg.db_instance}"

    def endpoint(self, instance: str) -> tuple[str, int]:
        """``instance``'s endpoint (address, port); ``ProviderError`` without one."""
        found = instance_if_exists(self.api, instance)
        endpoint = (found or {}).get("Endpoint") or {}
        if not endpoint.get("Address"):
            state = found.get("DBInstanceStatus", "?") if found else "not there"
            raise ProviderError(f"RDS instance {instance} has no endpoint yet ({state})")
        return str(endpoint["Address"]), int(endpoint.get("Port") or 5432)

    def dsn_of(self, instance: str, environ: Mapping[str, str] | None = None) -> str:
        """The live DSN pointed at ``instance``'s endpoint; ``ProviderError`` without one."""
        address, port = self.endpoint(instance)
        live = DatabaseConnection(self.service, environ).dsn()
        return new_dsn(live, address, port)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cli_args(args: Mapping[str, Any]) -> list[str]:
    return [
        "--source-db-instance-identifier",
        str(args["SourceDBInstanceIdentifier"]),
        "--target-db-instance-identifier",
        str(args["TargetDBInstanceIdentifier"]),
        "--restore-time",
        str(args["RestoreTime"]),
        "--no-use-latest-restorable-time",
        *placement_cli_args(args),
        "--tags",
        *(f"Key={t['Key']},Value={t['Value']}" for t in args.get("Tags", [])),
    ]


class RdsPitrPart:
    """Owns ``pitr.rds.*``: the restore (never sent twice), the wait, the checks."""

    ops = OPS

    def __init__(self, engine: RdsEngine, environ: Mapping[str, str] | None = None) -> None:
        self.engine = engine
        self.api = engine.api
        self._environ = environ

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        if step.op == RESTORE_OP:
            return self._restore(step)
        if step.op == WAIT_OP:
            return (yield from self._wait(step))
        if step.op == CHECKS_OP:
            return (yield from self._checks(step))
        raise ProviderError(f"pitr: unknown op {step.op!r}")

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        if step.op == RESTORE_OP:
            new_id = str(step.params["TargetDBInstanceIdentifier"])
            return instance_if_exists(self.api, new_id) is not None
        if step.op == WAIT_OP:
            return restore_state(self.api, str(step.params["instance"]))[0] == "ready"
        return None

    def _restore(self, step: Step) -> str:
        params = dict(step.params)
        new_id = str(params["TargetDBInstanceIdentifier"])
        existing = instance_if_exists(self.api, new_id)
        if existing is not None:
            status = existing.get("DBInstanceStatus")
            return Skipped(f"{new_id} exists already ({status}): not restored again")
        doing = f"restoring {params['SourceDBInstanceIdentifier']} to {params['RestoreTime']}"
        with aws_errors("rds:RestoreDBInstanceToPointInTime", doing):
            found = self.api.client("rds").restore_db_instance_to_point_in_time(
                **{**params, "RestoreTime": _parse(str(params["RestoreTime"]))}
            )
        status = found.get("DBInstance", {}).get("DBInstanceStatus", "?")
        return f"RDS is restoring into the new instance {new_id} ({status})"

    def _wait(self, step: Step) -> Generator[str, None, str]:
        new_id = str(step.params["instance"])
        watched = yield from watch(
            lambda: restore_state(self.api, new_id), step.timeout_s, self.api.poll_interval_s
        )
        if watched.state == "failed":
            raise ProviderError(watched.message)
        if watched.state == "waiting":
            raise TimedOut(
                f"{new_id} was not available after {watched.waited_s:.0f} s ({watched.message}); "
                "RDS goes on restoring: resume later, nothing was switched"
            )
        return watched.message

    def _checks(self, step: Step) -> Generator[str, None, str]:
        """The checks on the live database and on the new instance; never faked: a database
        that cannot be reached is said so (``Skipped``), with no value."""
        new_id = str(step.params["instance"])
        engine = self.engine
        counted = yield from checks_beside_live(
            engine.service, new_id, lambda: engine.dsn_of(new_id, self._environ), self._environ
        )
        if isinstance(counted, Skipped):
            return counted
        endpoint = endpoint_of(instance_if_exists(self.api, new_id) or {})
        return f"{counted} check(s) on {new_id} ({endpoint}) beside the live database"


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def make_engine(service: ServiceConfig, cfg: RdsPitrConfig, api: object = None) -> RdsEngine:
    """The registry's entry point (``providers.database.pitr.ENGINES``)."""
    if not isinstance(api, EcsApi):
        raise InvalidTarget(
            f"{service.label}: [services.database.pitr.rds] needs the ECS provider's AWS "
            "settings ([services.ecs])"
        )
    return RdsEngine(service, cfg, api)
