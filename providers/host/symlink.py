"""The symlink strategy: every sub-folder of ``releases_dir`` is a release, ``current_link``
points at the live one.

The switch (op ``host.symlink``) is atomic: a new symlink beside the link,
then ``rename(2)`` over it, so a process that resolves the link mid-rollback
sees the old or the new release, never none; the command shown to the
operator stays the ``ln -sfn`` they would type.  Before switching, the link
must still point where it did when the plan was made (``from_release``):
otherwise someone else is rolling back, and nothing is touched.  After it,
the link is read back: "finished" means it was seen pointing at the target.
"""

from __future__ import annotations

import os
import shlex
import uuid
from collections.abc import Generator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.config import HostConfig
from console.model import Difference, Plan, Revision, Snapshot, Step, StepKind, Unit
from providers.base import (
    CommandFailed,
    Conflict,
    Forbidden,
    InvalidTarget,
    NotFound,
    ProviderError,
    Unavailable,
)
from providers.host.diff import folder_differences
from providers.host.release_notes import change_of
from providers.host.strategy import version_key

OP = "host.symlink"


def current_release_id(link: Path, releases_dir: Path, notes: list[str]) -> str | None:
    """The release folder ``link`` resolves to, or None with a note saying why not."""
    if not os.path.lexists(link):
        notes.append(f"{link} does not exist: no release is live")
        return None
    if not link.is_symlink():
        notes.append(f"{link} is not a symlink, so no release folder is live through it")
        return None
    target = Path(os.path.realpath(link))
    if not target.exists():
        notes.append(f"{link} points to {os.readlink(link)}, which does not exist")
        return None
    try:
        rel = target.relative_to(os.path.realpath(releases_dir))
    except ValueError:
        notes.append(f"{link} points to {target}, outside {releases_dir}")
        return None
    if not rel.parts:
        notes.append(f"{link} points to the releases folder itself, not a release")
        return None
    if len(rel.parts) > 1:
        notes.append(f"{link} points inside release {rel.parts[0]} ({target})")
    return rel.parts[0]


def render(params: Mapping[str, Any]) -> str:
    """The ``ln -sfn`` an operator would type for a ``host.symlink`` step's params."""
    target = Path(params["releases_dir"]) / str(params["release"])
    return shlex.join(("ln", "-sfn", str(target), str(params["link"])))


