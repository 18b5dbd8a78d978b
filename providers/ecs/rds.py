"""RDS snapshots of the service's database (runbook 003, "RDSスナップショットからの復元").

The runbook's last resort for a data problem: restore a snapshot to a *new*
instance beside the live one, then point the application at it (switch the
database secret) and force a new ECS deployment so the tasks read the new
secret.  The console does the first part (restore, wait until available) and
lists the rest as manual steps, because which secret holds the endpoint, and
whether to switch at all, is the operator's call.

The new instance's name is derived from the snapshot's creation time, so
planning the same restore twice (a resumed incident) finds the instance the
first attempt started instead of restoring a second copy.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from console.errors import NotFound, ProviderError
from providers.ecs.client import EcsApi, as_utc, hhmm
from providers.ecs.errors import aws_errors, call

#: RDS statuses after which an instance will never become available by itself.
RDS_FAILED_STATES = frozenset(
    {"failed", "incompatible-restore", "incompatible-parameters", "incompatible-network"}
)


@dataclass(frozen=True)
class RdsSnapshot:
    """One snapshot of the service's RDS instance, as the database panel lists it."""

    id: str
    instance: str
    created: datetime | None
    status: str
    #: "manual" or "automated" (RDS's SnapshotType).
    kind: str
    engine: str = ""
    size_gb: int = 0
    arn: str = ""

    @property
    def label(self) -> str:
        """``before-v130 (manual, 2025-06-01 10:15 UTC, available)``."""
        return f"{self.id} ({self.kind}, {hhmm(self.created)}, {self.status})"


def list_snapshots(api: EcsApi, instance: str) -> list[RdsSnapshot]:
    """Every snapshot RDS keeps of ``instance`` (manual and automated), newest first.

    Raises ``NotFound`` when the instance does not exist (RDS itself answers an
    empty list for an unknown instance, so the instance is looked up first).
    """
    rds = api.client("rds")
    doing = f"listing snapshots of RDS instance {instance}"
    describe_instance(api, instance)
    snapshots: list[RdsSnapshot] = []
    with aws_errors("rds:DescribeDBSnapshots", doing):
        for page in rds.get_paginator("describe_db_snapshots").paginate(
            DBInstanceIdentifier=instance
        ):
            for raw in page.get("DBSnapshots", []):
                snapshots.append(
                    RdsSnapshot(
                        id=str(raw["DBSnapshotIdentifier"]),
                        instance=str(raw.get("DBInstanceIdentifier", instance)),
                        created=as_utc(raw.get("SnapshotCreateTime")),
                        status=str(raw.get("Status", "")),
                        kind=str(raw.get("SnapshotType", "")),
                        engine=str(raw.get("Engine", "")),
                        size_gb=int(raw.get("AllocatedStorage", 0) or 0),
                        arn=str(raw.get("DBSnapshotArn", "")),
                    )
                )
    snapshots.sort(key=lambda s: (s.created is not None, s.created or 0, s.id), reverse=True)
    return snapshots


def describe_instance(api: EcsApi, instance: str) -> dict[str, Any]:
    """The instance as RDS describes it; ``NotFound`` naming it when it does not exist."""
    missing = NotFound(
        f"RDS instance {instance!r} not found in {api.cfg.region} (rds_instance in [services.ecs])"
    )
    found = call(
        "rds:DescribeDBInstances",
        f"reading RDS instance {instance}",
        api.client("rds").describe_db_instances,
        missing={"DBInstanceNotFound": missing, "DBInstanceNotFoundFault": missing},
        DBInstanceIdentifier=instance,
    )
    instances = found.get("DBInstances", [])
    if not instances:
        raise missing
    return dict(instances[0])


def instance_if_exists(api: EcsApi, instance: str) -> dict[str, Any] | None:
    """Like ``describe_instance`` but None (not ``NotFound``) when it does not exist."""
    try:
        return describe_instance(api, instance)
    except NotFound:
        return None


def restored_name(instance: str, snapshot: RdsSnapshot) -> str:
    """A valid, stable identifier for the instance a restore of ``snapshot`` creates.

    RDS identifiers: 1-63 letters, digits and hyphens, starting with a letter,
    no two hyphens in a row, not ending in a hyphen.
    """
    stamp = f"{snapshot.created:%Y%m%d%H%M}" if snapshot.created else _clean(snapshot.id)
    name = _clean(f"{instance}-restored-{stamp}")
    if len(name) > 63:
        suffix = f"-restored-{stamp}"
        name = _clean(instance[: max(1, 63 - len(suffix))] + suffix)[:63]
    name = name.strip("-")
    return name if name[:1].isalpha() else f"db-{name}"[:63].rstrip("-")


def _clean(text: str) -> str:
    text = re.sub(r"[^A-Za-z0-9-]+", "-", text)
    return re.sub(r"-{2,}", "-", text).lower()


