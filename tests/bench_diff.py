"""`make bench`: how long the host's "What changes" takes on large releases (never asserted).

The comparison runs while the plan is made, before the operator reads it, so
it is what a large release adds to "Asking the platform for a plan…":

1. symlink strategy: two release folders of ``MAX_FILES`` (20,000) files of
   4 KiB each (80 MiB a folder, a ``node_modules``-sized release), 1 % of them
   changed; every same-size file is hashed (160 MiB read, under the budget).
2. git strategy: a repository of 2,000 files and 300 commits, rolled back
   over all of them.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from console.model import Revision
from providers.host.diff import MAX_FILES, folder_differences, git_differences
from providers.host.git import GitRepo

FILE_BYTES = 4096


def _release(root: Path, changed: set[int]) -> None:
    for i in range(MAX_FILES):
        folder = root / f"pkg{i % 200:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        body = (b"%06d" % i) * (FILE_BYTES // 6) + b"\n" * (FILE_BYTES % 6)
        if i in changed:
            body = body[::-1]
        (folder / f"m{i}.js").write_bytes(body)


def bench_folders(tmp: Path) -> tuple[float, str]:
    _release(tmp / "v2", set())
    _release(tmp / "v1", set(range(0, MAX_FILES, 100)))
    start = time.perf_counter()
    found = folder_differences(tmp / "v2", tmp / "v1", Revision("v2", "v2"), Revision("v1", "v1"))
    return time.perf_counter() - start, found[0].line()


def bench_git(tmp: Path) -> tuple[float, int]:
    repo = tmp / "repo"
    repo.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q", "-b", "main")
    git("config", "user.name", "bench")
    git("config", "user.email", "bench@example.invalid")
    for i in range(2000):
        (repo / f"f{i}.py").write_text(f"x = {i}\n")
    git("add", "-A")
    git("commit", "-q", "-m", "base")
    base = git("rev-parse", "HEAD")
    for n in range(300):
        (repo / f"f{n}.py").write_text(f"x = {n}  # change {n}\n")
        git("commit", "-q", "-am", f"change {n}")
    head = git("rev-parse", "HEAD")
    start = time.perf_counter()
    found = git_differences(GitRepo(repo), Revision(head, "head"), Revision(base, "base"))
    return time.perf_counter() - start, len(found)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folders, summary = bench_folders(Path(tmp))
        git_s, lines = bench_git(Path(tmp))
    cores = os.cpu_count()
    print(f"host 'What changes' ({cores} cores):")
    print(f"  2 x {MAX_FILES} files of 4 KiB compared  {folders * 1000:7.0f} ms   ({summary})")
    print(f"  git, 300 commits rolled back          {git_s * 1000:7.0f} ms   ({lines} lines)")


if __name__ == "__main__":
    main()
