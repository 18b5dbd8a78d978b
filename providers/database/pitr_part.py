"""Runs the ``pitr.*`` steps of a point-in-time recovery (planned in ``pitr``).

Each step reads back what it did, and on resume ``took_effect`` reads the
machine, never the journal alone: the new data directory exists (it is
renamed into place only when complete), the new server runs (``pg_ctl
status``), it has left recovery, the env file holds the new DSN.  So a
restore killed half-way is found again by its instance's name and nothing is
started twice.  Nothing here deletes a data directory: an incomplete copy
left by a crash is moved aside, never removed.

The new server's DSN is the live one (``dsn_env``) with the restored server's
host and port: it is built when a step runs, never put in a step's params,
and never printed (host, port and database name only).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

from console.config import ServiceConfig
from console.model import Plan, Step, utcnow
from console.process import run_checked
from console.runner import Skipped
from providers.base import CommandFailed, ProviderError, TimedOut
from providers.database.connection import DatabaseConnection
from providers.database.pg import Dsn, find_tool
from providers.database.pitr import (
    CHECKS_OP,
    MARKER,
    OPS,
    PROMOTE_OP,
    RESTORE_OP,
    START_OP,
    SWITCH_OP,
)

#: How often the promotion wait looks again.
POLL_S = 0.3


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


class PitrPart:
    """The part that owns the ``pitr.*`` ops: restore, start, promote, checks, switch."""

    ops = OPS

    def __init__(self, service: ServiceConfig, environ: Mapping[str, str] | None = None) -> None:
        self.service = service
        self.live = DatabaseConnection(service, environ)
        self._environ = environ

    # ----------------------------------------------------------------- helpers

    def _dsn(self, step: Step) -> str:
        return new_dsn(self.live.dsn(), str(step.params.get("host", "")), int(step.params["port"]))

    def _restored(self, step: Step) -> DatabaseConnection:
        env = dict(os.environ if self._environ is None else self._environ)
        assert self.service.database is not None
        env[self.service.database.dsn_env] = self._dsn(step)
        return DatabaseConnection(self.service, env)

    def _where(self, step: Step) -> str:
        dsn = self.live.dsn()
        host = str(step.params.get("host", "")) or dsn.params.get("host", "") or "127.0.0.1"
        return f"{dsn.database} on {host}:{step.params['port']}"

    def _pg_ctl(self, step: Step, *args: str) -> list[str]:
        assert self.service.database is not None
        tool = find_tool("pg_ctl", self.service.database.pg_bin_dir)
        argv = [tool, "-D", str(step.params["data_dir"]), *args]
        user = str(step.params.get("os_user", ""))
        return ["runuser", "-u", user, "--", *argv] if user else argv

    def _running(self, step: Step) -> bool:
        argv = self._pg_ctl(step, "status")
        try:
            done = subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode == 0

    # ----------------------------------------------------------------- the part

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        if step.op == RESTORE_OP:
            return (yield from self._restore(step))
        if step.op == START_OP:
            return (yield from self._start(step))
        if step.op == PROMOTE_OP:
            return (yield from self._promote(step))
        if step.op == CHECKS_OP:
            return (yield from self._checks(step))
        if step.op == SWITCH_OP:
            return (yield from self._switch(step))
        raise ProviderError(f"pitr: unknown op {step.op!r}")

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        if step.op == RESTORE_OP:
            return (Path(step.params["data_dir"]) / MARKER).is_file()
        if step.op == START_OP:
            return self._running(step)
        if step.op == PROMOTE_OP:
            try:
                return self._in_recovery(step) is False
            except ProviderError:
                return False
        if step.op == SWITCH_OP:
            return self._env_value(step) == self._dsn(step)
        return None

    # ----------------------------------------------------------------- restore

    def _restore(self, step: Step) -> Generator[str, None, str]:
        """Copy the base backup to ``DATA.copying``, add recovery settings, rename into place."""
        data_dir = Path(step.params["data_dir"])
        if (data_dir / MARKER).is_file():
            return Skipped(f"{data_dir} is there already (restored before): not copied again")
        if data_dir.exists():
            aside = data_dir.with_name(f"{data_dir.name}.incomplete-{utcnow():%Y%m%dT%H%M%S}")
            data_dir.rename(aside)
            yield f"an incomplete {data_dir.name} was moved aside to {aside.name} (not deleted)"
        copying = data_dir.with_name(data_dir.name + ".copying")
        if copying.exists():
            aside = copying.with_name(f"{copying.name}-{utcnow():%Y%m%dT%H%M%S}")
            copying.rename(aside)
            yield f"an interrupted copy was moved aside to {aside.name} (not deleted)"
        base = Path(step.params["base_backup"])
        yield f"copying {base} to {data_dir}"
        try:
            data_dir.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(base, copying, symlinks=True)
            for stale in ("postmaster.pid", "postmaster.opts"):
                (copying / stale).unlink(missing_ok=True)
            (copying / "recovery.signal").write_text("")
            archive = str(step.params["wal_archive_dir"]).replace("'", "''")
            sockets = str(data_dir.parent).replace("'", "''")
            settings = (
                "\n# point-in-time recovery by rollback-console\n"
                f'restore_command = \'cp "{archive}/%f" "%p"\'\n'
                f"recovery_target_time = '{step.params['target_time']}'\n"
                "recovery_target_action = 'promote'\n"
                "recovery_target_inclusive = off\n"
                f"port = {int(step.params['port'])}\n"
                "archive_mode = off\n"
                f"unix_socket_directories = '{sockets}'\n"
            )
            with open(copying / "postgresql.auto.conf", "a") as conf:
                conf.write(settings)
            (copying / MARKER).write_text(
                f"restored by rollback-console for {self.service.label}: "
                f"{step.params['instance']} = {base.name} + WAL to {step.params['target_time']}\n"
            )
            copying.chmod(0o700)
            user = str(step.params.get("os_user", ""))
            if user:
                for root, dirs, files in os.walk(copying):
                    for name in (*dirs, *files):
                        shutil.chown(os.path.join(root, name), user=user)
                shutil.chown(copying, user=user)
            copying.rename(data_dir)
        except OSError as exc:
            raise CommandFailed(f"cannot make {data_dir}: {exc.strerror or exc}") from None
        return f"{data_dir} made from {base.name} (recovery to {step.params['target_time']})"

    def _start(self, step: Step) -> Generator[str, None, str]:
        if self._running(step):
            return Skipped(f"{step.params['instance']} runs already: not started twice")
        log = f"{step.params['data_dir']}.log"
        argv = self._pg_ctl(step, "-l", log, "-w", "-t", str(int(step.timeout_s)), "start")
        yield from run_checked(argv, shown=step.command, timeout_s=step.timeout_s + 10)
        return f"{step.params['instance']} started on port {step.params['port']}"

    def _in_recovery(self, step: Step) -> bool:
        with self._restored(step).connect() as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        return bool(row and row[0])

    def _promote(self, step: Step) -> Generator[str, None, str]:
        """Wait (bounded) until the server left recovery; a server that stopped is a failure."""
        deadline = time.monotonic() + float(step.params.get("timeout_s", step.timeout_s))
        said = ""
        while True:
            try:
                if not self._in_recovery(step):
                    return f"{self._where(step)} has replayed the WAL and was promoted"
                line = "still replaying the archived WAL"
            except ProviderError as err:
                if not self._running(step):
                    raise CommandFailed(
                        f"{step.params['instance']} stopped during recovery: {self._log_tail(step)}"
                    ) from None
                line = f"not answering yet ({err})"
            if line != said:
                said = line
                yield line
            if time.monotonic() >= deadline:
                raise TimedOut(
                    f"{step.params['instance']} did not finish recovery within "
                    f"{step.params.get('timeout_s')} s ({line}); it keeps running"
                )
            time.sleep(POLL_S)

    def _log_tail(self, step: Step) -> str:
        try:
            lines = Path(f"{step.params['data_dir']}.log").read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        wanted = [x for x in lines if "FATAL" in x or "PANIC" in x] or lines[-1:]
        return self.live.scrub(wanted[-1].strip() if wanted else "(empty server log)")

    def _checks(self, step: Step) -> Generator[str, None, str]:
        """The configured checks on the live database and on the restored one, side by side."""
        try:
            live = {c.name: c for c in self.live.run_checks()}
        except ProviderError as err:
            live = {}
            yield f"live database: checks could not run ({err})"
        try:
            new = {c.name: c for c in self._restored(step).run_checks()}
        except ProviderError as err:
            return Skipped(f"restored database: checks could not run ({err})")
        for name, result in new.items():
            before = live.get(name)
            shown_live = (before.value if before.ok else f"error {before.error}") if before else "-"
            shown_new = result.value if result.ok else f"error {result.error}"
            yield f"check {name}: live {shown_live} | restored {shown_new}"
        return f"{len(new)} check(s) on {self._where(step)} beside the live database"

    # ----------------------------------------------------------------- switch

    def _env_value(self, step: Step) -> str | None:
        key = str(step.params["key"])
        try:
            lines = Path(step.params["env_file"]).read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            name, sep, value = line.partition("=")
            if sep and name.strip().removeprefix("export ").strip() == key:
                return value.strip().strip('"').strip("'")
        return None

    def _switch(self, step: Step) -> Generator[str, None, str]:
        """Write ``KEY=<new DSN>`` into the env file (atomically; the old file kept beside it)."""
        path = Path(step.params["env_file"])
        key = str(step.params["key"])
        dsn = self._dsn(step)
        if self._env_value(step) == dsn:
            return Skipped(f"{key} in {path} points at {self._where(step)} already")
        try:
            old = path.read_text() if path.exists() else ""
            keep = path.with_name(f"{path.name}.before-{step.params['instance']}")
            if not keep.exists():
                keep.write_text(old)
                keep.chmod(0o600)
                yield f"the previous {path.name} is kept as {keep}"
            lines, found = [], False
            for line in old.splitlines():
                name = line.partition("=")[0].strip().removeprefix("export ").strip()
                if "=" in line and name == key:
                    lines.append(f"{key}={dsn}")
                    found = True
                else:
                    lines.append(line)
            if not found:
                lines.append(f"{key}={dsn}")
            tmp = path.with_name(f".{path.name}.pitr-tmp")
            tmp.write_text("\n".join(lines) + "\n")
            mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
            tmp.chmod(mode)
            os.replace(tmp, path)
        except OSError as exc:
            raise CommandFailed(f"cannot write {path}: {exc.strerror or exc}") from None
        if self._env_value(step) != dsn:
            raise CommandFailed(f"{path}: {key} does not read back as the new DSN")
        return f"{key} in {path} now points at {self._where(step)}"


def describe(params: Mapping[str, Any]) -> str:
    """What a restored instance is, for a record: name, port, data directory."""
    return f"{params.get('instance')} (port {params.get('port')}, data {params.get('data_dir')})"
