"""One service's database, reached through the DSN in ``$dsn_env``: the connection and what
is read through it (the recorded revision, the scripts' history, the checks), and the
configured migration commands.

Errors are the ``providers.base`` ones with one-line messages that never
hold the DSN or its password: ``DsnError`` (exit 2) for a missing or
malformed DSN, ``Unavailable`` when the server refused or did not answer,
``Forbidden`` when the password or the role was refused, ``NotFound`` for an
unknown database.  psycopg and SQLAlchemy are imported where they are used.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.config import DatabaseConfig, ServiceConfig
from console.model import CheckResult, MigrationRevision
from console.process import last_line, run_collect
from providers.base import (
    CommandFailed,
    Forbidden,
    InvalidTarget,
    NotFound,
    ProviderError,
    Unavailable,
)
from providers.database import migrations
from providers.database.pg import Dsn, mask, read_dsn

if TYPE_CHECKING:
    import psycopg

#: Seconds a connection attempt may take before the database counts as unavailable.
CONNECT_TIMEOUT_S = 5
#: Longest a single check query may run.
CHECK_TIMEOUT_S = 30.0


class DatabaseConnection:
    """The connection to one service's database and what is read through it.

    Built without I/O.  ``environ`` is for tests; by default the process
    environment is read each time (an operator may export the variable after
    start-up).
    """

    def __init__(self, service: ServiceConfig, environ: Mapping[str, str] | None = None) -> None:
        if service.database is None:
            raise ProviderError(f"{service.label} has no [services.database] table")
        self.service = service
        self.config: DatabaseConfig = service.database
        self._environ = environ

    # ----------------------------------------------------------------- DSN and secrets

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def dsn(self) -> Dsn:
        """The parsed DSN; ``DsnError`` (exit 2) when the variable is missing or malformed."""
        return read_dsn(self.config.dsn_env, self.environ)

    def secrets(self) -> tuple[str, ...]:
        """Strings to mask in anything shown: the DSN and its password (never raises)."""
        raw = self.environ.get(self.config.dsn_env, "")
        try:
            return self.dsn().secrets
        except ProviderError:
            return (raw,) if raw else ()

    def scrub(self, text: str) -> str:
        return mask(text, self.secrets())

    def target_label(self) -> str:
        """ "mks_db on host:5432 as user", or what is wrong with the DSN (never the DSN)."""
        try:
            return self.dsn().target
        except ProviderError:
            return f"${self.config.dsn_env} (not usable)"

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        """An autocommit connection; connection failures become one-line provider errors."""
        import psycopg

        dsn = self.dsn()
        try:
            return psycopg.connect(dsn.raw, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.OperationalError as exc:
            raise self._connect_error(exc, dsn) from None

    def _connect_error(self, exc: Exception, dsn: Dsn) -> ProviderError:
        text = mask(" ".join(str(exc).split()), dsn.secrets)
        # libpq's text repeats "connection to server at ... failed:" per address tried.
        reason = text.rsplit("failed:", 1)[-1].strip() or text
        where = f"cannot connect to {dsn.target}"
        lowered = text.lower()
        if "password authentication failed" in lowered or "no password supplied" in lowered:
            return Forbidden(f"{where}: {reason}")
        if "does not exist" in lowered and "database" in lowered:
            return NotFound(f"{where}: {reason}")
        if "permission denied" in lowered or "not permitted" in lowered:
            return Forbidden(f"{where}: {reason}")
        return Unavailable(f"{where}: {reason}")

    def _sqlalchemy_engine(self) -> Any:
        """A one-connection SQLAlchemy engine on the same DSN, for Alembic's MigrationContext."""
        import psycopg
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        dsn = self.dsn()

        def creator() -> psycopg.Connection[tuple[Any, ...]]:
            try:
                return psycopg.connect(dsn.raw, connect_timeout=CONNECT_TIMEOUT_S)
            except psycopg.OperationalError as exc:
                raise self._connect_error(exc, dsn) from None

        return create_engine("postgresql+psycopg://", creator=creator, poolclass=NullPool)

    def history(self) -> tuple[MigrationRevision, ...]:
        """Alembic's revisions, newest first; () for other migration tools."""
        if self.config.migrations != "alembic" or self.config.alembic_ini is None:
            return ()
        return migrations.history(migrations.script_directory(self.config.alembic_ini))

    def current(self) -> tuple[str, ...]:
        """The revision the database records (Alembic), or the status command's last line."""
        if self.config.migrations == "alembic":
            return self._alembic_current()
        if self.config.migrations == "command":
            code, lines = self.run_status_command()
            if code != 0:
                raise CommandFailed(
                    f"`{self._shown(self._status_argv())}` exited {code}: "
                    f"{last_line(lines) or 'no output'}"
                )
            line = last_line(lines)
            return (line,) if line else ()
        return ()

    def _alembic_current(self) -> tuple[str, ...]:
        from sqlalchemy.exc import SQLAlchemyError

        engine = self._sqlalchemy_engine()
        try:
            with engine.connect() as connection:
                return migrations.current_revisions(connection)
        except SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None)
            raise Unavailable(
                f"cannot read the schema revision of {self.target_label()}: "
                + self.scrub(str(orig or exc).splitlines()[0])
            ) from None
        finally:
            engine.dispose()

    def run_checks(self) -> tuple[CheckResult, ...]:
        """Each configured check in its own read-only transaction; an error fails only that one."""
        import psycopg

        if not self.config.checks:
            return ()
        results: list[CheckResult] = []
        with self.connect() as conn:
            for check in self.config.checks:
                try:
                    with conn.transaction():
                        conn.execute("SET TRANSACTION READ ONLY")
                        conn.execute(
                            "SELECT set_config('statement_timeout', %s, true)",
                            (f"{int(CHECK_TIMEOUT_S * 1000)}",),
                        )
                        cur = conn.execute(check.sql.encode())
                        row = cur.fetchone() if cur.description else None
                    value = "(no rows)" if row is None else ", ".join(_cell(v) for v in row)
                    results.append(CheckResult(check.name, value, True))
                except psycopg.Error as exc:
                    message = self.scrub(str(exc).strip().splitlines()[0] if str(exc) else "")
                    results.append(
                        CheckResult(check.name, "", False, message or type(exc).__name__)
                    )
        return tuple(results)

    # ----------------------------------------------------------------- migration commands

    def run_status_command(self) -> tuple[int, list[str]]:
        """The configured status command's exit code and output (migrations = 'command')."""
        argv = self._status_argv()
        return run_collect(
            argv,
            shown=self._shown(argv),
            timeout_s=self.config.command_timeout_s,
            env=dict(self.environ),
            cwd=self._workdir(),
            scrub=self.secrets(),
        )

    def _status_argv(self) -> list[str]:
        if not self.config.status_command:
            raise InvalidTarget(f"{self.service.label}: no status_command configured")
        return self._in_pod(list(self.config.status_command))

    def _down_argv(self, steps: int) -> list[str]:
        if not self.config.down_command:
            raise InvalidTarget(f"{self.service.label}: no down_command configured")
        argv = [a.replace("{steps}", str(steps)) for a in self.config.down_command]
        return self._in_pod(argv)

    def _in_pod(self, argv: list[str]) -> list[str]:
        """``kubectl exec deployment/NAME -n NS -- ARGV`` when exec_in_pod is set (runbook 001)."""
        if not self.config.exec_in_pod:
            return argv
        kube = self.service.kubernetes
        if self.service.provider != "kubernetes" or kube is None:
            raise InvalidTarget(
                "exec_in_pod needs provider = 'kubernetes' (it runs the command with "
                "kubectl exec in the service's Deployment); not supported for "
                f"provider = {self.service.provider!r}"
            )
        prefix = ["kubectl"]
        if kube.kubeconfig is not None:
            prefix += ["--kubeconfig", str(kube.kubeconfig)]
        if kube.context:
            prefix += ["--context", kube.context]
        prefix += ["exec", f"deployment/{kube.deployment}", "-n", kube.namespace, "--"]
        return prefix + argv

    def _workdir(self) -> Path | None:
        host = self.service.host
        return host.workdir if host is not None else None

    @staticmethod
    def _shown(argv: Sequence[str]) -> str:
        return shlex.join(argv)


def _cell(value: object) -> str:
    return "NULL" if value is None else str(value)
