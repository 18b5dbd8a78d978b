"""``[services.database.pitr]``: point-in-time recovery, one engine a sub-table.

Where the restore happens (the *engine*) is chosen by the table's shape:

* ``[services.database.pitr]`` alone (``base_backup_dir``, ``wal_archive_dir``,
  ``restore_dir``, ``port``...): PostgreSQL with WAL archiving on a VM host
  (``WalPitrConfig``, engine ``"wal"``);
* ``[services.database.pitr.rds]``: Amazon RDS, restored with
  ``restore-db-instance-to-point-in-time`` (``RdsPitrConfig``, engine ``"rds"``);
* ``[services.database.pitr.cloudsql]``: Cloud SQL, ``instances.clone`` with a
  ``pointInTime`` (``CloudSqlPitrConfig``, engine ``"cloudsql"``);
* ``[services.database.pitr.neon]``: Neon, a branch created at
  ``parent_timestamp`` with its own endpoint (``NeonPitrConfig``, engine ``"neon"``).

An engine is added by a dataclass here (with its ``engine`` name) and one entry
in ``ENGINE_READERS``: the sub-table of that name is then read by it.  The
WAL keys are required only when no engine sub-table is given.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from console.config.reader import Reader

#: The keys of the table itself that every engine may use.
COMMON_KEYS: tuple[str, ...] = ("margin_s",)
#: The keys of the table itself that only the WAL engine reads.
WAL_KEYS = (
    "base_backup_dir",
    "wal_archive_dir",
    "restore_dir",
    "port",
    "host",
    "env_file",
    "os_user",
    "recovery_timeout_s",
)


class PitrEngineConfig(Protocol):
    """What every engine's settings have: the engine's name (the sub-table's)."""

    engine: ClassVar[str]

    @property
    def margin_s(self) -> float:
        """The time screen's default moment: the live release's deploy time minus this
        margin (``margin_s`` on ``[services.database.pitr]`` itself, for every engine)."""
        ...


@dataclass(frozen=True)
class WalPitrConfig:
    """``[services.database.pitr]``: point-in-time recovery of PostgreSQL with WAL archiving.

    A restore never touches the live server: the newest base backup taken before
    the chosen time is copied into a new data directory under ``restore_dir``,
    replays the archived WAL up to the time, and runs as a new server on
    ``port``.  ``env_file`` (optional) is the host file the application reads
    its DSN from (``dsn_env``'s name as the key); without it the flow stops
    after the checks, for a manual comparison and switch.
    """

    engine: ClassVar[str] = "wal"

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
    #: The time screen's default moment: the live release's deploy time minus this
    #: margin (writes just before a deploy may already be the bad release's).
    margin_s: float = 300.0


#: The name the WAL engine's settings had before engines were split (kept: public import).
PitrConfig = WalPitrConfig


@dataclass(frozen=True)
class RdsPitrConfig:
    """``[services.database.pitr.rds]``: restore an RDS instance to a moment (runbook 003).

    The restore goes into a NEW instance beside ``db_instance`` (same class,
    subnet group, security groups and parameter group unless overridden);
    the application is switched to it through the Secrets Manager secret it
    reads (``secret_id``; ``secret_key`` = the JSON key holding the DSN, empty
    = the whole SecretString; ``secret_host_key`` / ``secret_port_key``: the
    secret holds the connection as JSON fields, runbook 003's
    ``{"host": ..., "port": ...}``, and those keys get the new endpoint), then
    the ECS service is redeployed.  Without
    ``secret_id`` the flow stops after the checks.  Region and endpoint are
    the ``[services.ecs]`` ones.
    """

    engine: ClassVar[str] = "rds"

    db_instance: str
    secret_id: str = ""
    secret_key: str = ""
    #: The JSON key of the secret holding the host (the secret is fields, not a DSN).
    secret_host_key: str = ""
    #: The JSON key holding the port (only with ``secret_host_key``).
    secret_port_key: str = ""
    db_instance_class: str = ""
    subnet_group: str = ""
    #: How long the new instance may take to become available.
    timeout_s: float = 3600.0
    #: The time screen's default moment: the live release's deploy time minus this
    #: margin (writes just before a deploy may already be the bad release's).
    margin_s: float = 300.0


@dataclass(frozen=True)
class CloudSqlPitrConfig:
    """``[services.database.pitr.cloudsql]``: clone a Cloud SQL instance as of a moment
    (runbook 001's ``gcloud sql instances clone --point-in-time``).

    The clone is a NEW instance beside ``instance`` (same project); the
    application is switched to it by the platform's switch (Cloud Run: a new
    revision with ``dsn_env`` pointing at the clone; Kubernetes: the DSN Secret's
    key, then ``rollout restart``).  ``api_endpoint``
    replaces ``https://sqladmin.googleapis.com`` (a test server; plain
    ``http://`` is spoken to without credentials).
    """

    engine: ClassVar[str] = "cloudsql"

    project: str
    instance: str
    api_endpoint: str = ""
    #: How long the clone may take to become RUNNABLE.
    timeout_s: float = 3600.0
    #: The time screen's default moment: the live release's deploy time minus this
    #: margin (writes just before a deploy may already be the bad release's).
    margin_s: float = 300.0


@dataclass(frozen=True)
class NeonPitrConfig:
    """``[services.database.pitr.neon]``: a Neon branch as of a moment (runbook 004's
    ``neon branches create --parent main@TIME``) with its own read-write endpoint.

    The API key is read from ``api_key_env`` (never from the file);
    ``parent_branch`` (a name or an id) is the branch restored from, the
    project's default branch when empty.
    """

    engine: ClassVar[str] = "neon"

    project_id: str
    api_key_env: str = "NEON_API_KEY"
    api_endpoint: str = ""
    parent_branch: str = ""
    #: How long the branch and its endpoint may take to be ready.
    timeout_s: float = 600.0
    #: The time screen's default moment: the live release's deploy time minus this
    #: margin (writes just before a deploy may already be the bad release's).
    margin_s: float = 300.0


def _endpoint(r: Reader, key: str) -> str:
    value = str(r.get(key, str, "")).strip()
    if value and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise r.error(key, f"is not an http(s) URL, got {value!r}")
    return value.rstrip("/")


def read_cloudsql(r: Reader) -> CloudSqlPitrConfig:
    """``[services.database.pitr.cloudsql]``."""
    r.expect("project", "instance", "api_endpoint", "timeout_s")
    instance = r.require("instance", str)
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,97}", instance) or instance.endswith("-"):
        raise r.error(
            "instance",
            "is not a Cloud SQL instance ID (lowercase letters, digits, hyphens), "
            f"got {instance!r}",
        )
    cfg = CloudSqlPitrConfig(
        project=r.require("project", str),
        instance=instance,
        api_endpoint=_endpoint(r, "api_endpoint"),
        timeout_s=r.duration("timeout_s", 3600.0),
    )
    r.done()
    return cfg


