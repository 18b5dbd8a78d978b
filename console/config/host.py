"""``[services.host]``: a service on a VM or bastion (symlinked releases or a git checkout)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from console.config.reader import Reader


@dataclass(frozen=True)
class HostConfig:
    """A service on a VM or bastion: symlinked release folders or a git checkout."""

    strategy: str = "symlink"
    releases_dir: Path | None = None
    current_link: Path | None = None
    repo: Path | None = None
    #: git strategy: "checkout" (detached at the target) or "revert" (new revert commits).
    git_mode: str = "checkout"
    #: How many commits/tags the git strategy lists.
    history_limit: int = 20
    restart: tuple[str, ...] = ()
    #: Optional config test run before the reload, e.g. ["nginx", "-t"].
    reload_check: tuple[str, ...] = ()
    #: Optional reload, e.g. ["systemctl", "reload", "nginx"].
    reload: tuple[str, ...] = ()
    #: A file holding the main process id; the process becomes the unit shown.
    pid_file: Path | None = None
    #: A regular expression matched against /proc/*/cmdline to find the units.
    process_match: str = ""
    command_timeout_s: float = 60.0
    #: Folder the commands run in (default: the config file's folder), so a
    #: relative argv[0] or argument means the same thing from any shell.
    workdir: Path | None = None
    #: The service's log file: Enter on a unit shows its last lines.
    log_file: Path | None = None
    #: The systemd unit serving the service ("app.service"): its state on the details
    #: screen, and ``journalctl -u`` as the log source when there is no ``log_file``.
    #: Default: the UNIT of a ``restart = ["systemctl", "restart", UNIT]``.
    systemd_unit: str = ""


#: What systemd accepts in a unit name (``systemd.unit(5)``); a leading "-" would be an option.
_UNIT_NAME = re.compile(r"[A-Za-z0-9:_.@\\][A-Za-z0-9:_.@\\-]{0,255}")
#: ``systemctl`` verbs after which the one argument is the service's unit.
_RESTART_VERBS = frozenset({"restart", "try-restart", "reload-or-restart", "try-reload-or-restart"})


def unit_of_restart(restart: tuple[str, ...]) -> str:
    """``UNIT`` of a restart command ``systemctl restart UNIT`` ("" for any other command).

    Only that exact form: with ``--user``, ``-H`` or several units, which manager
    and which unit are meant is not for the console to guess.
    """
    if len(restart) != 3 or Path(restart[0]).name != "systemctl":
        return ""
    verb, unit = restart[1], restart[2]
    return unit if verb in _RESTART_VERBS and _UNIT_NAME.fullmatch(unit) else ""


def read_host(r: Reader) -> HostConfig:
    r.expect(
        "strategy",
        "releases_dir",
        "current_link",
        "repo",
        "git_mode",
        "history_limit",
        "restart",
        "reload_check",
        "reload",
        "pid_file",
        "process_match",
        "command_timeout_s",
        "workdir",
        "log_file",
        "systemd_unit",
    )
    strategy = r.get("strategy", str, "symlink")
    if strategy not in ("symlink", "git"):
        raise r.error("strategy", f"must be 'symlink' or 'git', got {strategy!r}")
    git_mode = r.get("git_mode", str, "checkout")
    if git_mode not in ("checkout", "revert"):
        raise r.error("git_mode", f"must be 'checkout' or 'revert', got {git_mode!r}")
    releases_dir = r.path_value("releases_dir", must_exist=strategy == "symlink")
    current_link = r.path_value("current_link")
    repo = r.path_value("repo", must_exist=strategy == "git")
    if strategy == "symlink":
        if releases_dir is None:
            raise r.error("releases_dir", "is required for strategy = 'symlink'")
        if current_link is None:
            raise r.error("current_link", "is required for strategy = 'symlink'")
        if not releases_dir.is_dir():
            raise r.error("releases_dir", f"not a directory: {releases_dir}")
    if strategy == "git":
        if repo is None:
            raise r.error("repo", "is required for strategy = 'git'")
        if not (repo / ".git").exists():
            raise r.error("repo", f"not a git repository: {repo}")
    process_match = r.get("process_match", str, "")
    if process_match:
        try:
            re.compile(process_match)
        except re.error as exc:
            raise r.error("process_match", f"invalid regular expression: {exc}") from None
    restart = r.argv("restart")
    systemd_unit = r.get("systemd_unit", str, "")
    if systemd_unit and not _UNIT_NAME.fullmatch(systemd_unit):
        raise r.error(
            "systemd_unit",
            f"not a systemd unit name: {systemd_unit!r} (letters, digits, and :-_.@\\)",
        )
    cfg = HostConfig(
        strategy=strategy,
        releases_dir=releases_dir,
        current_link=current_link,
        repo=repo,
        git_mode=git_mode,
        history_limit=r.integer("history_limit", 20, 1, 100_000),
        restart=restart,
        reload_check=r.argv("reload_check"),
        reload=r.argv("reload"),
        pid_file=r.path_value("pid_file"),
        process_match=process_match,
        command_timeout_s=r.duration("command_timeout_s", 60.0),
        workdir=r.path_value("workdir", must_exist=True) or r.loader.base,
        log_file=r.path_value("log_file"),
        systemd_unit=systemd_unit or unit_of_restart(restart),
    )
    r.done()
    return cfg
