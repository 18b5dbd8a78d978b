"""``[console]``: who operates, where the history and the state go, the team webhook."""

from __future__ import annotations

import getpass
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from console.config.bounds import MAX_EXIT_WAIT_S, MIN_REQUEST_TIMEOUT_S
from console.config.paths import default_state_dir
from console.config.reader import Loader, Reader, shown
from console.config.ui import read_theme


@dataclass(frozen=True)
class ConsoleConfig:
    operator: str
    history_file: Path
    state_dir: Path
    language: str = "en"
    #: Environment variable holding the Slack-compatible webhook URL ("" = no webhook).
    #: The URL is a secret: it is read when a message is sent and never shown or recorded.
    webhook_env: str = ""
    #: Seconds one webhook request may take before it counts as failed.
    webhook_timeout_s: float = 10.0
    #: Attempts per message (5xx, 429, timeouts and connection errors are retried).
    webhook_attempts: int = 3
    #: How long a headless command waits, after the entry is saved, for messages still
    #: being sent before it exits (and says which were not confirmed).
    webhook_exit_wait_s: float = 10.0
    #: Everything visible, nothing that changes a platform (``--read-only`` sets it too).
    read_only: bool = False
    #: A Textual theme name (``console.config.ui.THEMES``).
    theme: str = "textual-dark"
    #: Commit each history entry in the git repository holding ``history_file``.
    history_git: bool = False
    #: Push that commit (to ``history_remote``); a failed push is retried, never lost.
    history_push: bool = False
    #: The remote ``history_push`` pushes to.
    history_remote: str = "origin"
    #: ``serve``: the request header a trusted authenticating proxy puts the user's name
    #: in (e.g. ``X-Forwarded-User``); that name is the operator of the browser session
    #: ("" = none: ``serve --operator`` names the operator).
    operator_header: str = ""


#: Set by ``serve`` for each browser session's console process: the operator it
#: determined (``--operator``, the proxy's header), which beats ``console.operator``.
ENV_SESSION_OPERATOR = "ROLLBACK_CONSOLE_SESSION_OPERATOR"


def read_console(r: Reader, loader: Loader, env: Mapping[str, str]) -> ConsoleConfig:
    r.expect(
        "operator",
        "history_file",
        "state_dir",
        "language",
        "webhook_env",
        "webhook_timeout_s",
        "webhook_attempts",
        "webhook_exit_wait_s",
        "read_only",
        "theme",
        "history_git",
        "history_push",
        "history_remote",
        "operator_header",
    )
    configured = r.get("operator", str)  # read (and so checked) even when the session's wins
    operator = (
        env.get(ENV_SESSION_OPERATOR)
        or configured
        or env.get("ROLLBACK_CONSOLE_OPERATOR")
        or _login_name()
    )
    if not is_utf8(operator):
        # Only the environment can hold such bytes (the file is UTF-8): the name goes into
        # every entry, journal and message, so it is refused before anything is done.
        raise r.error(
            "operator",
            f"$ROLLBACK_CONSOLE_OPERATOR (or the login name) is not UTF-8 text: {shown(operator)}",
        )
    # Each key is read on its own (``Loader.attempt``): one run reports every problem of
    # the table, not only the first; ``check_since`` then stops before a config is made.
    first = len(loader.problems)
    attempt = loader.attempt
    history = attempt(lambda: r.path_value("history_file")) or loader.resolve(
        "docs/operations/rollback-history.md"
    )
    state = attempt(lambda: r.path_value("state_dir")) or default_state_dir()
    language = attempt(lambda: _language(r)) or "en"
    webhook_env = attempt(lambda: _webhook_env(r)) or ""
    attempts = attempt(lambda: r.integer("webhook_attempts", 3, 1, 10)) or 3
    webhook_timeout = (
        attempt(lambda: r.duration("webhook_timeout_s", 10.0, low=MIN_REQUEST_TIMEOUT_S)) or 10.0
    )
    exit_wait = attempt(lambda: _exit_wait(r))
    read_only = bool(attempt(lambda: r.get("read_only", bool, False)))
    theme = attempt(lambda: read_theme(r)) or ""
    history_git = bool(attempt(lambda: r.get("history_git", bool, False)))
    history_push = bool(attempt(lambda: r.get("history_push", bool, False)))
    if history_push and not history_git:
        loader.report(
            r.error("history_push", "needs history_git = true (a push sends the commits)")
        )
    remote = attempt(lambda: _remote(r)) or "origin"
    operator_header = attempt(lambda: _operator_header(r)) or ""
    loader.check_since(first)
    assert exit_wait is not None  # else check_since raised
    r.done()
    return ConsoleConfig(
        operator=operator,
        history_file=history,
        state_dir=state,
        language=language,
        webhook_env=webhook_env,
        webhook_timeout_s=webhook_timeout,
        webhook_attempts=attempts,
        webhook_exit_wait_s=exit_wait,
        read_only=read_only,
        theme=theme,
        history_git=history_git,
        history_push=history_push,
        history_remote=remote,
        operator_header=operator_header,
    )


def _language(r: Reader) -> str:
    language = r.get("language", str, "en")
    if language not in ("en", "ja"):
        raise r.error("language", f"must be 'en' or 'ja', got {language!r}")
    return str(language)


def _webhook_env(r: Reader) -> str:
    webhook_env = r.get("webhook_env", str, "")
    if webhook_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", webhook_env):
        # Never echo the value: it may be the URL itself pasted by mistake.
        raise r.error("webhook_env", "must name an environment variable (the URL stays out)")
    return str(webhook_env)


def _exit_wait(r: Reader) -> float:
    exit_wait = r.number("webhook_exit_wait_s", 10.0, positive=False)
    if not 0 <= exit_wait <= MAX_EXIT_WAIT_S:
        raise r.error(
            "webhook_exit_wait_s",
            f"must be between 0 and {MAX_EXIT_WAIT_S:g} s, got {shown(exit_wait)}",
        )
    return float(exit_wait)


def _remote(r: Reader) -> str:
    remote = r.get("history_remote", str, "origin")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", remote):
        raise r.error("history_remote", f"must name a git remote, got {shown(remote)}")
    return str(remote)


def _operator_header(r: Reader) -> str:
    header = r.get("operator_header", str, "")
    if header and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", header):
        raise r.error(
            "operator_header",
            f"must be an HTTP header name (e.g. X-Forwarded-User), got {shown(header)}",
        )
    return str(header)


#: An operator's name from ``serve`` (flag or proxy header): printable, at most this long.
MAX_OPERATOR_CHARS = 100


def operator_problem(name: str) -> str:
    """Why ``name`` cannot be recorded as the operator ("" when it can)."""
    if not name:
        return "must not be empty"
    if len(name) > MAX_OPERATOR_CHARS:
        return f"is longer than {MAX_OPERATOR_CHARS} characters"
    if not name.isprintable() or not is_utf8(name):
        return "must be printable UTF-8 text (no control characters)"
    return ""


def is_utf8(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8.

    Python keeps bytes of a command-line argument or environment variable that
    are not UTF-8 as lone surrogates (``'\\udcff'``); such a string fails at the
    first file or terminal it is written to.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
