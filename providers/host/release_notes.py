"""What a release folder says about itself: the change it ships, in one short line.

A symlinked release is a folder (``releases/v1.3.0``); its path says where it
is, not what changed.  Deploy tools leave a note in it more often than not: a
``CHANGELOG`` / ``RELEASE_NOTES`` the build copied in, or Capistrano's
``REVISION`` (the commit it was built from).  The first one found becomes the
revision's change cause ("New checkout flow", "commit 3f9a2c1d7e4b"); the
path stays in the revision's detail.  Only the first few KB are read, and a
note that cannot be read is simply not there.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

#: Files of release notes, in the order they are looked for.
NOTES_FILES = (
    "CHANGELOG.md",
    "CHANGELOG",
    "CHANGES.md",
    "CHANGES",
    "RELEASE_NOTES.md",
    "RELEASE_NOTES",
)
#: Capistrano (and others) write the commit a release was built from here.
REVISION_FILE = "REVISION"
#: How much of a notes file is read for its first line.
READ_LIMIT = 4096
#: Longest change line kept (the tables ellipsize to their width anyway).
MAX_LENGTH = 120

#: Headings that name the file or a section, not a change ("# Changelog", "### Added").
_TITLES = {
    "changelog",
    "change log",
    "changes",
    "release notes",
    "releasenotes",
    "history",
    "unreleased",
    # Keep a Changelog's sections
    "added",
    "changed",
    "deprecated",
    "removed",
    "fixed",
    "security",
}
#: A markdown prefix: heading marks, list bullets, a checkbox.
_MARKUP = re.compile(r"^(?:#+|[-*+]|\d+[.)])\s*(?:\[[ xX]\]\s*)?")
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")


@lru_cache(maxsize=256)
def change_of(folder: Path, version: str = "", mtime: float = 0.0) -> str:
    """The change ``folder`` ships, in one line, or "" when it says nothing.

    ``version`` (the release's own name) is left out of a notes line that
    starts with it: the table shows the version in its own column.  ``mtime``
    (the folder's) keys the cache: the dashboard reads the releases every few
    seconds, and a folder whose files change gets a new mtime.
    """
    for name in NOTES_FILES:
        line = _first_change_line(_read(folder / name), version)
        if line:
            return line
    commit = _read(folder / REVISION_FILE).strip().split("\n")[0].strip()
    if _SHA.match(commit):
        return f"commit {commit[:12]}"
    return ""


def _read(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(READ_LIMIT)
    except OSError:
        return ""


def _first_change_line(text: str, version: str) -> str:
    """The first line of ``text`` that says something: not blank, not the file's title,
    not the version alone; markdown marks and a leading version stripped."""
    for raw in text.splitlines():
        line = _MARKUP.sub("", raw.strip()).strip()
        if not line or line.lower().rstrip(":") in _TITLES:
            continue
        if version:
            bare = version.lstrip("vV")
            for form in (f"[{version}]", f"[{bare}]", version, bare):
                if form and line.startswith(form):
                    line = line[len(form) :].lstrip(" :-—–()").strip()
                    break
        if not line or _looks_like_date(line):
            continue
        return line if len(line) <= MAX_LENGTH else line[: MAX_LENGTH - 1] + "…"
    return ""


def _looks_like_date(line: str) -> bool:
    """``2026-01-15`` alone (the rest of a ``## [1.3.0] - 2026-01-15`` heading)."""
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}\)?", line) is not None
