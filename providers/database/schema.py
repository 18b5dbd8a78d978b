"""What a schema rollback does, planned and run: downgrade N steps or to a revision, or stamp
(Alembic), or the configured down command; and which schema a release's scripts expect.

A ``db.schema`` step's params say what runs (``mode``: "downgrade", "stamp" or
"command"; ``from``, ``to``, ``steps``); its command is rendered from them.
Running it observes the revision it leaves, and a failed run is read back
and says where it left the database.
"""

from __future__ import annotations

import shlex
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.model import DataLoss, MigrationRevision, Revision, SchemaTarget, Step, StepKind
from console.process import last_line, stream
from providers.base import CommandFailed, Conflict, InvalidTarget, ProviderError
from providers.database import migrations
from providers.database.connection import DatabaseConnection

#: The op of a schema step.
SCHEMA_OP = "db.schema"


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


class Schema(DatabaseConnection):
    """Schema steps: planned from a ``SchemaTarget``, rendered and run from their params."""

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
        script = migrations.script_directory(ini)
        current = self._alembic_current()
        value = str(target.steps) if target.mode == "steps" else target.revision
        mode = target.mode
        to = migrations.resolve_target(script, current, mode, value)
        here = current[0] if len(current) == 1 else ",".join(current) or migrations.BASE
        if mode == "stamp":
            step = self.schema_step(
                f"Stamp {self.target_label()} as revision {to} (records the revision "
                f"only: no migration runs; was {here})",
                {"mode": "stamp", "from": here, "to": to, "steps": 0},
            )
            stamp_warning = (
                f"Stamp only rewrites the recorded schema revision ({here} -> {to}); the tables "
                f"are left as they are, so they must already match revision {to}."
            )
            return SchemaPlan(target, (step,), (stamp_warning,), here, to)
        revs = migrations.crossed(script, here, to)
        losses = migrations.downgrade_losses(revs)
        refilled = migrations.upgrade_drops(revs)
        names = {r.id: r.message for r in migrations.history(script)}
        label = f"{to} ({names[to]})" if to in names else to
        # The command names the revision the step runs to (what the console executes),
        # also for "N steps": "-1" would mean another revision if the database moved.
        count = f" ({len(revs)} step{'s' if len(revs) != 1 else ''})" if mode == "steps" else ""
        step = self.schema_step(
            f"Downgrade the schema of {self.target_label()} from {here} to {label}{count}: "
            f"runs downgrade() of {', '.join(r.id for r in revs)}",
            {"mode": "downgrade", "from": here, "to": to, "steps": len(revs)},
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
        step = self.schema_step(
            f"Migrate {self.target_label()} down {target.steps} step(s) with the "
            "configured down_command, then read the status again",
            {"mode": "command", "from": "", "to": "", "steps": target.steps},
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
            return tuple(migrations.script_directory(candidate).get_heads())
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
                return migrations.history(migrations.script_directory(ini))
            return self.history()
        except ProviderError:
            return ()

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
        script = migrations.script_directory(self.config.alembic_ini)
        try:
            target = migrations.resolve_target(script, current, "revision", heads[0])
        except ProviderError:
            return (), ()  # an upgrade, or an unknown revision: nothing to cross down
        revs = migrations.crossed(script, current[0], target)
        return revs, migrations.downgrade_losses(revs)

    # ----------------------------------------------------------------- running steps

    def schema_step(self, title: str, params: Mapping[str, Any]) -> Step:
        """A ``db.schema`` step, its command rendered from ``params``."""
        return Step(
            title=title,
            command=self.render_schema(params),
            kind=StepKind.MIGRATION,
            timeout_s=self.config.command_timeout_s,
            op=SCHEMA_OP,
            params=dict(params),
        )

    def render_schema(self, params: Mapping[str, Any]) -> str:
        """The command an operator would type: ``alembic -c INI downgrade 0002``, or the
        configured down command.  It names the revision the step runs to, also for "N
        steps" ("-1" would mean another revision if the database moved meanwhile)."""
        mode = params["mode"]
        if mode == "command":
            return self._shown(self._down_argv(int(params["steps"])))
        ini = shlex.quote(str(self.config.alembic_ini))
        return f"alembic -c {ini} {mode} {params['to']}"

    def run_step(self, step: Step) -> Generator[str, None, str]:
        """Run a ``db.schema`` step; yields output, returns the line that ends it.

        Backups and checks are run by the flow's database part (it keeps their
        results); this runs the schema steps and observes the revision they leave.
        """
        params = step.params
        mode = params.get("mode")
        if mode in ("downgrade", "stamp"):
            to, expected = str(params["to"]), str(params["from"])
            return (yield from self._alembic_step(str(mode), to, expected))
        if mode == "command":
            return (yield from self._command_down(int(params["steps"])))
        raise ProviderError(f"unknown schema step {mode!r} ({step.op})")

    def schema_took_effect(self, step: Step) -> bool | None:
        """Whether the database records the revision the step leads to (None: cannot tell)."""
        mode = step.params.get("mode")
        if mode not in ("downgrade", "stamp"):
            return None
        to = str(step.params["to"])
        try:
            current = self._alembic_current()
        except ProviderError:
            return None
        return current == (() if to == migrations.BASE else (to,))

    def _alembic_step(self, operation: str, to: str, expected: str) -> Generator[str, None, str]:
        assert self.config.alembic_ini is not None
        want = () if to == migrations.BASE else (to,)
        current = self._alembic_current()
        here = ",".join(current) or migrations.BASE
        if current == want:
            return f"the database already records {to}: nothing to do"
        if operation == "downgrade" and here != expected:
            raise Conflict(
                f"the database records {here}, not {expected} as planned: someone changed it; "
                "plan again"
            )
        argv = migrations.runner_argv(self.config.alembic_ini, self.config.dsn_env, operation, to)
        shown = self.render_schema({"mode": operation, "to": to})
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
            seen = ",".join(after) or migrations.BASE
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
        now = ",".join(after) or migrations.BASE
        dropped: tuple[DataLoss, ...] = ()
        kept: tuple[DataLoss, ...] = ()
        ini = self.config.alembic_ini
        try:
            if ini is None:
                raise ProviderError("no alembic_ini")
            script = migrations.script_directory(ini)
            if now != here and len(after) <= 1:
                dropped = migrations.downgrade_losses(migrations.crossed(script, here, now))
            if now != to and len(after) <= 1 and now != migrations.BASE:
                kept = migrations.downgrade_losses(migrations.crossed(script, now, to))
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


def _labels(losses: Sequence[DataLoss]) -> str:
    """``users.nickname, audit_log``: each column or table once, in order."""
    return ", ".join(dict.fromkeys(loss.label for loss in losses))
