"""Point-in-time recovery on a VM host: the action ``pitr`` (runbook 000's world).

The WAL engine's steps (``providers.database.pitr_wal.WalEngine``: restore
into a new data directory, start, wait for promotion, checks), the host env
file switch (``EnvFileSwitch``), then the host's restart, so the application
reads the new DSN; the flow then verifies the service as after any rollback.
Without ``env_file`` the plan stops after the checks: the operator compares,
and switches by hand.  Offered only for the WAL engine (``[services.database.pitr]``
without an engine sub-table).
"""

from __future__ import annotations

import shlex

from console.config import HostConfig, ServiceConfig, WalPitrConfig
from console.model import Action, Plan, Revision
from providers.base import InvalidTarget
from providers.database import pitr
from providers.database.pitr_wal import EnvFileSwitch, WalEngine
from providers.host.commands import command_step

ACTION = pitr.ACTION


def offered(service: ServiceConfig) -> bool:
    return service.database is not None and isinstance(service.database.pitr, WalPitrConfig)


def _cfg(service: ServiceConfig) -> WalPitrConfig:
    cfg = service.database.pitr if service.database else None
    if not isinstance(cfg, WalPitrConfig):
        raise InvalidTarget(
            f"{service.label} has no [services.database.pitr] table for a VM host "
            "(PostgreSQL with WAL archiving)"
        )
    return cfg


def action(service: ServiceConfig) -> Action:
    cfg = _cfg(service)
    what = f"Restore into a NEW server on port {cfg.port} (the live one is kept)"
    return pitr.action_of(WalEngine(service, cfg), what)


def plan(
    service: ServiceConfig,
    host: HostConfig,
    current: Revision,
    argument: str | None,
    *,
    dry_run: bool,
) -> Plan:
    cfg = _cfg(service)
    database = service.database
    assert database is not None
    engine, switch = WalEngine(service, cfg), EnvFileSwitch(service, cfg)
    at = pitr.moment(engine, argument)
    name = pitr.instance_name(service, at.when)
    steps = [*engine.restore_steps(at.when, at.win), *switch.steps(name)]
    warnings: list[str] = []
    if cfg.env_file is not None and host.restart:
        steps.append(
            command_step(
                f"Restart {service.label} so it reads the new {database.dsn_env}",
                host.restart,
                "restart",
                host.command_timeout_s,
            )
        )
        warnings.append(
            f"To go back: {switch.way_back(name)} and "
            f"{shlex.join(host.restart)} (the old server was never stopped)."
        )
    else:
        warnings.append(
            "No env_file (or no restart command) configured: the plan stops after the checks; "
            f"point {database.dsn_env} at port {cfg.port} and restart by hand."
        )
    return pitr.plan_of(
        service,
        engine,
        at,
        provider="host",
        kept="The live database is kept running as it is",
        current=current,
        to_revision=current,
        steps=steps,
        warnings=warnings,
        dry_run=dry_run,
    )
