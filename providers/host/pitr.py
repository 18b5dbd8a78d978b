"""Point-in-time recovery on a VM host: the action ``pitr`` (runbook 000's world).

The database's steps (``providers.database.pitr``: restore into a new data
directory, start, wait for promotion, checks, the env file switch) followed by
the host's restart, so the application reads the new DSN; the flow then
verifies the service as after any rollback.  Without ``env_file`` the plan
stops after the checks: the operator compares, and switches by hand.
"""

from __future__ import annotations

import shlex

from console.config import HostConfig, ServiceConfig
from console.model import Action, Plan, Revision, utcnow
from providers.base import InvalidTarget, ProviderError
from providers.database import pitr
from providers.host.commands import command_step

ACTION = "pitr"


def offered(service: ServiceConfig) -> bool:
    return service.database is not None and service.database.pitr is not None


def action(service: ServiceConfig) -> Action:
    cfg = service.database.pitr if service.database else None
    assert cfg is not None
    try:
        shown = pitr.window(cfg).describe()
    except ProviderError as err:  # the list shows even with no backup yet
        shown = f"unknown ({err})"
    return Action(
        id=ACTION,
        title="Restore the database to a point in time",
        description=f"Restore into a NEW server on port {cfg.port} (the live one is kept); "
        f"restorable: {shown}",
        argument="time",
        dangerous=True,
    )


def plan(
    service: ServiceConfig,
    host: HostConfig,
    current: Revision,
    argument: str | None,
    *,
    dry_run: bool,
) -> Plan:
    database = service.database
    cfg = database.pitr if database else None
    if database is None or cfg is None:
        raise InvalidTarget(f"{service.label} has no [services.database.pitr] table")
    when = pitr.parse_time(argument)
    now = utcnow()
    win = pitr.window(cfg)
    pitr.check_time(when, win, now)
    steps = pitr.plan_steps(service, cfg, when, win)
    name = pitr.instance_name(service, when)
    warnings = [
        f"DATA LOSS: {pitr.loss_window(when, now)}.",
        f"The live database is kept running as it is; the restored one is {name} on port "
        f"{cfg.port} (data directory {cfg.restore_dir / name}). The console never deletes "
        "a database.",
    ]
    if cfg.env_file is not None and host.restart:
        steps.append(
            command_step(
                f"Restart {service.label} so it reads the new {database.dsn_env}",
                host.restart,
                "restart",
                host.command_timeout_s,
            )
        )
        keep = cfg.env_file.with_name(f"{cfg.env_file.name}.before-{name}")
        warnings.append(
            f"To go back: cp {shlex.quote(str(keep))} {shlex.quote(str(cfg.env_file))} and "
            f"{shlex.join(host.restart)} (the old server was never stopped)."
        )
    else:
        warnings.append(
            "No env_file (or no restart command) configured: the plan stops after the checks; "
            f"point {database.dsn_env} at port {cfg.port} and restart by hand."
        )
    return Plan(
        service=service.name,
        environment=service.environment,
        provider="host",
        from_revision=current,
        to_revision=current,
        steps=tuple(steps),
        warnings=tuple(warnings),
        dry_run=dry_run,
        action=ACTION,
        argument=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
