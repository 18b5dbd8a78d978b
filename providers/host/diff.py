"""The "What changes" between two host releases: commits and files (git), or release folders.

git strategy: the commits a rollback takes away (``git log --oneline
TARGET..LIVE``, at most ``COMMITS_SHOWN`` named, the rest counted), any it
brings in that the live history does not have, ``git diff --shortstat``'s
summary from the live commit to the target, and the configuration files
among the changed ones.

symlink strategy: the two release folders compared file by file (by size,
then by content hash): how many files differ, are only in the target, only
in the live release, and the configuration files among them by name.  A
release can be huge (``node_modules``, assets): at most ``MAX_FILES`` files
are listed per folder (beyond that the folders are not compared, and the
line says why) and at most ``MAX_HASH_BYTES`` are read to compare contents
(same-size files past that budget are compared by size only, and counted).
``.git`` and ``__pycache__`` folders are not release content and are left
out.  Symbolic links compare by where they point, never followed.

Read-only and blocking; called from the flow's planning worker.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from console.model import Difference, Revision
from providers.base import Unavailable

if TYPE_CHECKING:
    from providers.host.git import GitRepo

#: Commits named one a line; the rest are counted.
COMMITS_SHOWN = 20
#: Configuration files named one a line; the rest are counted.
CONFIGS_SHOWN = 20
#: Files listed per release folder before giving up the comparison.
MAX_FILES = 20_000
#: Bytes read (both folders together) to compare contents; past it, sizes only.
MAX_HASH_BYTES = 256 * 1024 * 1024
#: Folders that are not release content.
SKIPPED_DIRS = frozenset({".git", "__pycache__"})
#: What a configuration file is called (matched against the file's own name).
CONFIG_PATTERNS = (".env", ".env.*", "*.toml", "*.yaml", "*.yml", "*.conf", "*.ini", "*.json")


def is_config(path: str) -> bool:
    """Whether ``path`` names a configuration file (``.env``, ``*.toml``, ``*.yaml``...)."""
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in CONFIG_PATTERNS)


# --------------------------------------------------------------------------- git


def git_differences(repo: GitRepo, live: Revision, target: Revision) -> tuple[Difference, ...]:
    """Commits rolled back (and brought in), the diff's summary, the config files changed."""
    lines: list[Difference] = []
    lines += _commits(repo, target.id, live.id, "rolled back")
    lines += _commits(repo, live.id, target.id, "brought in: not in the live history")
    shortstat = repo.git("diff", "--shortstat", live.id, target.id, "--").stdout.strip()
    span = f"{live.version} → {target.version}"
    lines.append(Difference(f"files: {_files_summary(shortstat)}", note=span))
    only = {"A": f"only in {target.version}", "D": f"only in {live.version}"}
    configs = [
        (path, only.get(status, "changed"))
        for status, path in _name_status(repo, live.id, target.id)
        if is_config(path)
    ]
    return (*lines, *_config_lines(configs))


def _commits(repo: GitRepo, base: str, tip: str, note: str) -> list[Difference]:
    """``git log --oneline base..tip``: at most ``COMMITS_SHOWN`` lines, then how many more."""
    count = int(repo.git("rev-list", "--count", f"{base}..{tip}").stdout.strip() or 0)
    if not count:
        return []
    log = repo.git("log", f"-n{COMMITS_SHOWN}", "--format=%h %s", f"{base}..{tip}", "--")
    lines = [
        Difference(f"commit {entry.strip()}", note=note)
        for entry in log.stdout.splitlines()
        if entry.strip()
    ]
    if count > len(lines):
        lines.append(
            Difference(
                f"{count - len(lines)} more commit(s) {note.split(':')[0]}",
                note=f"git log --oneline {base[:12]}..{tip[:12]}",
            )
        )
    return lines


def _files_summary(shortstat: str) -> str:
    """``3 files changed, 10 insertions(+), 2 deletions(-)`` as ``3 changed, ...``."""
    if not shortstat:
        return "none changed"
    return shortstat.replace(" files changed", " changed").replace(" file changed", " changed")


def _name_status(repo: GitRepo, live: str, target: str) -> list[tuple[str, str]]:
    """(git's status letter, path) for every file that differs from ``live`` to ``target``."""
    out = repo.git("diff", "--name-status", "-z", "--no-renames", live, target, "--").stdout
    fields = out.split("\0")
    pairs = zip(fields[0::2], fields[1::2], strict=False)  # the output ends with a NUL
    return [(status[:1], path) for status, path in pairs if path]


