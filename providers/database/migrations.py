"""Alembic for the database provider: history, current revision, what a downgrade crosses.

Read-only questions are answered in-process through Alembic's own API
(``ScriptDirectory`` for the scripts, ``MigrationContext`` for the revision
the database records).  Changing the schema (``downgrade`` / ``stamp``) runs
``alembic.command`` in a child interpreter (``python -m providers.database.alembic_child``)
so the project's ``env.py`` and its logging set-up never touch the console's
process, its output streams line by line, and a time limit can stop it.  The
child reads the DSN from the same environment variable, never from its argv.

What a downgrade destroys is found by reading the migration scripts: every
``op.drop_column`` / ``op.drop_table`` (also through ``batch_alter_table``)
and every ``DROP TABLE`` / ``DROP COLUMN`` in raw SQL inside ``downgrade()``
of each revision crossed, naming ``table.column``.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.model import DataLoss, MigrationRevision
from providers.base import InvalidTarget, NotFound, ProviderError

if TYPE_CHECKING:
    from alembic.script import Script, ScriptDirectory

#: What ``alembic`` calls the revision below the first one.
BASE = "base"


class AlembicError(ProviderError):
    """The Alembic project could not be read (bad alembic.ini, broken script)."""


def script_directory(ini: Path) -> ScriptDirectory:
    """The project's scripts, as ``alembic -c INI`` would load them."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    if not ini.is_file():
        raise AlembicError(f"alembic_ini {ini} does not exist")
    try:
        return ScriptDirectory.from_config(Config(str(ini)))
    except CommandError as exc:
        raise AlembicError(f"cannot read the Alembic project {ini}: {exc}") from None


def history(script: ScriptDirectory) -> tuple[MigrationRevision, ...]:
    """Every revision, newest first (heads first, walking down)."""
    from alembic.util import CommandError

    heads = set(script.get_heads())
    try:
        return tuple(_revision(s, heads) for s in script.walk_revisions())
    except CommandError as exc:
        raise AlembicError(f"cannot walk the migration history: {exc}") from None


def _revision(script: Script, heads: set[str]) -> MigrationRevision:
    down = script.down_revision
    downs: tuple[str, ...] = (
        () if down is None else (down,) if isinstance(down, str) else tuple(down)
    )
    return MigrationRevision(
        id=script.revision,
        message=(script.doc or "").strip().splitlines()[0] if script.doc else "",
        down=downs,
        is_head=script.revision in heads,
        path=script.path,
    )


def current_revisions(connection: Any) -> tuple[str, ...]:
    """The revision(s) the database records, read with ``MigrationContext`` (() = none)."""
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection)
    return tuple(context.get_current_heads())


def resolve_target(script: ScriptDirectory, current: Sequence[str], mode: str, value: str) -> str:
    """The revision a downgrade or stamp ends at ("base" for below the first one).

    ``mode`` is "steps" (``value`` a count), "revision" or "stamp".  Raises
    ``NotFound`` for an unknown revision and ``InvalidTarget`` for a target the
    database cannot go down to from ``current``.
    """
    from alembic.util import CommandError

    if mode == "stamp":
        if value == BASE:
            return BASE
        return _known(script, value)
    if len(current) != 1:
        state = "records no revision" if not current else f"has {len(current)} heads"
        raise InvalidTarget(f"the database {state}: nothing to downgrade from")
    here = current[0]
    if mode == "steps":
        steps = int(value)
        rev = here
        for taken in range(steps):
            if rev == BASE:
                raise InvalidTarget(
                    f"only {taken} migration(s) lie below {here}: cannot go down {steps}"
                )
            script_rev = script.get_revision(rev)
            if script_rev is None:
                raise InvalidTarget(f"the database's revision {here} is not in the scripts")
            down = script_rev.down_revision
            if down is None:
                rev = BASE
            elif isinstance(down, str):
                rev = down
            else:
                raise InvalidTarget(
                    f"{rev} is a merge of {', '.join(down)}: choose the revision with --db-to"
                )
        return rev
    target = BASE if value == BASE else _known(script, value)
    if target == here:
        raise InvalidTarget(f"the database is already at {here}")
    try:
        below = {s.revision for s in script.iterate_revisions(here, BASE)}
    except CommandError as exc:
        raise InvalidTarget(f"cannot walk down from {here}: {exc}") from None
    if target != BASE and target not in below:
        raise InvalidTarget(
            f"{target} is not below the database's revision {here}: that would be an upgrade"
        )
    return target


def _known(script: ScriptDirectory, value: str) -> str:
    from alembic.util import CommandError

    try:
        found = script.get_revision(value)
    except CommandError as exc:
        raise NotFound(f"unknown migration revision {value!r}: {exc}") from None
    if found is None:
        raise NotFound(f"unknown migration revision {value!r}")
    return str(found.revision)


