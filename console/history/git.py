"""History kept in git (runbook 003): ``[console] history_git`` / ``history_push``.

After an entry is appended, the history file is committed in the repository
that holds it: author the operator, message the entry's headline, and only
that file (``git commit --only -- FILE``: whatever else is dirty or staged in
the checkout stays as it was).  With ``history_push`` the commit is pushed
to ``history_remote``; a push that fails is reported, written down as
pending in the state dir (``history-push.pending``) and tried again by
``resume`` and at the next start, until it goes through.  The entry itself
is in the file before git is asked anything, so git can never lose it.

Git runs as a real ``git`` process (never a shell), with no terminal prompt
and a time limit, so an unreachable remote costs seconds, not a hung console.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from console.clock import utcnow
from console.textsafe import one_line

if TYPE_CHECKING:
    from console.config import ConsoleConfig

#: Seconds one git command may take (a push to an unreachable host gives up by then).
GIT_TIMEOUT_S = 60.0
PENDING_FILE = "history-push.pending"


@dataclass(frozen=True)
class GitResult:
    """What git did with an entry, and the one line that says so."""

    ok: bool
    line: str
    commit: str = ""
    pushed: bool = False


class _GitFailed(Exception):
    pass


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    full_env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
        **(env or {}),
    }
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            errors="replace",
            env=full_env,
            stdin=subprocess.DEVNULL,
            timeout=GIT_TIMEOUT_S,
        )
    except FileNotFoundError:
        raise _GitFailed("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise _GitFailed(f"git {args[0]} took more than {GIT_TIMEOUT_S:g} s") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        reason = next((line for line in said if line.startswith(("fatal", "error"))), "")
        raise _GitFailed(one_line(reason or (said[-1] if said else f"exit {done.returncode}")))
    return done.stdout.strip()


def headline(entry_markdown: str) -> str:
    """The entry's heading without ``## ``: what the commit message says."""
    for line in entry_markdown.splitlines():
        if line.startswith("## "):
            return line[3:].strip()
    return "rollback-history entry"


def commit_entry(console: ConsoleConfig, message: str, operator: str) -> GitResult | None:
    """Commit the history file (and push it when asked); None when ``history_git`` is off.

    Never raises: what went wrong is the result's line.
    """
    if not console.history_git:
        return None
    path = console.history_file.resolve()
    try:
        repo = Path(_git(path.parent, "rev-parse", "--show-toplevel"))
        relative = str(path.relative_to(repo.resolve()))
        _git(repo, "add", "--", relative)
        name = "".join(c for c in operator if c not in "<>\n\r").strip() or "unknown"
        author = f"{name} <{name.replace(' ', '.')}@{socket.gethostname()}>"
        env = {}
        if not _configured(repo, "user.email"):
            # A bastion's checkout often has no identity: the operator commits it too.
            env = {"GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": author.split("<")[1][:-1]}
        if _git(repo, "diff", "--cached", "--name-only", "--", relative):
            _locked_retry(
                lambda: _git(
                    repo, "commit", "--only", "-m", message, f"--author={author}", "--", relative,
                    env=env,
                )
            )  # fmt: skip
        commit = _git(repo, "rev-parse", "--short", "HEAD")
    except (_GitFailed, ValueError) as exc:
        return GitResult(
            False,
            f"history entry saved in {path}, but NOT committed to git: {exc}",
        )
    if not console.history_push:
        return GitResult(True, f"history entry committed to git ({commit} in {repo})", commit)
    return _push(console, repo, commit)


def _configured(repo: Path, key: str) -> bool:
    try:
        return bool(_git(repo, "config", "--get", key))
    except _GitFailed:
        return False


def _locked_retry(run: Callable[[], object]) -> None:
    """Run a git command, again a few times while another git holds ``index.lock``."""
    for attempt in range(5):
        try:
            run()
            return
        except _GitFailed as exc:
            if "index.lock" not in str(exc) or attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


def _push(console: ConsoleConfig, repo: Path, commit: str) -> GitResult:
    remote = console.history_remote
    pending = console.state_dir / PENDING_FILE
    try:
        _git(repo, "push", "--quiet", remote, "HEAD")
    except _GitFailed as exc:
        _write_pending(pending, repo, remote, commit, str(exc))
        return GitResult(
            False,
            f"history entry committed ({commit}) but NOT pushed to {remote}: {exc}; "
            f"it is pushed by `rollback-console resume` or the next start ({pending})",
            commit,
        )
    pending.unlink(missing_ok=True)
    return GitResult(
        True, f"history entry committed ({commit}) and pushed to {remote}", commit, True
    )


def _write_pending(pending: Path, repo: Path, remote: str, commit: str, reason: str) -> None:
    record = {
        "repo": str(repo),
        "remote": remote,
        "commit": commit,
        "reason": reason,
        "at": utcnow().isoformat(),
    }
    try:
        pending.parent.mkdir(parents=True, exist_ok=True)
        tmp = pending.with_suffix(".tmp")
        tmp.write_text(json.dumps(record) + "\n", encoding="utf-8")
        tmp.replace(pending)
    except OSError:
        pass  # the line said it was not pushed; the commit is in the checkout


def push_pending(console: ConsoleConfig) -> GitResult | None:
    """Push what a failed push left (``resume``, the next start); None when nothing waits."""
    pending = console.state_dir / PENDING_FILE
    try:
        record = json.loads(pending.read_text(encoding="utf-8"))
        repo, remote = Path(record["repo"]), str(record["remote"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        repo = console.history_file.resolve().parent
        remote = console.history_remote
    try:
        _git(repo, "push", "--quiet", remote, "HEAD")
    except _GitFailed as exc:
        return GitResult(False, f"history commits still NOT pushed to {remote}: {exc} ({pending})")
    pending.unlink(missing_ok=True)
    return GitResult(
        True, f"history commits pushed to {remote} (left from a failed push)", "", True
    )


def check(console: ConsoleConfig) -> tuple[str, str]:
    """For ``check-config``: ("", what it will do) or (the key at fault, why it cannot).

    The history file's folder must be in a git work tree and, with ``history_push``,
    the remote must be configured there (whether it answers is the push's business).
    """
    folder = console.history_file.resolve().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the file (and its folder) may not exist yet
    try:
        repo = _git(folder, "rev-parse", "--show-toplevel")
    except _GitFailed as exc:
        return "history_git", f"{console.history_file} is not in a git repository ({exc})"
    if not console.history_push:
        return "", f"entries committed in {repo}"
    try:
        url = _git(Path(repo), "remote", "get-url", console.history_remote)
    except _GitFailed as exc:
        return "history_remote", f"no remote {console.history_remote!r} in {repo} ({exc})"
    return "", f"entries committed in {repo} and pushed to {console.history_remote} ({url})"
