"""``[services.database]``: the database side of a rollback (runbooks 000-004).

The DSN is a secret: the file names the environment variable holding it
(``dsn_env``), never the DSN itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from console.config.pitr import PitrConfig, PitrEngineConfig, read_pitr
from console.config.reader import Reader

__all__ = ["DatabaseCheck", "DatabaseConfig", "PitrConfig", "read_database"]


@dataclass(frozen=True)
class DatabaseCheck:
    """A named SQL query run before and after the rollback (row counts and the like)."""

    name: str
    sql: str


@dataclass(frozen=True)
class DatabaseConfig:
    """The database side of a rollback (runbooks 000-004).  The DSN lives in ``dsn_env``."""

    dsn_env: str
    #: "alembic" (needs alembic_ini), "command" (status / down argv), or "none".
    migrations: str = "alembic"
    alembic_ini: Path | None = None
    checks: tuple[DatabaseCheck, ...] = ()
    backup_dir: Path | None = None
    #: migrations = "command": argv printing the current version, and migrating down
    #: (``{steps}`` in an argument is replaced by the number of steps).
    status_command: tuple[str, ...] = ()
    down_command: tuple[str, ...] = ()
    #: Run the commands inside a pod of the Kubernetes service (kubectl exec equivalent).
    exec_in_pod: bool = False
    command_timeout_s: float = 300.0
    #: Whether a verified backup must exist before executing (skippable only with a reason).
    require_backup: bool = True
    #: Folder holding pg_dump / pg_restore (default: the PATH, else the Debian folder of
    #: the server's major version, /usr/lib/postgresql/N/bin).
    pg_bin_dir: Path | None = None
    #: Point-in-time recovery (``action SERVICE pitr --arg TIME``): the engine's settings
    #: (``console.config.pitr``: ``WalPitrConfig``, ``RdsPitrConfig``...); None: not offered.
    pitr: PitrEngineConfig | None = None


def read_database(r: Reader) -> DatabaseConfig:
    r.expect(
        "dsn_env",
        "migrations",
        "alembic_ini",
        "checks",
        "backup_dir",
        "status_command",
        "down_command",
        "exec_in_pod",
        "command_timeout_s",
        "require_backup",
        "pg_bin_dir",
        "pitr",
    )
    dsn_env = r.require("dsn_env", str)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", dsn_env):
        # The value is not echoed: a DSN pasted here by mistake holds a password.
        raise r.error("dsn_env", "must be the name of an environment variable, not the DSN")
    migrations = r.get("migrations", str, "alembic")
    if migrations not in ("alembic", "command", "none"):
        raise r.error("migrations", f"must be 'alembic', 'command' or 'none', got {migrations!r}")
    alembic_ini = r.path_value("alembic_ini", must_exist=True)
    if migrations == "alembic" and alembic_ini is None:
        raise r.error("alembic_ini", "is required for migrations = 'alembic'")
    checks = []
    for check in r.subs("checks"):
        checks.append(DatabaseCheck(name=check.require("name", str), sql=check.require("sql", str)))
        check.done()
    cfg = DatabaseConfig(
        dsn_env=dsn_env,
        migrations=migrations,
        alembic_ini=alembic_ini,
        checks=tuple(checks),
        backup_dir=r.path_value("backup_dir"),
        status_command=r.argv("status_command"),
        down_command=r.argv("down_command"),
        exec_in_pod=bool(r.get("exec_in_pod", bool, False)),
        command_timeout_s=r.duration("command_timeout_s", 300.0),
        require_backup=bool(r.get("require_backup", bool, True)),
        pg_bin_dir=r.path_value("pg_bin_dir", must_exist=True),
        pitr=_pitr(r),
    )
    if migrations == "command" and not (cfg.status_command and cfg.down_command):
        raise r.error(
            "down_command", "migrations = 'command' needs status_command and down_command"
        )
    r.done()
    return cfg


def _pitr(r: Reader) -> PitrEngineConfig | None:
    sub = r.sub("pitr")
    return None if sub is None else read_pitr(sub)