def read_neon(r: Reader) -> NeonPitrConfig:
    """``[services.database.pitr.neon]``."""
    r.expect("project_id", "api_key_env", "api_endpoint", "parent_branch", "timeout_s")
    key_env = r.get("api_key_env", str, "NEON_API_KEY")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key_env):
        raise r.error(
            "api_key_env", f"must name an environment variable (not hold the key), got {key_env!r}"
        )
    cfg = NeonPitrConfig(
        project_id=r.require("project_id", str),
        api_key_env=key_env,
        api_endpoint=_endpoint(r, "api_endpoint"),
        parent_branch=r.get("parent_branch", str, ""),
        timeout_s=r.duration("timeout_s", 600.0),
    )
    r.done()
    return cfg


def read_wal(r: Reader) -> WalPitrConfig:
    """The WAL engine's keys, on the ``[services.database.pitr]`` table itself."""
    if r.get("port", int) is None:
        raise r.error("port", "is required in [services.database.pitr] (the new server's port)")
    folders = {}
    for key in ("base_backup_dir", "wal_archive_dir", "restore_dir"):
        if r.get(key, str) is None:
            raise r.error(key, "is required in [services.database.pitr]")
        folders[key] = r.path_value(key, must_exist=key != "restore_dir")
    return WalPitrConfig(
        base_backup_dir=folders["base_backup_dir"] or Path(),
        wal_archive_dir=folders["wal_archive_dir"] or Path(),
        restore_dir=folders["restore_dir"] or Path(),
        port=r.integer("port", 0, 1, 65535),
        host=r.get("host", str, ""),
        env_file=r.path_value("env_file"),
        os_user=r.get("os_user", str, ""),
        recovery_timeout_s=r.duration("recovery_timeout_s", 600.0),
    )