def restore_arguments(source: dict[str, Any], snapshot_id: str, new_id: str) -> dict[str, Any]:
    """``RestoreDBInstanceFromDBSnapshot`` input placing the copy where the source instance is
    (``placement_arguments``)."""
    return {
        "DBInstanceIdentifier": new_id,
        "DBSnapshotIdentifier": snapshot_id,
        **placement_arguments(source),
    }


def placement_arguments(source: dict[str, Any]) -> dict[str, Any]:
    """The restore inputs that put a new instance where ``source`` is (any restore call).

    The instance class, subnet group, security groups, Multi-AZ and a custom
    parameter group are copied from the live instance, so the application (once
    its secret is switched) reaches the copy the same way and it behaves the
    same (a restore left alone gets the engine's *default* parameter group).
    """
    args: dict[str, Any] = {}
    if source.get("DBInstanceClass"):
        args["DBInstanceClass"] = source["DBInstanceClass"]
    subnet_group = (source.get("DBSubnetGroup") or {}).get("DBSubnetGroupName")
    if subnet_group:
        args["DBSubnetGroupName"] = subnet_group
    groups = [
        g["VpcSecurityGroupId"]
        for g in source.get("VpcSecurityGroups", [])
        if g.get("VpcSecurityGroupId")
    ]
    if groups:
        args["VpcSecurityGroupIds"] = groups
    if "MultiAZ" in source:
        args["MultiAZ"] = bool(source["MultiAZ"])
    params = [
        str(g.get("DBParameterGroupName", ""))
        for g in source.get("DBParameterGroups", [])
        if g.get("DBParameterGroupName")
    ]
    if params and not params[0].startswith("default."):
        args["DBParameterGroupName"] = params[0]
    return args


def restore_cli_args(args: Mapping[str, Any]) -> list[str]:
    """The ``aws rds restore-db-instance-from-db-snapshot`` options for ``args``."""
    return [
        "--db-instance-identifier",
        str(args["DBInstanceIdentifier"]),
        "--db-snapshot-identifier",
        str(args["DBSnapshotIdentifier"]),
        *placement_cli_args(args),
    ]


def placement_cli_args(args: Mapping[str, Any]) -> list[str]:
    """The ``aws rds restore-...`` options for ``placement_arguments``' keys in ``args``."""
    out: list[str] = []
    if "DBInstanceClass" in args:
        out += ["--db-instance-class", str(args["DBInstanceClass"])]
    if "DBSubnetGroupName" in args:
        out += ["--db-subnet-group-name", str(args["DBSubnetGroupName"])]
    if args.get("VpcSecurityGroupIds"):
        out += ["--vpc-security-group-ids", *map(str, args["VpcSecurityGroupIds"])]
    if "MultiAZ" in args:
        out.append("--multi-az" if args["MultiAZ"] else "--no-multi-az")
    if "DBParameterGroupName" in args:
        out += ["--db-parameter-group-name", str(args["DBParameterGroupName"])]
    return out


def endpoint_of(instance: dict[str, Any]) -> str:
    """``host:port`` of an instance, or "" while RDS has not assigned one."""
    endpoint = instance.get("Endpoint") or {}
    address = endpoint.get("Address", "")
    return f"{address}:{endpoint.get('Port', '')}" if address else ""


class RdsSnapshots:
    """Snapshots of the configured ``rds_instance``, read at most every ``SLOW_CACHE_S``."""

    def __init__(self, api: EcsApi, cache_s: float) -> None:
        self.api = api
        self.instance = api.cfg.rds_instance
        self.cache_s = cache_s
        self._mutex = threading.Lock()
        self._cache: tuple[float, list[RdsSnapshot], str] | None = None

    def read(self) -> list[RdsSnapshot]:
        """Snapshots newest first ([] when no instance is configured); ``NotFound`` for an
        unknown instance and the usual ``ProviderError``s for AWS failures."""
        if not self.instance:
            return []
        snaps = list_snapshots(self.api, self.instance)
        with self._mutex:
            self._cache = (time.monotonic(), snaps, "")
        return snaps

    def cached(self) -> tuple[list[RdsSnapshot], str]:
        """(snapshots, error): what the dashboard shows, without asking RDS on every refresh."""
        now = time.monotonic()
        with self._mutex:
            cached = self._cache
        if cached and now - cached[0] < self.cache_s:
            return cached[1], cached[2]
        try:
            return self.read(), ""
        except ProviderError as err:
            with self._mutex:
                self._cache = (now, [], str(err))
            return [], str(err)


def restore_state(api: EcsApi, new_id: str) -> tuple[str, str]:
    """("ready" | "waiting" | "failed", what was seen) of the instance a restore creates."""
    instance = instance_if_exists(api, new_id)
    if instance is None:
        return "failed", f"RDS instance {new_id} does not exist (the restore did not start)"
    status = str(instance.get("DBInstanceStatus", "?"))
    if status == "available":
        return "ready", f"{new_id} is available at {endpoint_of(instance) or '(no endpoint)'}"
    if status in RDS_FAILED_STATES:
        return "failed", f"RDS instance {new_id} is {status}: the restore failed"
    return "waiting", f"{new_id} is {status}"
