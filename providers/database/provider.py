"""The database side of a rollback: status, checks, backup, schema downgrade, restore.

Not a rollout target like the platform providers: the flow's database part
(``console.db_flow.DatabaseSide``, found through ``providers.load_database``)
asks it for extra plan steps (a verified backup first, checks before and
after, the schema downgrade or stamp) and runs them in order with the
platform's steps.  Each is a typed step (``db.backup``, ``db.checks``,
``db.schema``, ``db.restore``) whose command is rendered here from its params.
Every method is blocking; the app calls them from worker threads.  Errors are
the ``providers.base`` ones with one-line messages that never hold the DSN or
its password:

- ``DsnError`` (exit 2): the DSN variable is missing or not a DSN.
- ``Unavailable``: the server refused or did not answer.
- ``Forbidden``: the password or the role was refused.
- ``NotFound`` (exit 2): unknown migration revision, backup file, client tool.
- ``InvalidTarget`` (exit 2): a schema target that cannot be reached.
- ``CommandFailed`` / ``TimedOut``: pg_dump, pg_restore, alembic, or a configured
  migration command failed or ran too long.

The work is in one module a concern: ``connection`` (the DSN, reading),
``backups``, ``schema`` (planning and running schema steps), ``pg`` (DSNs and
the client tools), ``migrations`` (Alembic's scripts).
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from console.model import DatabaseStatus, MigrationRevision, Step, StepKind, utcnow
from providers.base import ProviderError
from providers.database.backups import Backups
from providers.database.connection import CHECK_TIMEOUT_S
from providers.database.schema import SCHEMA_OP, Schema

BACKUP_OP = "db.backup"
CHECKS_OP = "db.checks"
RESTORE_OP = "db.restore"
#: Every op the database part runs.
OPS = frozenset({BACKUP_OP, CHECKS_OP, SCHEMA_OP, RESTORE_OP})


class DatabaseProvider(Backups, Schema):
    """One service's database, reached through the DSN in ``$dsn_env``.

    Built without I/O.  ``environ`` is for tests; by default the process
    environment is read each time (an operator may export the variable after
    start-up).
    """

    name = "database"
    #: The ops of its steps, which the flow's database part runs.
    ops = OPS
    BACKUP_OP = BACKUP_OP
    CHECKS_OP = CHECKS_OP
    SCHEMA_OP = SCHEMA_OP
    RESTORE_OP = RESTORE_OP

    # ----------------------------------------------------------------- reading

    def status(self, *, checks: bool = False, backup_dir: Path | None = None) -> DatabaseStatus:
        """Connection, server version, current revision, history, checks, last backup.

        Never raises: a failure is ``connected=False`` with the one-line ``error``,
        and whatever could still be read (the scripts' history) is kept.
        """
        now = utcnow()
        notes: list[str] = []
        history: tuple[MigrationRevision, ...] = ()
        heads: tuple[str, ...] = ()
        if self.config.migrations == "alembic":
            try:
                history = self.history()
                heads = tuple(r.id for r in history if r.is_head)
            except ProviderError as err:
                notes.append(self.scrub(str(err)))
        last = self.latest_backup(backup_dir)
        base = DatabaseStatus(
            connected=False,
            checked_at=now,
            target=self.target_label(),
            migrations=self.config.migrations,
            heads=heads,
            history=history,
            last_backup=last,
        )
        try:
            with self.connect() as conn:
                version = conn.info.parameter_status("server_version") or ""
            current = self.current()
            results = self.run_checks() if checks else ()
        except ProviderError as err:
            return dataclasses.replace(base, error=self.scrub(str(err)), notes=tuple(notes))
        return dataclasses.replace(
            base,
            connected=True,
            server_version=version,
            current=current,
            checks=results,
            notes=tuple(notes),
        )

    # ----------------------------------------------------------------- steps

    def render(self, op: str, params: Mapping[str, Any]) -> str:
        """The command shown for a step of ``op`` with ``params`` (the DSN as ``"$DSN_ENV"``)."""
        if op == BACKUP_OP:
            return self.backup_command(Path(params["path"]))
        if op == RESTORE_OP:
            return self.restore_command(Path(params["path"]))
        if op == CHECKS_OP:
            sql = "; ".join(c.sql.rstrip(";") for c in self.config.checks)
            return f'psql "${self.config.dsn_env}" -c {shlex.quote(sql)}'
        if op == SCHEMA_OP:
            return self.render_schema(params)
        raise ProviderError(f"the database part does not run {op!r}")

    @staticmethod
    def typed(step: Step) -> Step:
        """A step of a journal written before steps were typed, as the typed step it stands
        for (``legacy.py``); any other step as it is."""
        from providers.database.legacy import typed_step

        return typed_step(step)

    def backup_step(self, path: Path) -> Step:
        params = {"path": str(path)}
        return Step(
            title=(
                f"Back up {self.target_label()} with pg_dump -Fc and verify it "
                "(pg_restore --list) before any change"
            ),
            command=self.render(BACKUP_OP, params),
            kind=StepKind.BACKUP,
            timeout_s=self.config.command_timeout_s,
            op=BACKUP_OP,
            params=params,
        )

    def checks_step(self, phase: str) -> Step:
        names = ", ".join(c.name for c in self.config.checks)
        when = "before any change" if phase == "before" else "after the rollback"
        params = {"phase": phase}
        return Step(
            title=f"Run the database checks {when} ({names})",
            command=self.render(CHECKS_OP, params),
            kind=StepKind.COMMAND,
            timeout_s=CHECK_TIMEOUT_S * max(1, len(self.config.checks)),
            op=CHECKS_OP,
            params=params,
        )

    def restore_step(self, path: Path) -> Step:
        params = {"path": str(path)}
        return Step(
            title=f"Restore {self.target_label()} from {path.name} in one transaction",
            command=self.render(RESTORE_OP, params),
            kind=StepKind.BACKUP,
            timeout_s=self.config.command_timeout_s,
            op=RESTORE_OP,
            params=params,
        )