def _config_lines(configs: list[tuple[str, str]]) -> list[Difference]:
    lines = [Difference(f"config {path}", note=how) for path, how in configs[:CONFIGS_SHOWN]]
    if len(configs) > CONFIGS_SHOWN:
        lines.append(Difference(f"{len(configs) - CONFIGS_SHOWN} more config file(s) differ"))
    return lines


# --------------------------------------------------------------------------- folders


class _TooMany(Exception):
    """A release folder holds more than ``MAX_FILES`` files."""


def folder_differences(
    live_dir: Path, target_dir: Path, live: Revision, target: Revision
) -> tuple[Difference, ...]:
    """Files changed, only in the target, only in the live release; config files by name.

    Raises ``Unavailable`` when a folder cannot be read.
    """
    try:
        live_files = _listing(live_dir)
        target_files = _listing(target_dir)
    except _TooMany:
        return (
            Difference(
                "files: not compared",
                note=f"a release folder holds more than {MAX_FILES} files",
            ),
        )
    budget = [MAX_HASH_BYTES]
    both = sorted(live_files.keys() & target_files.keys())
    changed: list[str] = []
    by_size = 0
    for path in both:
        same = _same(live_dir / path, target_dir / path, live_files[path], target_files[path])
        if same is None:
            same = _same_content(live_dir / path, target_dir / path, live_files[path], budget)
            by_size += same is None
        if same is False:
            changed.append(path)
    only_target = sorted(target_files.keys() - live_files.keys())
    only_live = sorted(live_files.keys() - target_files.keys())
    note = f"{len(both) - len(changed)} the same"
    if by_size:
        limit = MAX_HASH_BYTES >> 20
        note += f"; {by_size} compared by size only, past the {limit} MiB read limit"
    counts = [
        f"{len(changed)} changed" if changed else "",
        f"{len(only_target)} only in {target.version}" if only_target else "",
        f"{len(only_live)} only in {live.version}" if only_live else "",
    ]
    summary = Difference(f"files: {', '.join(c for c in counts if c) or 'none differ'}", note=note)
    configs = [(p, "changed") for p in changed]
    configs += [(p, f"only in {target.version}") for p in only_target]
    configs += [(p, f"only in {live.version}") for p in only_live]
    return (summary, *_config_lines(sorted(c for c in configs if is_config(c[0]))))


def _listing(root: Path) -> dict[str, os.stat_result]:
    """Every file and symbolic link under ``root`` (relative path -> lstat), never following
    a link; ``_TooMany`` past ``MAX_FILES``."""
    if not root.is_dir():
        raise Unavailable(f"release folder {root} is not a folder that can be read")
    found: dict[str, os.stat_result] = {}
    folders = [("", str(root))]
    while folders:
        prefix, folder = folders.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name not in SKIPPED_DIRS:
                            folders.append((f"{prefix}{entry.name}/", entry.path))
                        continue
                    found[prefix + entry.name] = entry.stat(follow_symlinks=False)
                    if len(found) > MAX_FILES:
                        raise _TooMany
        except OSError as err:
            raise Unavailable(
                f"cannot read {err.filename or folder}: {err.strerror or err}"
            ) from None
    return found


def _same(a: Path, b: Path, sa: os.stat_result, sb: os.stat_result) -> bool | None:
    """True / False when metadata settles it; None when the contents must be compared."""
    if stat.S_IFMT(sa.st_mode) != stat.S_IFMT(sb.st_mode):
        return False
    if stat.S_ISLNK(sa.st_mode):
        try:
            return os.readlink(a) == os.readlink(b)
        except OSError as err:
            raise Unavailable(f"cannot read link {a}: {err.strerror or err}") from None
    if not stat.S_ISREG(sa.st_mode):
        return True  # a fifo, a socket: nothing to compare
    if sa.st_size != sb.st_size:
        return False
    return None


def _same_content(a: Path, b: Path, sa: os.stat_result, budget: list[int]) -> bool | None:
    """Whether two files of the same size hash the same; None past the byte budget."""
    if budget[0] < 2 * sa.st_size:
        return None
    budget[0] -= 2 * sa.st_size
    return _digest(a) == _digest(b)


def _digest(path: Path) -> bytes:
    digest = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            while chunk := os.read(fd, 1 << 20):
                digest.update(chunk)
        finally:
            os.close(fd)
    except OSError as err:
        raise Unavailable(f"cannot read {path}: {err.strerror or err}") from None
    return digest.digest()
