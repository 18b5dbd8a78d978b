"""Point-in-time recovery, engine-neutral: the window, the time, the loss, the names.

A restore to a moment has two halves, each chosen by configuration:

* the **engine** (``PitrEngine``): where the restore happens and what is
  restorable: PostgreSQL with WAL archiving on a VM host (``pitr_wal``), RDS
  (``pitr_rds``).  It always restores into a NEW instance named after the time
  (``instance_name``: ``SERVICE-pitr-20260105T224107Z``), so a restore
  interrupted and planned again finds the same instance, never a second one;
  its steps restore, wait until the new instance is available (bounded) and
  run the ``[services.database] checks`` beside the live database;
* the **switch** (``PitrSwitch``): what the application reads its DSN from
  (a host env file, a Secrets Manager secret...), pointed at the new
  instance, followed by the platform's own roll of the application.

The new DSN is the live one (``dsn_env``) with the new instance's host and
port (``new_dsn``): built when a step runs, never put in a step's params,
never printed.  The console never deletes a database.

An engine is a module ``providers.database.pitr_<engine>`` with a
``make_engine(service, cfg, api)`` function, listed in ``ENGINES`` under the
name of its ``[services.database.pitr.<engine>]`` sub-table.

Every platform's ``pitr`` module (host, ECS, Cloud Run, Kubernetes) builds its
``Action`` with ``action_of``, reads and checks the time with ``moment``, and
makes its ``Plan`` with ``plan_of`` (the DATA LOSS line and the live database
kept first among the warnings): only the switch and the roll are its own.
"""

from __future__ import annotations

import importlib
import os
import re
import urllib.parse
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from console.config import ServiceConfig
from console.model import Action, Plan, Revision, Step, utcnow
from console.runner import Compared, Skipped
from providers.base import InvalidTarget, ProviderError
from providers.database.connection import DatabaseConnection
from providers.database.pg import Dsn

#: The action's id, on every platform.
ACTION = "pitr"

#: Engine name (``console.config.pitr``) -> the module holding it (``make_engine``).
ENGINES: dict[str, str] = {
    "wal": "providers.database.pitr_wal",
    "rds": "providers.database.pitr_rds",
    "cloudsql": "providers.database.pitr_cloudsql",
    "neon": "providers.database.pitr_neon",
}


@dataclass(frozen=True)
class Window:
    """What can be restored, as the engine reports it (``backups``: the WAL engine's)."""

    earliest: datetime
    latest: datetime
    backups: tuple[Any, ...] = ()
    #: What bounds the window, for a refusal ("the oldest base backup"...).
    earliest_is: str = "the oldest base backup"
    latest_is: str = "the newest archived WAL"

    def describe(self) -> str:
        return f"{shown(self.earliest)} to {shown(self.latest)}"


