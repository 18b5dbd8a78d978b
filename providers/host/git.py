"""The git strategy: the live code is the working tree of ``repo``.

Revisions are the last ``history_limit`` commits, labelled with their tags.
The switch (op ``host.git``) is ``git_mode = "checkout"``: HEAD detached at
the target, or ``"revert"``: revert commits, so the branch moves forward to a
tree equal to the target's.  Before it runs, HEAD must still be where it was
when the plan was made; after it, HEAD (checkout) or its tree (revert) is
read back: "finished" means the target's files were seen live.

After a checkout rollback HEAD is detached *behind* its branch, and a plain
``git log`` would hide the bad commits the operator is rolling back from.
So when HEAD is detached, history is listed from the most recently committed
local branch that contains HEAD (the branch that was checked out before), and
a note says so; with no such branch, from HEAD itself.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Generator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.config import HostConfig
from console.model import Difference, Plan, Revision, Snapshot, Step, StepKind, Unit
from console.process import run_checked
from providers.base import (
    CommandFailed,
    Conflict,
    InvalidTarget,
    NotFound,
    ProviderError,
    TimedOut,
    Unavailable,
)
from providers.host.diff import git_differences
from providers.host.strategy import version_key

OP = "host.git"
#: Time limit for the read-only git commands a snapshot runs.
GIT_QUERY_TIMEOUT_S = 30.0


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


class GitRepo:
    """Read-only questions to one repository, time-limited, with messages in plain English."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = ["git", "-C", str(self.path), *args]
        env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
        try:
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=GIT_QUERY_TIMEOUT_S,
                env=env,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise Unavailable("git is not installed (needed for strategy = 'git')") from None
        except subprocess.TimeoutExpired:
            raise TimedOut(
                f"`{shlex.join(argv)}` did not answer within {GIT_QUERY_TIMEOUT_S:g} s"
            ) from None
        if check and result.returncode != 0:
            why = _last_line(result.stderr) or _last_line(result.stdout) or "no output"
            raise Unavailable(f"`{shlex.join(argv)}` exited {result.returncode}: {why}")
        return result

    def rev(self, ref: str) -> str:
        return self.git("rev-parse", "--verify", "--quiet", ref).stdout.strip()

    def at(self, mode: str, target: str, version: str) -> tuple[bool, str]:
        """Whether the live code is ``target``'s (its commit, or for a revert its tree)."""
        head = self.rev("HEAD")
        if mode == "revert":
            if self.rev("HEAD^{tree}") == self.rev(f"{target}^{{tree}}"):
                return True, f"HEAD {head[:12]} has the files of {version}"
            return False, f"HEAD {head[:12]} does not have the files of {version}"
        if head == target:
            return True, f"HEAD is at {version}"
        return False, f"HEAD is at {head[:12]}, not {version}"


def render(params: Mapping[str, Any]) -> str:
    """The git command an operator would type for a ``host.git`` step's params."""
    return shlex.join(_argv(params))


def _argv(params: Mapping[str, Any]) -> tuple[str, ...]:
    repo, target = str(params["repo"]), str(params["target"])
    if params["mode"] == "revert":
        return ("git", "-C", repo, "revert", "--no-edit", f"{target}..HEAD")
    return ("git", "-C", repo, "checkout", "--detach", target)


class GitPart:
    """Runs ``host.git`` steps and reads back whether one took effect."""

    ops = frozenset({OP})

    def __init__(self, workdir: Path | None) -> None:
        self.workdir = workdir

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        """Run the git switch after checking HEAD did not move, then prove its effect."""
        params = step.params
        repo = GitRepo(Path(params["repo"]))
        expected = params.get("from")
        head = repo.rev("HEAD")
        if expected is not None and head != expected:
            raise Conflict(
                f"HEAD of {repo.path} moved since the plan was made: it is {head[:12]}, "
                f"not {expected[:12]}; look again before retrying"
            )
        try:
            yield from run_checked(
                _argv(params), shown=step.command, timeout_s=step.timeout_s, cwd=self.workdir
            )
        except CommandFailed as err:
            if params["mode"] == "revert":
                raise CommandFailed(
                    f"{err} (if a revert is left in progress, "
                    f"`git -C {shlex.quote(str(repo.path))} revert --abort` undoes it)"
                ) from None
            raise
        at_target, where = repo.at(params["mode"], params["target"], params["version"])
        if not at_target:
            raise CommandFailed(f"`{step.command}` exited 0 but {where}")
        return where

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        """True when HEAD (checkout) or its tree (revert) is the target's; None if git fails."""
        params = step.params
        try:
            return GitRepo(Path(params["repo"])).at(
                params["mode"], params["target"], params["version"]
            )[0]
        except ProviderError:
            return None