class SymlinkPart:
    """Runs ``host.symlink`` steps and reads back whether one took effect."""

    ops = frozenset({OP})

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        """Atomically repoint the link: new symlink beside it, then rename over it."""
        params = step.params
        link = Path(params["link"])
        releases_dir = Path(params["releases_dir"])
        target = releases_dir / str(params["release"])
        live = current_release_id(link, releases_dir, [])
        expected = params.get("from_release")
        if live != expected:
            raise Conflict(
                f"{link} changed since the plan was made: it points to "
                f"{live or 'no release'}, not {expected or 'no release'}; "
                "someone else may be rolling back — look again before retrying"
            )
        if not target.is_dir():
            raise NotFound(f"release folder {target} no longer exists")
        if os.path.lexists(link) and not link.is_symlink():
            raise InvalidTarget(f"{link} is a real file or folder, not a symlink; not replacing it")
        temp = link.with_name(f".{link.name}.rollback-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            os.symlink(target, temp)
            try:
                os.replace(temp, link)
            except OSError:
                temp.unlink(missing_ok=True)
                raise
            observed = os.readlink(link)
        except PermissionError as exc:
            raise Forbidden(f"cannot point {link} at {target}: {exc.strerror}") from None
        except OSError as exc:
            raise CommandFailed(f"cannot point {link} at {target}: {exc.strerror or exc}") from None
        if observed != str(target):
            raise Conflict(f"{link} points to {observed} right after the switch, not {target}")
        yield f"created {temp.name} -> {target} and renamed it over {link} (atomic)"
        return f"{link} -> {target}"

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        """True when the link resolves to the step's release now."""
        params = step.params
        live = current_release_id(Path(params["link"]), Path(params["releases_dir"]), [])
        return live == str(params["release"])


class SymlinkReleases:
    """Release folders under ``releases_dir``; ``current_link`` names the live one."""

    part = SymlinkPart()
    listing_note = ""

    def __init__(self, label: str, host: HostConfig) -> None:
        self.label = label
        self.host = host

    @property
    def releases_dir(self) -> Path:
        if self.host.releases_dir is None:
            raise ProviderError(f"{self.label}: releases_dir is not configured")
        return self.host.releases_dir.absolute()

    @property
    def link(self) -> Path:
        if self.host.current_link is None:
            raise ProviderError(f"{self.label}: current_link is not configured")
        return self.host.current_link.absolute()

    @property
    def where(self) -> str:
        return str(self.host.releases_dir)

    def state(self, notes: list[str]) -> tuple[Revision | None, tuple[Revision, ...]]:
        releases_dir = self.releases_dir
        if not releases_dir.is_dir():
            raise NotFound(f"releases folder {releases_dir} does not exist")
        current_id = current_release_id(self.link, releases_dir, notes)
        found: list[tuple[str, float, Path]] = []
        try:
            with os.scandir(releases_dir) as entries:
                for entry in entries:
                    if entry.name.startswith(".") or not entry.is_dir():
                        continue
                    found.append((entry.name, entry.stat().st_mtime, Path(entry.path)))
        except PermissionError:
            raise Forbidden(f"cannot read the releases folder {releases_dir}") from None
        except OSError as exc:
            raise Unavailable(f"cannot read the releases folder {releases_dir}: {exc}") from None
        # Newest first: a deploy creates the folder, so its mtime is the release time.
        found.sort(key=lambda item: (item[1], version_key(item[0])), reverse=True)
        revisions = []
        for name, mtime, path in found:
            version = _version_of(path, name)
            revisions.append(
                Revision(
                    id=name,
                    version=version,
                    created=datetime.fromtimestamp(mtime, UTC),
                    # What changed, from the folder's own notes; the path is the detail.
                    change_cause=change_of(path, version, mtime),
                    current=name == current_id,
                    detail=str(path),
                )
            )
        current = next((r for r in revisions if r.current), None)
        if current_id is not None and current is None:
            notes.append(f"the live release {current_id} is not a folder in {releases_dir}")
        return current, tuple(revisions)

    def find(self, snap: Snapshot, target: str) -> Revision | None:
        return None

    def switch_step(self, snap: Snapshot, to: Revision, warnings: list[str]) -> Step:
        link, releases_dir = self.link, self.releases_dir
        params = {
            "link": str(link),
            "releases_dir": str(releases_dir),
            "release": to.id,
            "from_release": snap.current.id if snap.current else None,
        }
        return Step(
            title=f"Point {link.name} at {releases_dir.name}/{to.id}",
            command=render(params),
            kind=StepKind.SWITCH,
            timeout_s=self.host.command_timeout_s,
            op=OP,
            params=params,
        )

    def at_target(self, to: Revision) -> tuple[bool, str]:
        current = current_release_id(self.link, self.releases_dir, [])
        if current == to.id:
            return True, f"{self.link} -> {to.id}"
        return False, f"{self.link} points to {current or 'no release'}, not {to.id}"

    def release_of(self, cwd: Path | None) -> str:
        if cwd is None or self.host.releases_dir is None:
            return ""
        try:
            rel = cwd.relative_to(os.path.realpath(self.releases_dir))
        except ValueError:
            return ""
        return rel.parts[0] if rel.parts else ""

    def serves(self, unit: Unit, to: Revision) -> bool:
        return unit.ready and unit.revision == to.id

    def release_folder(self, revision_id: str) -> Path | None:
        if self.host.releases_dir is None:
            return None
        return self.releases_dir / revision_id

    def differences(self, live: Revision, target: Revision) -> tuple[Difference, ...]:
        """The two release folders compared: files changed, only in one, config files."""
        releases_dir = self.releases_dir
        return folder_differences(releases_dir / live.id, releases_dir / target.id, live, target)


def _version_of(path: Path, name: str) -> str:
    """The release's own VERSION file wins over its folder name, when present."""
    try:
        with open(path / "VERSION", encoding="utf-8", errors="replace") as fh:
            text = fh.read(200).strip()
    except OSError:
        return name
    return text.splitlines()[0].strip() if text else name