def shown(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class PitrEngine(Protocol):
    """Where a restore happens (see the module doc)."""

    #: The engine's name (``console.config.pitr``'s ``engine``).
    name: ClassVar[str]

    def window(self) -> Window:
        """The restorable window; ``NotFound`` / ``InvalidTarget`` when nothing is restorable."""
        ...

    def restore_steps(self, when: datetime, win: Window) -> list[Step]:
        """Restore into the new instance, wait until it is available, the checks."""
        ...

    def where(self, when: datetime) -> str:
        """The new instance in words, for the plan's warnings (no secret)."""
        ...


class PitrSwitch(Protocol):
    """What the application reads its DSN from, pointed at the new instance."""

    def steps(self, name: str) -> list[Step]:
        """The switch step(s) for the new instance ``name`` (before the app's roll)."""
        ...

    def way_back(self, name: str) -> str:
        """How to point the application at the live database again (a command line)."""
        ...


def make_engine(service: ServiceConfig, api: Any = None) -> PitrEngine:
    """The engine ``[services.database.pitr]`` chooses; ``api``: the platform's client
    holder when the engine needs one (``EcsApi`` for RDS)."""
    database = service.database
    cfg = database.pitr if database else None
    if cfg is None:
        raise InvalidTarget(f"{service.label} has no [services.database.pitr] table")
    module = importlib.import_module(ENGINES[cfg.engine])
    engine: PitrEngine = module.make_engine(service, cfg, api)
    return engine


def parse_time(text: str | None) -> datetime:
    """The operator's time, ISO 8601 with its zone ("2026-01-05T22:41:07Z", "... +09:00")."""
    raw = (text or "").strip()
    if not raw:
        raise InvalidTarget("pitr needs the time to restore to (--arg 2026-01-05T22:41:07Z)")
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidTarget(
            f"pitr: {raw!r} is not a time; give ISO 8601 with its zone, "
            "such as 2026-01-05T22:41:07Z or 2026-01-06T07:41:07+09:00"
        ) from None
    if when.tzinfo is None:
        raise InvalidTarget(
            f"pitr: {raw!r} has no time zone; add Z (UTC) or an offset such as +09:00"
        )
    return when.astimezone(UTC)


def check_time(when: datetime, win: Window, now: datetime) -> None:
    """Refuse a time in the future or outside the restorable window (``InvalidTarget``)."""
    if when > now:
        raise InvalidTarget(f"pitr: {shown(when)} is in the future (now {shown(now)})")
    if when < win.earliest:
        raise InvalidTarget(
            f"pitr: {shown(when)} is before {win.earliest_is}; restorable: {win.describe()}"
        )
    if when > win.latest:
        raise InvalidTarget(
            f"pitr: {shown(when)} is after {win.latest_is}; restorable: {win.describe()}"
        )


def loss_window(when: datetime, now: datetime) -> str:
    """ "writes between 22:41:07 UTC and now (about 1 h 12 min) will not be in the restored
    database" """
    minutes = max(0, int((now - when).total_seconds() // 60))
    about = f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
    return (
        f"writes between {shown(when)} and now (about {about}) will not be in the restored database"
    )


def instance_name(service: ServiceConfig, when: datetime) -> str:
    """``SERVICE-pitr-YYYYMMDDTHHMMSSZ``: the new instance's name (a data directory, a server)."""
    return f"{service.name}-pitr-{when.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def identifier(service: ServiceConfig, when: datetime) -> str:
    """``instance_name`` as a cloud database identifier: lowercase letters, digits and
    hyphens, a letter first, no "--", ≤63 characters (the service name is shortened,
    never the time).  RDS stores identifiers lowercase, so the name is looked up as such."""
    suffix = f"-pitr-{when.astimezone(UTC):%Y%m%dT%H%M%SZ}".lower()
    base = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]+", "-", service.name.lower())).strip("-")
    if not base[:1].isalpha():
        base = f"db-{base}".rstrip("-")
    return base[: 63 - len(suffix)].rstrip("-") + suffix


def new_dsn(live: Dsn, host: str, port: int) -> str:
    """The live DSN as a URL, pointed at ``host:port`` (same user, password, database)."""
    params = dict(live.params)
    params["host"] = host or params.get("host", "") or "127.0.0.1"
    params["port"] = str(port)
    user = urllib.parse.quote(params.pop("user", ""), safe="")
    password = urllib.parse.quote(params.pop("password", ""), safe="")
    where = params.pop("host")
    port_text = params.pop("port")
    dbname = urllib.parse.quote(params.pop("dbname", ""), safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    return f"postgresql://{auth}{where}:{port_text}/{dbname}{query}"


def checks_lines(live: Mapping[str, Any], new: Mapping[str, Any]) -> list[Compared]:
    """``check NAME: live V | restored W`` for each check result (``CheckResult``s by name),
    as ``Compared`` lines: the flow records each pair in the history entry."""
    lines = []
    for name, result in new.items():
        before = live.get(name)
        shown_live = (before.value if before.ok else f"error {before.error}") if before else "-"
        shown_new = result.value if result.ok else f"error {result.error}"
        lines.append(Compared(name, shown_live, shown_new))
    return lines


def checks_beside_live(
    service: ServiceConfig,
    name: str,
    dsn_of: Callable[[], str],
    environ: Mapping[str, str] | None,
) -> Generator[str, None, int | Skipped]:
    """The ``[services.database] checks`` on the live database and on the restored ``name``
    (reached at ``dsn_of()``), side by side; the number of checks on ``name``.  Never faked:
    a database that cannot be reached is said so (a ``Skipped`` line), with no value."""
    live_conn = DatabaseConnection(service, environ)
    try:
        live = {c.name: c for c in live_conn.run_checks()}
    except ProviderError as err:
        live = {}
        yield f"live database: checks could not run ({live_conn.scrub(str(err))})"
    env = dict(os.environ if environ is None else environ)
    database = service.database
    assert database is not None
    try:
        env[database.dsn_env] = dsn_of()
        new = {c.name: c for c in DatabaseConnection(service, env).run_checks()}
    except ProviderError as err:
        return Skipped(
            f"{name}: checks could not run ({live_conn.scrub(str(err))}); compare by hand "
            "before the switch"
        )
    yield from checks_lines(live, new)
    return len(new)


def action_of(engine: PitrEngine, what: str) -> Action:
    """The ``pitr`` action as the list shows it: ``what`` (the platform's route in words)
    and the restorable window, or why it is unknown (the list shows even when the
    platform cannot tell); the window's ends bound the time the operator picks."""
    win: Window | None = None
    try:
        win = engine.window()
        shown_win = win.describe()
    except ProviderError as err:
        shown_win = f"unknown ({err})"
    return Action(
        id=ACTION,
        title="Restore the database to a point in time",
        description=f"{what}; restorable: {shown_win}",
        argument="time",
        dangerous=True,
        earliest=win.earliest if win else None,
        latest=win.latest if win else None,
    )


@dataclass(frozen=True)
class Moment:
    """The time to restore to (checked against the window), now, and the window."""

    when: datetime
    now: datetime
    win: Window

    @property
    def argument(self) -> str:
        """The time as the plan records it (``2026-01-05T22:41:07Z``)."""
        return self.when.strftime("%Y-%m-%dT%H:%M:%SZ")


def moment(engine: PitrEngine, argument: str | None) -> Moment:
    """The operator's time, parsed and refused outside the engine's window or in the future."""
    when = parse_time(argument)
    now = utcnow()
    win = engine.window()
    check_time(when, win, now)
    return Moment(when, now, win)


def plan_of(
    service: ServiceConfig,
    engine: PitrEngine,
    at: Moment,
    *,
    provider: str,
    kept: str,
    current: Revision | None,
    to_revision: Revision,
    steps: list[Step],
    warnings: list[str],
    dry_run: bool,
) -> Plan:
    """The ``pitr`` plan: first among its warnings the data-loss window and ``kept`` (the
    live database kept as it is, in the platform's words) beside where the restored one
    is, then the platform's own ``warnings`` (the way back...)."""
    return Plan(
        service=service.name,
        environment=service.environment,
        provider=provider,
        from_revision=current,
        to_revision=to_revision,
        steps=tuple(steps),
        warnings=(
            f"DATA LOSS: {loss_window(at.when, at.now)}.",
            f"{kept}; the restored one is {engine.where(at.when)}. "
            "The console never deletes a database.",
            *warnings,
        ),
        dry_run=dry_run,
        action=ACTION,
        argument=at.argument,
    )