def crossed(script: ScriptDirectory, current: str, target: str) -> tuple[MigrationRevision, ...]:
    """The revisions whose ``downgrade()`` runs going from ``current`` down to ``target``."""
    heads = set(script.get_heads())
    lower = None if target == BASE else target
    return tuple(
        _revision(s, heads)
        for s in script.iterate_revisions(current, lower or BASE)
        if s.revision != lower
    )


# --------------------------------------------------------------------------- data loss


_DROP_TABLE_SQL = re.compile(r"\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?([\w.\"]+)", re.IGNORECASE)
_DROP_COLUMN_SQL = re.compile(
    r"\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?([\w.\"]+)\s+"
    r"(?:.*?,\s*)?DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?([\w\"]+)",
    re.IGNORECASE | re.DOTALL,
)


def function_drops(path: str | Path, function: str, revision: str) -> tuple[DataLoss, ...]:
    """Columns and tables ``function`` ("downgrade" / "upgrade") of one script drops."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return ()
    body = next(
        (
            node
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function
        ),
        None,
    )
    if body is None:
        return ()
    return tuple(_DropFinder(revision).scan(body))


class _DropFinder:
    """Walks one function, tracking ``with op.batch_alter_table(T) as NAME`` aliases."""

    def __init__(self, revision: str) -> None:
        self.revision = revision
        self.batch: dict[str, str] = {}

    def scan(self, func: ast.AST) -> Iterator[DataLoss]:
        for node in ast.walk(func):
            if isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    call = item.context_expr
                    if (
                        isinstance(call, ast.Call)
                        and _attr_name(call.func) == "batch_alter_table"
                        and isinstance(item.optional_vars, ast.Name)
                    ):
                        table = _arg(call, 0, "table_name")
                        self.batch[item.optional_vars.id] = table
        calls = [node for node in ast.walk(func) if isinstance(node, ast.Call)]
        for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset)):
            yield from self._call(call)

    def _call(self, call: ast.Call) -> Iterator[DataLoss]:
        name = _attr_name(call.func)
        owner = call.func.value if isinstance(call.func, ast.Attribute) else None
        alias = owner.id if isinstance(owner, ast.Name) else ""
        if name == "drop_column":
            if alias in self.batch:
                column = _arg(call, 0, "column_name")
                yield DataLoss(self.revision, self.batch[alias], column, "drop_column")
            else:
                table, column = _arg(call, 0, "table_name"), _arg(call, 1, "column_name")
                yield DataLoss(self.revision, table, column, "drop_column")
        elif name == "drop_table":
            yield DataLoss(self.revision, _arg(call, 0, "table_name"), "", "drop_table")
        elif name == "execute" and call.args:
            sql = _string(call.args[0])
            if sql:
                yield from self._sql(sql)

    def _sql(self, sql: str) -> Iterator[DataLoss]:
        for match in _DROP_TABLE_SQL.finditer(sql):
            yield DataLoss(self.revision, match.group(1).replace('"', ""), "", "sql")
        for match in _DROP_COLUMN_SQL.finditer(sql):
            table = match.group(1).replace('"', "")
            column = match.group(2).replace('"', "")
            if column.upper() not in ("CONSTRAINT", "DEFAULT", "NOT"):
                yield DataLoss(self.revision, table, column, "sql")


def _attr_name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else ""


def _arg(call: ast.Call, index: int, keyword: str) -> str:
    """A call's string argument by position or keyword; "?" when it is computed."""
    for kw in call.keywords:
        if kw.arg == keyword:
            return _string(kw.value) or "?"
    if index < len(call.args):
        return _string(call.args[index]) or "?"
    return "?"


def _string(node: ast.expr) -> str:
    """A string literal, also inside ``sa.text("...")`` / ``text("...")``; "" otherwise."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name == "text":
            return _string(node.args[0])
    return ""


def downgrade_losses(revisions: Sequence[MigrationRevision]) -> tuple[DataLoss, ...]:
    """What the downgrades of ``revisions`` drop, in the order they run."""
    return tuple(
        loss for rev in revisions for loss in function_drops(rev.path, "downgrade", rev.id)
    )


def upgrade_drops(revisions: Sequence[MigrationRevision]) -> tuple[DataLoss, ...]:
    """What the upgrades of ``revisions`` dropped: a downgrade re-creates it empty."""
    return tuple(loss for rev in revisions for loss in function_drops(rev.path, "upgrade", rev.id))


# --------------------------------------------------------------------------- child runner


def runner_argv(ini: Path, dsn_env: str, operation: str, revision: str) -> list[str]:
    """The child interpreter's argv for ``downgrade`` / ``stamp`` (no DSN in it)."""
    return [
        sys.executable,
        "-m",
        "providers.database.alembic_child",
        "--ini",
        str(ini),
        "--dsn-env",
        dsn_env,
        operation,
        revision,
    ]
