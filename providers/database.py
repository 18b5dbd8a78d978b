"""The database side of a rollback: status, checks, backup, schema downgrade, restore.

Not a rollout target like the platform providers: the flow asks it for
extra plan steps (a verified backup first, checks before and after, the
schema downgrade or stamp) and runs those steps itself, in order with the
platform's steps (``console.db_flow``).  Every method is blocking; the app
calls them from worker threads.  Errors are the ``providers.base`` ones with
one-line messages that never hold the DSN or its password:

- ``DsnError`` (exit 2): the DSN variable is missing or not a DSN.
- ``Unavailable``: the server refused or did not answer.
- ``Forbidden``: the password or the role was refused.
- ``NotFound`` (exit 2): unknown migration revision, backup file, client tool.
- ``InvalidTarget`` (exit 2): a schema target that cannot be reached.
- ``CommandFailed`` / ``TimedOut``: pg_dump, pg_restore, alembic, or a configured
  migration command failed or ran too long.

Steps this provider runs carry ``argv[0] == DB_RUNNER``, so the flow (and a
resumed flow reading the journal) can tell them from the platform's steps.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.config import DatabaseConfig, ServiceConfig
from console.durable import create_fresh, os_reason
from console.model import (
    BackupInfo,
    CheckResult,
    DatabaseStatus,
    DataLoss,
    MigrationRevision,
    Revision,
    SchemaTarget,
    Step,
    StepKind,
    format_bytes,
    utcnow,
)
from providers import db_alembic
from providers.base import (
    CommandFailed,
    Conflict,
    Forbidden,
    InvalidTarget,
    NotFound,
    ProviderError,
    Unavailable,
)
from providers.db_pg import Dsn, DsnError, find_tool, last_line, mask, read_dsn, run_collect, stream

if TYPE_CHECKING:
    import psycopg

#: ``Step.argv[0]`` of every step the database provider runs (never a real program).
DB_RUNNER = "@database"
#: Seconds a connection attempt may take before the database counts as unavailable.
CONNECT_TIMEOUT_S = 5
#: Longest a single check query may run.
CHECK_TIMEOUT_S = 30.0
#: Backups are named SERVICE-DATABASE-YYYYmmddTHHMMSSZ.dump.
BACKUP_SUFFIX = ".dump"
#: The line of ``pg_restore --list``'s header that says when the dump was taken.
ARCHIVE_CREATED = "; Archive created at"
#: ``pg_restore --list`` counts by (path, size, mtime): a backup file never changes
#: once named, so the status poll lists each one once.
_LISTED: dict[tuple[str, int, int], BackupInfo] = {}


@dataclass(frozen=True)
class SchemaPlan:
    """What a schema target means for this database right now."""

    target: SchemaTarget
    steps: tuple[Step, ...] = ()
    warnings: tuple[str, ...] = ()
    #: The database's revision when planned, and where the steps leave it ("base": none).
    from_revision: str = ""
    to_revision: str = ""
    #: Revisions whose downgrade() runs, newest first.
    crossed: tuple[MigrationRevision, ...] = ()
    #: Columns and tables those downgrades drop.
    losses: tuple[DataLoss, ...] = ()


def is_database_step(step: Step) -> bool:
    """True for the steps this provider runs (backup, checks, downgrade, stamp)."""
    return bool(step.argv) and step.argv[0] == DB_RUNNER


class DatabaseProvider:
    """One service's database, reached through the DSN in ``$dsn_env``.

    Built without I/O.  ``environ`` is for tests; by default the process
    environment is read each time (an operator may export the variable after
    start-up).
    """

    name = "database"

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
            return _replace(base, error=self.scrub(str(err)), notes=tuple(notes))
        return _replace(
            base,
            connected=True,
            server_version=version,
            current=current,
            checks=results,
            notes=tuple(notes),
        )

    def history(self) -> tuple[MigrationRevision, ...]:
        """Alembic's revisions, newest first; () for other migration tools."""
        if self.config.migrations != "alembic" or self.config.alembic_ini is None:
            return ()
        return db_alembic.history(db_alembic.script_directory(self.config.alembic_ini))

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
                return db_alembic.current_revisions(connection)
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

    # ----------------------------------------------------------------- backups

    def backup_dir(self, default: Path | None) -> Path:
        """``backup_dir`` from the config, else ``default`` (the flow passes STATE_DIR/backups)."""
        folder = self.config.backup_dir or default
        if folder is None:
            raise NotFound(f"{self.service.label}: no backup_dir configured")
        return folder

    def new_backup_path(self, folder: Path) -> Path:
        """A fresh file name: SERVICE-DATABASE-20240109T020000Z.dump (never an existing file)."""
        try:
            database = self.dsn().database
        except ProviderError:
            database = "db"
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", database) or "db"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = folder / f"{self.service.name}-{safe}-{stamp}{BACKUP_SUFFIX}"
        n = 1
        while os.path.lexists(path) or os.path.lexists(path.with_name(path.name + ".partial")):
            n += 1
            path = folder / f"{self.service.name}-{safe}-{stamp}-{n}{BACKUP_SUFFIX}"
        return path

    def backup_command(self, path: Path) -> str:
        """What the plan shows for a backup: the variable's name, never its value."""
        env = self.config.dsn_env
        return (
            f'pg_dump -Fc --dbname "${env}" --file {shlex.quote(str(path))} && '
            f"pg_restore --list {shlex.quote(str(path))}"
        )

    def _tools(self) -> tuple[str, str, Dsn]:
        """pg_dump and pg_restore matching the server, and the DSN (connects once)."""
        dsn = self.dsn()
        with self.connect() as conn:
            major = conn.info.server_version // 10000
        bin_dir = self.config.pg_bin_dir
        return find_tool("pg_dump", bin_dir, major), find_tool("pg_restore", bin_dir, major), dsn

    def backup(self, path: Path) -> Generator[str, None, BackupInfo]:
        """``pg_dump -Fc`` into ``path``, verified with ``pg_restore --list``; yields output lines.

        The dump is written to ``PATH.partial`` and renamed only once verified,
        so a file with the final name is always a verified backup.  A dump that
        fails verification is kept as ``PATH.unverified`` and ``CommandFailed``
        is raised.  Files are created readable by their owner only.
        """
        pg_dump, pg_restore, dsn = self._tools()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = path.with_name(path.name + ".partial")
        shown = f'pg_dump -Fc --dbname "${self.config.dsn_env}" --file {partial}'
        argv = [
            pg_dump,
            "-Fc",
            "--no-password",
            "--dbname",
            dsn.conninfo_without_password(),
            "--file",
            str(partial),
        ]
        started = time.monotonic()
        taken_at = utcnow()
        # Created owner-only first: pg_dump truncates it and keeps the mode (the umask is
        # process-wide and other threads run, so it is not changed here).  Created anew,
        # never through a link: a leftover or a planted link there is removed first.
        try:
            os.close(create_fresh(partial, 0o600))
        except OSError as exc:
            raise CommandFailed(
                f"cannot create the backup file {partial}: {os_reason(exc)}"
            ) from None
        code = yield from stream(
            argv,
            shown=shown,
            timeout_s=self.config.command_timeout_s,
            env=dsn.tool_env(self.environ),
            scrub=dsn.secrets,
        )
        if code != 0:
            partial.unlink(missing_ok=True)
            raise CommandFailed(f"`{shown}` exited {code}: the backup was not taken")
        duration = time.monotonic() - started
        yield f"pg_dump wrote {format_bytes(partial.stat().st_size)} in {duration:.1f} s"
        info = self._verify(partial, pg_restore)
        if not info.verified:
            bad = path.with_name(path.name + ".unverified")
            partial.replace(bad)
            raise CommandFailed(f"backup {bad} failed verification: {info.message}")
        partial.replace(path)
        yield f"verified with pg_restore --list: {info.entries} entries"
        return BackupInfo(
            path=str(path),
            size_bytes=path.stat().st_size,
            verified=True,
            entries=info.entries,
            duration_s=duration,
            taken_at=taken_at,
            database=info.database or dsn.database,
            message=info.message,
        )

    def verify_backup(self, path: Path) -> BackupInfo:
        """``pg_restore --list`` on ``path``: verified only with a readable, non-empty TOC."""
        if not path.is_file():
            raise NotFound(f"backup file {path} does not exist")
        bin_dir = self.config.pg_bin_dir
        return self._verify(path, find_tool("pg_restore", bin_dir, None))

    def _verify(self, path: Path, pg_restore: str) -> BackupInfo:
        code, lines = run_collect(
            [pg_restore, "--list", str(path)],
            shown=f"pg_restore --list {path}",
            timeout_s=self.config.command_timeout_s,
        )
        size = path.stat().st_size if path.exists() else 0
        entries = [ln for ln in lines if ln.strip() and not ln.startswith(";")]
        database = ""
        created = None
        for line in lines:
            if line.startswith(";     dbname:"):
                database = line.split(":", 1)[1].strip()
            elif line.startswith(ARCHIVE_CREATED):
                created = line[len(ARCHIVE_CREATED) :].strip()
        if code != 0:
            why = last_line(lines) or f"exited {code}"
            return BackupInfo(str(path), size, False, 0, message=f"pg_restore --list: {why}")
        if not entries:
            return BackupInfo(str(path), size, False, 0, message="pg_restore --list: no entries")
        note = f"archive created at {created}" if created else ""
        return BackupInfo(str(path), size, True, len(entries), database=database, message=note)

    def latest_backup(self, default: Path | None = None) -> BackupInfo | None:
        """The newest ``*.dump`` in the backup folder (size and time; not re-verified)."""
        try:
            folder = self.backup_dir(default)
        except ProviderError:
            return None
        try:
            files = [p for p in folder.glob(f"{self.service.name}-*{BACKUP_SUFFIX}") if p.is_file()]
        except OSError:
            return None
        if not files:
            return None
        newest = max(files, key=lambda p: p.stat().st_mtime)
        stat = newest.stat()
        taken = BackupInfo(
            path=str(newest),
            size_bytes=stat.st_size,
            verified=True,  # only verified dumps ever get the final name
            taken_at=datetime.fromtimestamp(stat.st_mtime, UTC),
            message="verified when taken",
        )
        key = (str(newest), stat.st_size, stat.st_mtime_ns)
        listed = _LISTED.get(key)
        if listed is None:
            # Listed again (it is only its table of contents), so the entries shown are
            # counted, not assumed: "verified (2 entries)", never "(0 entries)".
            try:
                listed = self.verify_backup(newest)
            except ProviderError as err:
                return dataclasses.replace(
                    taken, message=f"verified when taken; not listed now: {self.scrub(str(err))}"
                )
            if len(_LISTED) > 64:
                _LISTED.clear()
            _LISTED[key] = listed
        return dataclasses.replace(
            listed, taken_at=taken.taken_at, message=listed.message or taken.message
        )

    def restore_command(self, path: Path) -> str:
        env = self.config.dsn_env
        return (
            f'pg_restore --clean --if-exists --single-transaction --dbname "${env}" '
            f"{shlex.quote(str(path))}"
        )

    def restore(self, path: Path) -> Generator[str, None, str]:
        """``pg_restore --clean --if-exists --single-transaction`` of a verified backup.

        One transaction: a restore that fails or is interrupted changes nothing.
        The file is verified first; an unverifiable file is refused before the
        database is touched.
        """
        info = self.verify_backup(path)
        if not info.verified:
            raise CommandFailed(f"refusing to restore {path}: {info.message}")
        yield f"{path}: verified, {info.entries} entries ({format_bytes(info.size_bytes)})"
        _pg_dump, pg_restore, dsn = self._tools()
        shown = self.restore_command(path)
        argv = [
            pg_restore,
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--no-password",
            "--dbname",
            dsn.conninfo_without_password(),
            str(path),
        ]
        started = time.monotonic()
        code = yield from stream(
            argv,
            shown=shown,
            timeout_s=self.config.command_timeout_s,
            env=dsn.tool_env(self.environ),
            scrub=dsn.secrets,
        )
        if code != 0:
            raise CommandFailed(f"`{shown}` exited {code}: nothing was restored (one transaction)")
        return f"restored {dsn.database} from {path.name} in {time.monotonic() - started:.1f} s"

    # ----------------------------------------------------------------- planning

    def backup_step(self, path: Path) -> Step:
        return Step(
            title=(
                f"Back up {self.target_label()} with pg_dump -Fc and verify it "
                "(pg_restore --list) before any change"
            ),
            command=self.backup_command(path),
            kind=StepKind.BACKUP,
            argv=(DB_RUNNER, "backup", str(path)),
            timeout_s=self.config.command_timeout_s,
        )

    def checks_step(self, phase: str) -> Step:
        names = ", ".join(c.name for c in self.config.checks)
        when = "before any change" if phase == "before" else "after the rollback"
        sql = "; ".join(c.sql.rstrip(";") for c in self.config.checks)
        return Step(
            title=f"Run the database checks {when} ({names})",
            command=f'psql "${self.config.dsn_env}" -c {shlex.quote(sql)}',
            kind=StepKind.COMMAND,
            argv=(DB_RUNNER, "checks", phase),
            timeout_s=CHECK_TIMEOUT_S * max(1, len(self.config.checks)),
        )

    def plan_schema(self, target: SchemaTarget) -> SchemaPlan:
        """The steps and warnings for ``target``; reads the database's current revision.

        Raises ``InvalidTarget`` / ``NotFound`` for a target that cannot be
        reached and ``Unavailable`` when the database cannot be read.
        """
        if not target.changes_schema:
            return SchemaPlan(target)
        if self.config.migrations == "none":
            raise InvalidTarget(
                f"{self.service.label}: migrations = 'none', so the schema cannot be changed"
            )
        if self.config.migrations == "command":
            return self._plan_command(target)
        return self._plan_alembic(target)

    def _plan_alembic(self, target: SchemaTarget) -> SchemaPlan:
        assert self.config.alembic_ini is not None
        ini = self.config.alembic_ini
        script = db_alembic.script_directory(ini)
        current = self._alembic_current()
        value = str(target.steps) if target.mode == "steps" else target.revision
        mode = target.mode
        to = db_alembic.resolve_target(script, current, mode, value)
        here = current[0] if len(current) == 1 else ",".join(current) or db_alembic.BASE
        shown_ini = shlex.quote(str(ini))
        if mode == "stamp":
            step = Step(
                title=(
                    f"Stamp {self.target_label()} as revision {to} (records the revision "
                    f"only: no migration runs; was {here})"
                ),
                command=f"alembic -c {shown_ini} stamp {to}",
                kind=StepKind.MIGRATION,
                argv=(DB_RUNNER, "alembic", "stamp", to, here),
                timeout_s=self.config.command_timeout_s,
            )
            stamp_warning = (
                f"Stamp only rewrites the recorded schema revision ({here} -> {to}); the tables "
                f"are left as they are, so they must already match revision {to}."
            )
            return SchemaPlan(target, (step,), (stamp_warning,), here, to)
        revs = db_alembic.crossed(script, here, to)
        losses = db_alembic.downgrade_losses(revs)
        refilled = db_alembic.upgrade_drops(revs)
        names = {r.id: r.message for r in db_alembic.history(script)}
        label = f"{to} ({names[to]})" if to in names else to
        # The command names the revision the step runs to (what the console executes),
        # also for "N steps": "-1" would mean another revision if the database moved.
        count = f" ({len(revs)} step{'s' if len(revs) != 1 else ''})" if mode == "steps" else ""
        step = Step(
            title=(
                f"Downgrade the schema of {self.target_label()} from {here} to {label}{count}: "
                f"runs downgrade() of {', '.join(r.id for r in revs)}"
            ),
            command=f"alembic -c {shown_ini} downgrade {to}",
            kind=StepKind.MIGRATION,
            argv=(DB_RUNNER, "alembic", "downgrade", to, here),
            timeout_s=self.config.command_timeout_s,
        )
        warnings: list[str] = []
        if losses:
            what = ", ".join(
                f"{loss.label} ({'table' if not loss.column else 'column'}, {loss.revision})"
                for loss in losses
            )
            warnings.append(
                f"DATA LOSS: the downgrade to {to} drops {what}; their data is gone afterwards "
                "except in the backup."
            )
        if refilled:
            what = ", ".join(f"{loss.label} ({loss.revision})" for loss in refilled)
            warnings.append(
                f"The downgrade re-creates {what}, dropped by the upgrade, EMPTY: their old data "
                "comes back only from a backup taken before that upgrade."
            )
        return SchemaPlan(target, (step,), tuple(warnings), here, to, revs, losses)

    def _plan_command(self, target: SchemaTarget) -> SchemaPlan:
        if target.mode != "steps":
            raise InvalidTarget(
                "migrations = 'command' can only go down a number of steps (--db-steps N); "
                f"{target.describe()} needs Alembic"
            )
        argv = self._down_argv(target.steps)
        step = Step(
            title=(
                f"Migrate {self.target_label()} down {target.steps} step(s) with the "
                "configured down_command, then read the status again"
            ),
            command=self._shown(argv),
            kind=StepKind.MIGRATION,
            argv=(DB_RUNNER, "command-down", str(target.steps)),
            timeout_s=self.config.command_timeout_s,
        )
        warnings = (
            "Data loss cannot be checked for migrations = 'command': read the down "
            "migrations before confirming (the backup is the way back).",
        )
        return SchemaPlan(target, (step,), warnings)

    def heads_for_release(self, releases_dir: Path | None, release: Revision) -> tuple[str, ...]:
        """The heads the scripts of ``release`` end at, when its folder holds them.

        Known only when ``alembic_ini`` lies inside a release folder under
        ``releases_dir`` (host provider, symlink strategy): the same path in
        the target release's folder is that release's Alembic project.
        Returns () when unknowable.
        """
        candidate = self.release_ini(releases_dir, release)
        if candidate is None:
            return ()
        try:
            return tuple(db_alembic.script_directory(candidate).get_heads())
        except (ProviderError, Exception):
            return ()

    def release_ini(self, releases_dir: Path | None, release: Revision) -> Path | None:
        """``alembic_ini``'s counterpart in ``release``'s folder, when there is one.

        Both paths are resolved first: the configured ``alembic_ini`` usually goes
        through the ``current`` link (``/srv/app/current/db/alembic.ini``), which
        names the same file as ``/srv/app/releases/v1.3.0/db/alembic.ini``.
        """
        ini = self.config.alembic_ini
        if self.config.migrations != "alembic" or ini is None or releases_dir is None:
            return None
        try:
            rel = ini.resolve().relative_to(releases_dir.resolve())
        except (OSError, RuntimeError, ValueError):
            return None
        if len(rel.parts) < 2:
            return None
        candidate = releases_dir / release.id / Path(*rel.parts[1:])
        return candidate if candidate.is_file() else None

    def release_history(
        self, releases_dir: Path | None, release: Revision | None
    ) -> tuple[MigrationRevision, ...]:
        """The migrations ``release`` ships, newest first (its folder's scripts when known,
        else the configured ``alembic_ini``'s); () when there are none to read."""
        ini = self.release_ini(releases_dir, release) if release is not None else None
        try:
            if ini is not None:
                return db_alembic.history(db_alembic.script_directory(ini))
            return self.history()
        except ProviderError:
            return ()

    def backup_revisions(self, path: Path) -> tuple[str, ...]:
        """The revision(s) the backup's ``alembic_version`` table holds (() when it has none).

        Read with ``pg_restore --data-only --table=alembic_version`` (no database
        is touched): the COPY block of that one table.
        """
        pg_restore = find_tool("pg_restore", self.config.pg_bin_dir, None)
        shown = f"pg_restore --data-only --table=alembic_version {path}"
        code, lines = run_collect(
            [pg_restore, "--data-only", "--table=alembic_version", "--file=-", str(path)],
            shown=shown,
            timeout_s=self.config.command_timeout_s,
        )
        if code != 0:
            raise CommandFailed(f"`{shown}` exited {code}: {last_line(lines) or 'no output'}")
        found: list[str] = []
        copying = False
        for line in lines:
            if line.startswith("COPY ") and "alembic_version" in line:
                copying = True
            elif copying and line == "\\.":
                copying = False
            elif copying and line.strip():
                found.append(line.split("\t", 1)[0].strip())
        return tuple(found)

    def crossing(
        self, current: Sequence[str], heads: Sequence[str]
    ) -> tuple[tuple[MigrationRevision, ...], tuple[DataLoss, ...]]:
        """What going from ``current`` down to ``heads`` (a release's scripts) would run and drop.

        ((), ()) when the database is already at one of ``heads``, when it is
        below them, or when either is unknown.
        """
        if (
            self.config.migrations != "alembic"
            or self.config.alembic_ini is None
            or len(current) != 1
            or not heads
            or current[0] in heads
        ):
            return (), ()
        script = db_alembic.script_directory(self.config.alembic_ini)
        try:
            target = db_alembic.resolve_target(script, current, "revision", heads[0])
        except ProviderError:
            return (), ()  # an upgrade, or an unknown revision: nothing to cross down
        revs = db_alembic.crossed(script, current[0], target)
        return revs, db_alembic.downgrade_losses(revs)

    # ----------------------------------------------------------------- running steps

    def run_step(self, step: Step) -> Generator[str, None, str]:
        """Run one of this provider's steps; yields output, returns the line that ends it.

        Backups and checks are run by the flow (it keeps their results); this
        runs the schema steps and observes the revision they leave.
        """
        op = step.argv[1] if len(step.argv) > 1 else ""
        if op == "alembic":
            operation, to, expected = step.argv[2], step.argv[3], step.argv[4]
            return (yield from self._alembic_step(operation, to, expected))
        if op == "command-down":
            return (yield from self._command_down(int(step.argv[2])))
        raise ProviderError(f"unknown database step {op!r}")

    def _alembic_step(self, operation: str, to: str, expected: str) -> Generator[str, None, str]:
        assert self.config.alembic_ini is not None
        want = () if to == db_alembic.BASE else (to,)
        current = self._alembic_current()
        here = ",".join(current) or db_alembic.BASE
        if current == want:
            return f"the database already records {to}: nothing to do"
        if operation == "downgrade" and here != expected:
            raise Conflict(
                f"the database records {here}, not {expected} as planned: someone changed it; "
                "plan again"
            )
        argv = db_alembic.runner_argv(self.config.alembic_ini, self.config.dsn_env, operation, to)
        shown = f"alembic -c {shlex.quote(str(self.config.alembic_ini))} {operation} {to}"
        lines: list[str] = []
        gen = stream(
            argv,
            shown=shown,
            timeout_s=self.config.command_timeout_s,
            env=dict(self.environ),
            scrub=self.secrets(),
        )
        while True:
            try:
                line = next(gen)
            except StopIteration as stop:
                code: int = stop.value
                break
            lines.append(line)
            yield line
        if code != 0:
            raise CommandFailed(
                f"`{shown}` exited {code}: {last_line(lines) or 'no output'}; "
                + self._left_after_failure(here, to)
            )
        after = self._alembic_current()
        if after != want:
            seen = ",".join(after) or db_alembic.BASE
            raise CommandFailed(f"`{shown}` exited 0 but the database records {seen}, not {to}")
        return f"the database now records {to} (was {here})"

    def _left_after_failure(self, here: str, to: str) -> str:
        """What a failed schema step left, read from the database again, in words.

        "nothing was downgraded: the database still records 0004 (users.nickname
        is still there)", or which part ran when the database moved, or that it
        could not be read: never left for the operator to guess.
        """
        try:
            after = self._alembic_current()
        except ProviderError as err:
            return (
                f"the database's revision could not be read afterwards ({self.scrub(str(err))}): "
                "check it (alembic current) before anything else"
            )
        now = ",".join(after) or db_alembic.BASE
        dropped: tuple[DataLoss, ...] = ()
        kept: tuple[DataLoss, ...] = ()
        ini = self.config.alembic_ini
        try:
            if ini is None:
                raise ProviderError("no alembic_ini")
            script = db_alembic.script_directory(ini)
            if now != here and len(after) <= 1:
                dropped = db_alembic.downgrade_losses(db_alembic.crossed(script, here, now))
            if now != to and len(after) <= 1 and now != db_alembic.BASE:
                kept = db_alembic.downgrade_losses(db_alembic.crossed(script, now, to))
        except Exception:  # the words below still say where the database is
            dropped = kept = ()
        still = f"{_labels(kept)} {'is' if len(kept) == 1 else 'are'} still there" if kept else ""
        if now == here:
            return f"nothing was downgraded: the database still records {here}" + (
                f" ({still})" if still else ""
            )
        gone = f"; dropped: {_labels(dropped)}" if dropped else ""
        return (
            f"part of the downgrade ran: the database now records {now} "
            f"(was {here}, planned {to}){gone}" + (f"; {still}" if still else "")
        )

    def _command_down(self, steps: int) -> Generator[str, None, str]:
        argv = self._down_argv(steps)
        shown = self._shown(argv)
        lines: list[str] = []
        gen = stream(
            argv,
            shown=shown,
            timeout_s=self.config.command_timeout_s,
            env=dict(self.environ),
            cwd=self._workdir(),
            scrub=self.secrets(),
        )
        while True:
            try:
                line = next(gen)
            except StopIteration as stop:
                code: int = stop.value
                break
            lines.append(line)
            yield line
        if code != 0:
            try:
                status_code, status = self.run_status_command()
                now = last_line(status) if status_code == 0 else ""
            except ProviderError:
                now = ""
            left = (
                f"the status command now says: {now}"
                if now
                else "the status could not be read afterwards: check it before anything else"
            )
            raise CommandFailed(
                f"`{shown}` exited {code}: {last_line(lines) or 'no output'}; {left}"
            )
        status_code, status = self.run_status_command()
        for line in status:
            yield f"status: {line}"
        if status_code != 0:
            raise CommandFailed(
                f"`{shown}` exited 0 but `{self._shown(self._status_argv())}` exited "
                f"{status_code}: {last_line(status) or 'no output'}"
            )
        return f"migrated down {steps} step(s); status now: {last_line(status) or '(no output)'}"

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


def _labels(losses: Sequence[DataLoss]) -> str:
    """``users.nickname, audit_log``: each column or table once, in order."""
    return ", ".join(dict.fromkeys(loss.label for loss in losses))


def _cell(value: object) -> str:
    return "NULL" if value is None else str(value)


def _replace(status: DatabaseStatus, **changes: Any) -> DatabaseStatus:
    import dataclasses

    return dataclasses.replace(status, **changes)


__all__ = [
    "DB_RUNNER",
    "DatabaseProvider",
    "DsnError",
    "SchemaPlan",
    "is_database_step",
]
