"""Database steps as journals written before steps were typed hold them.

Until steps had an ``op``, a database step said what it was in its argv: a
marker that is no program (below) then ``backup PATH``, ``checks PHASE``,
``restore PATH``, ``alembic OPERATION TO FROM`` or ``command-down N``.  Such
a journal must still resume (the journal format is a contract), so its
steps are read into the typed steps they stand for, with their title and
command as they were confirmed.  Nothing else reads an argv: this module is
the one place the old marker is known.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from console.model import Step
from providers.database.provider import BACKUP_OP, CHECKS_OP, RESTORE_OP
from providers.database.schema import SCHEMA_OP

#: ``argv[0]`` of a database step in a journal written before steps were typed.
OLD_MARKER = "@database"


def typed_step(step: Step) -> Step:
    """``step`` as a typed step when it is an old-format database step; else ``step``."""
    argv = step.argv
    if step.op or len(argv) < 3 or argv[0] != OLD_MARKER:
        return step
    what = argv[1]
    op: str
    params: dict[str, Any]
    if what == "backup":
        op, params = BACKUP_OP, {"path": argv[2]}
    elif what == "restore":
        op, params = RESTORE_OP, {"path": argv[2]}
    elif what == "checks":
        op, params = CHECKS_OP, {"phase": argv[2]}
    elif what == "alembic" and len(argv) > 4:
        op, params = SCHEMA_OP, {"mode": argv[2], "to": argv[3], "from": argv[4], "steps": 0}
    elif what == "command-down" and argv[2].isdigit():
        op, params = SCHEMA_OP, {"mode": "command", "from": "", "to": "", "steps": int(argv[2])}
    else:
        return step
    return dataclasses.replace(step, op=op, params=params, argv=())