def _identifier(r: Reader, key: str, value: str) -> str:
    if value and not _valid_rds_id(value):
        raise r.error(
            key, f"is not an RDS identifier (letters, digits, hyphens; ≤63), got {value!r}"
        )
    return value


def _valid_rds_id(value: str) -> bool:
    """RDS: 1-63 letters, digits, hyphens; a letter first; no "--"; no hyphen last."""
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,62}", value)) and not (
        "--" in value or value.endswith("-")
    )


def read_rds(r: Reader) -> RdsPitrConfig:
    """``[services.database.pitr.rds]``."""
    r.expect(
        "db_instance",
        "secret_id",
        "secret_key",
        "secret_host_key",
        "secret_port_key",
        "db_instance_class",
        "subnet_group",
        "timeout_s",
    )
    host_key = r.get("secret_host_key", str, "")
    port_key = r.get("secret_port_key", str, "")
    if port_key and not host_key:
        raise r.error("secret_port_key", "needs secret_host_key (the secret's host field)")
    if port_key and port_key in (host_key, r.get("secret_key", str, "")):
        raise r.error("secret_port_key", f"names the key {port_key!r} used for another field")
    if host_key and host_key == r.get("secret_key", str, ""):
        raise r.error("secret_host_key", f"is also secret_key ({host_key!r}): the DSN's key")
    if host_key and not r.get("secret_id", str, ""):
        raise r.error("secret_host_key", "needs secret_id (the Secrets Manager secret)")
    cfg = RdsPitrConfig(
        db_instance=_identifier(r, "db_instance", r.require("db_instance", str)),
        secret_id=r.get("secret_id", str, ""),
        secret_key=r.get("secret_key", str, ""),
        secret_host_key=host_key,
        secret_port_key=port_key,
        db_instance_class=r.get("db_instance_class", str, ""),
        subnet_group=r.get("subnet_group", str, ""),
        timeout_s=r.duration("timeout_s", 3600.0),
    )
    r.done()
    return cfg


#: Engine sub-table name -> the reader of its settings (add an engine here).
ENGINE_READERS: dict[str, Callable[[Reader], PitrEngineConfig]] = {
    "rds": read_rds,
    "cloudsql": read_cloudsql,
    "neon": read_neon,
}
#: Engine sub-table name -> the providers that run it (a config naming another is refused;
#: the WAL engine is offered by the host provider and, as before, ignored by the others:
#: its new server runs on the console's host, where a cluster's pods may not reach it).
ENGINE_PROVIDERS: dict[str, tuple[str, ...]] = {
    "rds": ("ecs",),
    "cloudsql": ("cloudrun", "kubernetes"),
    "neon": ("cloudrun", "kubernetes"),
}


def read_pitr(r: Reader) -> PitrEngineConfig:
    """The engine ``[services.database.pitr]`` chooses (see the module doc)."""
    r.expect(*COMMON_KEYS, *WAL_KEYS, *ENGINE_READERS)
    chosen = [name for name in ENGINE_READERS if name in r.table]
    if len(chosen) > 1:
        raise r.error(chosen[1], f"one engine only: [pitr.{chosen[0]}] is given already")
    if chosen:
        name = chosen[0]
        for key in WAL_KEYS:
            if key in r.table:
                raise r.error(
                    key,
                    f"belongs to the WAL engine; with [services.database.pitr.{name}] "
                    f"it has no effect: remove it or move it into [pitr.{name}]",
                )
        sub = r.sub(name)
        assert sub is not None
        cfg = ENGINE_READERS[name](sub)
    else:
        cfg = read_wal(r)
    margin = r.duration("margin_s", 300.0, low=0.0)
    r.done()
    return dataclasses.replace(cfg, margin_s=margin)  # type: ignore[type-var]