class GitReleases:
    """Commits of ``repo``, labelled by their tags; HEAD is the live one."""

    def __init__(self, label: str, host: HostConfig) -> None:
        self.label = label
        self.host = host
        self.part = GitPart(host.workdir)
        self.listing_note = f" (the last {host.history_limit} commits; history_limit lists more)"

    @property
    def repo(self) -> GitRepo:
        if self.host.repo is None:
            raise ProviderError(f"{self.label}: repo is not configured")
        return GitRepo(self.host.repo.absolute())

    @property
    def where(self) -> str:
        return str(self.host.repo)

    def state(self, notes: list[str]) -> tuple[Revision | None, tuple[Revision, ...]]:
        repo = self.repo
        if not repo.path.is_dir():
            raise NotFound(f"git repository {repo.path} does not exist")
        head_result = repo.git("rev-parse", "--verify", "--quiet", "HEAD", check=False)
        if head_result.returncode != 0:
            probe = repo.git("rev-parse", "--git-dir", check=False)
            if probe.returncode != 0:
                raise NotFound(f"{repo.path} is not a git repository")
            raise NotFound(f"git repository {repo.path} has no commits yet")
        head = head_result.stdout.strip()
        listing = self._listing_ref(repo, head, notes)
        tags = self._tags(repo)
        log = repo.git(
            "log",
            f"-n{max(1, self.host.history_limit)}",
            "--format=%H%x1f%h%x1f%ct%x1f%an%x1f%s%x1e",
            listing,
            "--",
        ).stdout
        revisions: list[Revision] = []
        for record in log.split("\x1e"):
            parts = record.strip("\n").split("\x1f")
            if len(parts) != 5:
                continue
            revisions.append(_commit_revision(parts, tags, head))
        current = next((r for r in revisions if r.current), None)
        if current is None:
            notes.append(
                f"HEAD ({head[:12]}) is not among the last {self.host.history_limit} commits listed"
            )
            out = repo.git("log", "-n1", "--format=%H%x1f%h%x1f%ct%x1f%an%x1f%s", head, "--")
            current = _commit_revision(out.stdout.strip("\n").split("\x1f"), tags, head)
        if repo.git("status", "--porcelain", "--untracked-files=no").stdout.strip():
            notes.append(f"the working tree of {repo.path} has uncommitted changes")
        return current, tuple(revisions)

    @staticmethod
    def _listing_ref(repo: GitRepo, head: str, notes: list[str]) -> str:
        """Which ref to list history from; see the module docstring for why."""
        branch = repo.git("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        if branch.returncode == 0:
            return "HEAD"
        containing = repo.git(
            "for-each-ref",
            "--contains",
            head,
            "--sort=-committerdate",
            "--format=%(refname)",
            "refs/heads",
        ).stdout.split()
        if containing:
            ref = containing[0]
            name = ref.removeprefix("refs/heads/")
            notes.append(
                f"HEAD is detached at {head[:12]}; history is listed from branch {name} "
                "so the commits after the live one stay visible"
            )
            return ref
        notes.append(f"HEAD is detached at {head[:12]} on no branch; only its history is listed")
        return "HEAD"

    @staticmethod
    def _tags(repo: GitRepo) -> dict[str, list[str]]:
        """commit -> its tags, annotated tags peeled to the commit they name."""
        out = repo.git(
            "for-each-ref",
            "--format=%(objectname)%1f%(*objectname)%1f%(refname:short)",
            "refs/tags",
        ).stdout
        tags: dict[str, list[str]] = {}
        for line in out.splitlines():
            parts = line.split("\x1f")
            if len(parts) != 3:
                continue
            obj, peeled, name = parts
            tags.setdefault(peeled or obj, []).append(name)
        return tags

    def find(self, snap: Snapshot, target: str) -> Revision | None:
        """A commit named by a unique prefix of its hash (``NotFound`` when ambiguous)."""
        prefix = target.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{4,40}", prefix):
            return None
        matches = [r for r in snap.revisions if r.id.startswith(prefix)]
        if len(matches) > 1:
            names = ", ".join(r.version for r in matches)
            raise NotFound(f"commit prefix {target!r} is ambiguous ({names}): give more digits")
        return matches[0] if matches else None

    def switch_step(self, snap: Snapshot, to: Revision, warnings: list[str]) -> Step:
        repo = self.repo
        short = to.id[:12]
        label = to.version if to.version.startswith(to.id[:7]) else f"{to.version} ({to.id[:7]})"
        if repo.rev(f"{to.id}^{{tree}}") == repo.rev("HEAD^{tree}"):
            raise InvalidTarget(
                f"{self.label} already serves the same files as {to.version} "
                "(HEAD's tree equals it): nothing to roll back"
            )
        dirty = any("uncommitted changes" in note for note in snap.notes)
        mode = self.host.git_mode
        if mode == "revert":
            title = self._revert_title(repo, to, label, warnings, dirty)
        else:
            title = f"Check out {label} in {repo.path} (detached HEAD)"
            branch = repo.git("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
            if branch.returncode == 0:
                name = branch.stdout.strip()
                warnings.append(
                    f"HEAD will be detached at {short}; branch {name} keeps pointing at the bad "
                    f"commit: check {name} out again (or revert) before the next deploy."
                )
            if dirty:
                warnings.append(
                    f"{repo.path} has uncommitted changes: they are carried over, or the checkout "
                    "refuses if they clash with the target."
                )
        params = {
            "repo": str(repo.path),
            "mode": "revert" if mode == "revert" else "checkout",
            "target": to.id,
            "version": to.version,
            "from": snap.current.id if snap.current else None,
        }
        return Step(
            title=title,
            command=render(params),
            kind=StepKind.SWITCH,
            timeout_s=self.host.command_timeout_s,
            op=OP,
            params=params,
        )

    @staticmethod
    def _revert_title(
        repo: GitRepo, to: Revision, label: str, warnings: list[str], dirty: bool
    ) -> str:
        """Check a revert back to ``to`` can run (``InvalidTarget`` if not) and title it."""
        is_ancestor = repo.git("merge-base", "--is-ancestor", to.id, "HEAD", check=False)
        if is_ancestor.returncode != 0:
            raise InvalidTarget(
                f"{to.version} is not in the history of HEAD, so reverting back to it is "
                "not possible; use git_mode = 'checkout'"
            )
        merges = repo.git("rev-list", "--merges", f"{to.id}..HEAD").stdout.split()
        if merges:
            raise InvalidTarget(
                f"the commits after {to.version} include merge commits "
                f"({', '.join(m[:7] for m in merges)}); `git revert` cannot revert them "
                "without -m: use git_mode = 'checkout' or revert by hand"
            )
        count = int(repo.git("rev-list", "--count", f"{to.id}..HEAD").stdout.strip() or 0)
        if dirty:
            warnings.append(
                f"{repo.path} has uncommitted changes: `git revert` refuses to run over them."
            )
        return (
            f"Revert the {count} commit(s) after {label} in {repo.path} "
            f"(new commits; the files become {to.version}'s)"
        )

    def at_target(self, to: Revision) -> tuple[bool, str]:
        return self.repo.at(self.host.git_mode, to.id, to.version)

    def release_of(self, cwd: Path | None) -> str:
        return ""  # every release runs from the one working tree

    def serves(self, unit: Unit, to: Revision) -> bool:
        return unit.ready

    def release_folder(self, revision_id: str) -> Path | None:
        return None

    def differences(self, live: Revision, target: Revision) -> tuple[Difference, ...]:
        """Commits rolled back, ``git diff --shortstat``, config files changed."""
        return git_differences(self.repo, live, target)


def _commit_revision(parts: list[str], tags: dict[str, list[str]], head: str) -> Revision:
    sha, short, ctime, author, subject = parts
    names = sorted(tags.get(sha, []), key=version_key, reverse=True)
    detail = f"{short} by {author}" + (f"; tags: {', '.join(names)}" if names else "")
    return Revision(
        id=sha,
        version=names[0] if names else short,
        created=datetime.fromtimestamp(int(ctime), UTC) if ctime.isdigit() else None,
        change_cause=subject,
        current=sha == head,
        detail=detail,
    )
