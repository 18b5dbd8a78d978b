"""The one interface a host's release strategy implements (symlinked folders, a git checkout).

``HostProvider`` does everything both strategies share (plans, commands,
units, readiness, warnings) and asks its strategy only what differs: where
the releases are and which is live, how a target is found, the switch step
(and the part that runs it), whether the live code is the target's, and
which release a process runs.  A new strategy is a new module implementing
``Releases``, not a new branch in the provider.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from console.model import Difference, Revision, Snapshot, Step, Unit
from providers.base import Part


def version_key(name: str) -> tuple[tuple[int, int, str], ...]:
    """Natural sort key: ``v1.10.0`` sorts after ``v1.9.0``, numbers compare as numbers."""
    return tuple(
        (1, int(part), "") if part.isdigit() else (0, 0, part.lower())
        for part in re.findall(r"\d+|\D+", name)
    )


class Releases(Protocol):
    """A host's releases, and how one of them becomes the live one."""

    @property
    def part(self) -> Part:
        """The part that runs this strategy's switch step (``host.symlink``, ``host.git``)."""
        ...

    @property
    def where(self) -> str:
        """Where the releases are, as a "none (no releases in ...)" message names it."""
        ...

    @property
    def listing_note(self) -> str:
        """Said after the list of known releases in a "not found" message ("" for none)."""
        ...

    def state(self, notes: list[str]) -> tuple[Revision | None, tuple[Revision, ...]]:
        """The live release and every release, newest first; notes for what is odd."""
        ...

    def find(self, snap: Snapshot, target: str) -> Revision | None:
        """A target the snapshot's ids and versions do not name (a commit prefix); None."""
        ...

    def switch_step(self, snap: Snapshot, to: Revision, warnings: list[str]) -> Step:
        """The typed step making ``to`` live (``InvalidTarget`` if it cannot); adds warnings."""
        ...

    def at_target(self, to: Revision) -> tuple[bool, str]:
        """Whether the live code is ``to``'s, and the words saying where it is."""
        ...

    def release_of(self, cwd: Path | None) -> str:
        """The release a process with working directory ``cwd`` runs ("" when not known)."""
        ...

    def serves(self, unit: Unit, to: Revision) -> bool:
        """Whether ``unit`` is a running process of release ``to``."""
        ...

    def release_folder(self, revision_id: str) -> Path | None:
        """The folder of release ``revision_id``; None when releases are not folders."""
        ...

    def differences(self, live: Revision, target: Revision) -> tuple[Difference, ...]:
        """What differs from ``live`` to ``target`` ("What changes"; ``providers.host.diff``)."""
        ...
