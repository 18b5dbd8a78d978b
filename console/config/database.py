"""``[services.database]``: the database side of a rollback (runbooks 000-004).

The DSN is a secret: the file names the environment variable holding it
(``dsn_env``), never the DSN itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from console.config.reader import Reader


@dataclass(frozen=True)
class DatabaseCheck:
    """A named SQL query run before and after the rollback (row counts and the like)."""

    name: str
    sql: str


@dataclass(frozen=True)
class PitrConfig:
    """``[services.database.pitr]``: point-in-time recovery of PostgreSQL with WAL archiving.

    A restore never touches the live server: the newest base backup taken before
    the chosen time is copied into a new data directory under ``restore_dir``,
    replays the archived WAL up to the time, and runs as a new server on
    ``port``.  ``env_file`` (optional) is the host file the application reads
    its DSN from (``dsn_env``'s name as the key); without it the flow stops
    after the checks, for a manual comparison and switch.
    """

    #: Folders of ``pg_basebackup -Fp`` (one a backup, each with its ``backup_label``).
    base_backup_dir: Path
    #: Where ``archive_command`` copies the WAL segments.
    wal_archive_dir: Path
    #: Where the new data directories are made (one a restore, named after the time).
    restore_dir: Path
    #: The new server's port (on the live DSN's host unless ``host`` is set).
    port: int
    host: str = ""
    env_file: Path | None = None
    #: Run ``pg_ctl`` as this system user (PostgreSQL refuses to run as root).
    os_user: str = ""
    #: How long the restored server may take to replay the WAL and promote.
    recovery_timeout_s: float = 600.0


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
    #: Point-in-time recovery (``action SERVICE pitr --arg TIME``); None: not offered.
    pitr: PitrConfig | None = None


def read_pitr(r: Reader) -> PitrConfig:
    r.expect(
        "base_backup_dir",
        "wal_archive_dir",
        "restore_dir",
        "port",
        "host",
        "env_file",
        "os_user",
        "recovery_timeout_s",
    )
    if r.get("port", int) is None:
        raise r.error("port", "is required in [services.database.pitr] (the new server's port)")
    folders = {}
    for key in ("base_backup_dir", "wal_archive_dir", "restore_dir"):
        if r.get(key, str) is None:
            raise r.error(key, "is required in [services.database.pitr]")
        folders[key] = r.path_value(key, must_exist=key != "restore_dir")
    cfg = PitrConfig(
        base_backup_dir=folders["base_backup_dir"] or Path(),
        wal_archive_dir=folders["wal_archive_dir"] or Path(),
        restore_dir=folders["restore_dir"] or Path(),
        port=r.integer("port", 0, 1, 65535),
        host=r.get("host", str, ""),
        env_file=r.path_value("env_file"),
        os_user=r.get("os_user", str, ""),
        recovery_timeout_s=r.duration("recovery_timeout_s", 600.0),
    )
    r.done()
    return cfg


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


def _pitr(r: Reader) -> PitrConfig | None:
    sub = r.sub("pitr")
    return None if sub is None else read_pitr(sub)
