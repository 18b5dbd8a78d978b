"""Backups of the service's database: ``pg_dump -Fc`` verified with ``pg_restore --list``,
listed, read, and restored in one transaction.

The DSN never reaches an argv: the tools get a connection string without the
password and the password in ``PGPASSWORD``; the command an operator sees
names the variable (``pg_dump -Fc --dbname "$DATABASE_URL" ...``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import time
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path

from console.durable import create_fresh, os_reason
from console.model import BackupInfo, format_bytes, utcnow
from console.process import last_line, run_collect, stream
from providers.base import CommandFailed, NotFound, ProviderError
from providers.database.connection import DatabaseConnection
from providers.database.pg import Dsn, find_tool

#: Backups are named SERVICE-DATABASE-YYYYmmddTHHMMSSZ.dump.
BACKUP_SUFFIX = ".dump"
#: The line of ``pg_restore --list``'s header that says when the dump was taken.
ARCHIVE_CREATED = "; Archive created at"
#: ``pg_restore --list`` counts by (path, size, mtime): a backup file never changes
#: once named, so the status poll lists each one once.
_LISTED: dict[tuple[str, int, int], BackupInfo] = {}


class Backups(DatabaseConnection):
    """Taking, verifying, listing and restoring backups."""

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
