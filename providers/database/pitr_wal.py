"""The WAL engine of point-in-time recovery: PostgreSQL with WAL archiving on a VM host.

Runbook 000's world: a VM host whose PostgreSQL archives its WAL
(``archive_mode = on``) beside ``pg_basebackup -Fp`` base backups.  A restore
to a moment is never done in place: the newest base backup that began before
the moment is copied into a new data directory under ``restore_dir``, told to
replay the archive up to the moment (``restore_command``,
``recovery_target_time``, ``recovery_target_action = 'promote'``) and started
as a new server on ``port``.  The live server is never touched; the console
never deletes a database.

The steps (ops ``pitr.*``) are run by ``PitrPart`` (``pitr_part``); this module
works out what is restorable and plans them (``WalEngine``), and plans the
host env file switch (``EnvFileSwitch``).  The new instance is named after
the chosen time (``SERVICE-pitr-20260105T224107Z``), so a restore interrupted
and planned again finds the same data directory and server, never a second one.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

from console.config import ServiceConfig, WalPitrConfig
from console.model import Step, StepKind
from providers.base import NotFound
from providers.database.pitr import Window, instance_name
from providers.database.pitr import shown as _shown

RESTORE_OP = "pitr.restore"
START_OP = "pitr.start"
PROMOTE_OP = "pitr.promote"
CHECKS_OP = "pitr.checks"
SWITCH_OP = "pitr.switch"
OPS = frozenset({RESTORE_OP, START_OP, PROMOTE_OP, CHECKS_OP, SWITCH_OP})

#: A WAL segment's file name in the archive (timeline, log, segment: 24 hex digits).
_SEGMENT = re.compile(r"[0-9A-F]{24}")
#: The file the console writes into a data directory it made (what it is, for whom).
MARKER = "rollback-console-pitr.txt"


@dataclass(frozen=True)
class BaseBackup:
    path: Path
    started: datetime


def _label_time(label: Path) -> datetime:
    """``START TIME: 2026-01-05 22:00:01 UTC`` of a ``backup_label`` (its mtime if unreadable)."""
    text = label.read_text(errors="replace")
    found = re.search(r"^START TIME: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ?(\S*)", text, re.M)
    if found:
        zone = found.group(2)
        stamp = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S")
        if zone in ("UTC", "GMT", "Z", ""):
            return stamp.replace(tzinfo=UTC)
        offset = re.fullmatch(r"([+-])(\d\d):?(\d\d)?", zone)
        if offset:
            sign = 1 if offset.group(1) == "+" else -1
            delta = timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3) or 0))
            return (stamp - sign * delta).replace(tzinfo=UTC)
    return datetime.fromtimestamp(label.stat().st_mtime, UTC)


def base_backups(cfg: WalPitrConfig) -> tuple[BaseBackup, ...]:
    """The plain-format base backups in ``base_backup_dir``, oldest first."""
    found = []
    try:
        folders = sorted(p for p in cfg.base_backup_dir.iterdir() if p.is_dir())
    except OSError as exc:
        raise NotFound(
            f"cannot read base_backup_dir {cfg.base_backup_dir}: {exc.strerror}"
        ) from None
    for folder in folders:
        label = folder / "backup_label"
        if label.is_file():
            try:
                found.append(BaseBackup(folder, _label_time(label)))
            except OSError:
                continue
    return tuple(sorted(found, key=lambda b: b.started))


def window(cfg: WalPitrConfig) -> Window:
    """The restorable window; ``NotFound`` when there is no base backup or no archived WAL."""
    backups = base_backups(cfg)
    if not backups:
        raise NotFound(
            f"no base backup (a folder with a backup_label) in {cfg.base_backup_dir}: "
            "nothing to restore from"
        )
    try:
        segments = [p for p in cfg.wal_archive_dir.iterdir() if _SEGMENT.fullmatch(p.name)]
    except OSError as exc:
        raise NotFound(
            f"cannot read wal_archive_dir {cfg.wal_archive_dir}: {exc.strerror}"
        ) from None
    if not segments:
        raise NotFound(f"no archived WAL segment in {cfg.wal_archive_dir}")
    latest = max(datetime.fromtimestamp(p.stat().st_mtime, UTC) for p in segments)
    return Window(backups[0].started, latest, backups)


def plan_steps(
    service: ServiceConfig, cfg: WalPitrConfig, when: datetime, win: Window
) -> list[Step]:
    """Restore, start, wait for recovery and promotion, checks; the switch when configured."""
    name = instance_name(service, when)
    return [*restore_steps(service, cfg, when, win), *EnvFileSwitch(service, cfg).steps(name)]


def restore_steps(
    service: ServiceConfig, cfg: WalPitrConfig, when: datetime, win: Window
) -> list[Step]:
    """Copy the base backup, start the new server, wait for its promotion, the checks."""
    backup = [b for b in win.backups if b.started <= when][-1]
    name = instance_name(service, when)
    data_dir = cfg.restore_dir / name
    common = {"instance": name, "data_dir": str(data_dir), "port": cfg.port, "host": cfg.host}
    restore_cmd = f"cp {shlex.quote(str(cfg.wal_archive_dir))}/%f %p"
    at = when.strftime("%Y-%m-%d %H:%M:%S+00")
    steps = [
        Step(
            title=f"Copy base backup {backup.path.name} into a new data directory {name}",
            command=(
                f"cp -a {shlex.quote(str(backup.path))} {shlex.quote(str(data_dir))} && "
                f"touch {shlex.quote(str(data_dir / 'recovery.signal'))} && echo "
                f"\"restore_command = '{restore_cmd}' recovery_target_time = '{at}' "
                f"recovery_target_action = 'promote' port = {cfg.port}\" >> postgresql.auto.conf"
            ),
            kind=StepKind.BACKUP,
            timeout_s=cfg.recovery_timeout_s,
            op=RESTORE_OP,
            params={
                **common,
                "base_backup": str(backup.path),
                "wal_archive_dir": str(cfg.wal_archive_dir),
                "target_time": when.isoformat(),
                "os_user": cfg.os_user,
            },
        ),
        Step(
            title=f"Start the restored server {name} on port {cfg.port}",
            command=f"pg_ctl -D {shlex.quote(str(data_dir))} -l {shlex.quote(str(data_dir))}.log "
            "-w start",
            kind=StepKind.COMMAND,
            timeout_s=cfg.recovery_timeout_s,
            op=START_OP,
            params={**common, "os_user": cfg.os_user},
        ),
        Step(
            title=f"Wait until {name} has replayed the WAL to {_shown(when)} and promoted",
            command=f"psql -p {cfg.port} -c 'SELECT pg_is_in_recovery()'  # until f",
            kind=StepKind.WAIT,
            timeout_s=cfg.recovery_timeout_s,
            op=PROMOTE_OP,
            params={**common, "timeout_s": cfg.recovery_timeout_s},
        ),
    ]
    database = service.database
    if database is not None and database.checks:
        steps.append(
            Step(
                title=f"Checks on the live database and on {name}, side by side",
                command="; ".join(c.sql for c in database.checks),
                kind=StepKind.COMMAND,
                op=CHECKS_OP,
                params=common,
            )
        )
    return steps


class WalEngine:
    """The WAL engine (``providers.database.pitr.PitrEngine``)."""

    name: ClassVar[str] = "wal"

    def __init__(self, service: ServiceConfig, cfg: WalPitrConfig) -> None:
        self.service = service
        self.cfg = cfg

    def window(self) -> Window:
        return window(self.cfg)

    def restore_steps(self, when: datetime, win: Window) -> list[Step]:
        return restore_steps(self.service, self.cfg, when, win)

    def where(self, when: datetime) -> str:
        name = instance_name(self.service, when)
        return f"{name} on port {self.cfg.port} (data directory {self.cfg.restore_dir / name})"


class EnvFileSwitch:
    """The host env file switch (``providers.database.pitr.PitrSwitch``): ``KEY=<new DSN>``
    in ``env_file``, the previous file kept beside it; no step without ``env_file``."""

    def __init__(self, service: ServiceConfig, cfg: WalPitrConfig) -> None:
        self.service = service
        self.cfg = cfg

    def steps(self, name: str) -> list[Step]:
        cfg, database = self.cfg, self.service.database
        common = {
            "instance": name,
            "data_dir": str(cfg.restore_dir / name),
            "port": cfg.port,
            "host": cfg.host,
        }
        steps: list[Step] = []
        if cfg.env_file is not None and database is not None:
            steps.append(
                Step(
                    title=f"Point {database.dsn_env} in {cfg.env_file} at {name} (port {cfg.port})",
                    command=f"sed -i 's|^{database.dsn_env}=.*|{database.dsn_env}=<the DSN with "
                    f"port {cfg.port}>|' {shlex.quote(str(cfg.env_file))}",
                    kind=StepKind.SWITCH,
                    op=SWITCH_OP,
                    params={**common, "env_file": str(cfg.env_file), "key": database.dsn_env},
                    # A separate, confirmed step: the operator sees the checks first.
                    confirm_before=True,
                )
            )
        return steps

    def kept(self, name: str) -> Path | None:
        """Where the switch keeps the previous env file."""
        env_file = self.cfg.env_file
        return None if env_file is None else env_file.with_name(f"{env_file.name}.before-{name}")

    def way_back(self, name: str) -> str:
        kept, env_file = self.kept(name), self.cfg.env_file
        if kept is None or env_file is None:
            return ""
        return f"cp {shlex.quote(str(kept))} {shlex.quote(str(env_file))}"


def make_engine(service: ServiceConfig, cfg: WalPitrConfig, api: object = None) -> WalEngine:
    """The registry's entry point (``providers.database.pitr.ENGINES``)."""
    return WalEngine(service, cfg)
