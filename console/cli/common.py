"""What every command starts with: the config loaded, its redactor installed, the files
it writes checked; and the TUI the commands without a subcommand open.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from console import redact
from console.cli.parser import PROG, UsageError
from console.config import ENV_CONFIG, Config, ConfigNotFound, load_config, resolve_config_path


def load(args: argparse.Namespace) -> Config:
    path = getattr(args, "config", None)
    if path is not None and not path.strip():
        # An empty --config is a mistake (an unset shell variable), not "use the default".
        raise UsageError("--config must not be empty (leave it out to use the default)")
    resolved = resolve_config_path(path)
    try:
        config = loaded(load_config(resolved))
    except ConfigNotFound as missing:
        if path is None:  # nobody named a file on the command line: a first run, most likely
            raise _no_config(resolved) from missing
        raise
    args.crash_dir = config.console.state_dir  # where a crash report of this run goes
    return with_options(config, args)


def with_options(config: Config, args: argparse.Namespace) -> Config:
    """``config`` with the command line's ``--read-only`` applied, the command refused
    (exit 2, before anything is touched) when read-only mode forbids it, and the
    ``--log-file`` / ``--debug`` log opened."""
    import dataclasses

    from console import readonly
    from console.errors import ReadOnlyRefused

    if getattr(args, "read_only", False) and not config.console.read_only:
        console = dataclasses.replace(config.console, read_only=True)
        config = dataclasses.replace(config, console=console)
        redact.install(config.redactor)
    command = getattr(args, "command", None)
    if config.console.read_only and command:
        refused = readonly.refusal(command, args)
        if refused:
            raise ReadOnlyRefused(refused)
    log_file, debug = getattr(args, "log_file", None), getattr(args, "debug", False)
    if log_file is not None and not str(log_file).strip():
        raise UsageError("--log-file must not be empty")
    if log_file or debug:
        from console import oplog

        path = Path(log_file) if log_file else config.console.state_dir / "rollback-console.log"
        try:
            oplog.setup(path, debug=debug)
        except OSError as exc:
            raise UsageError(f"--log-file {path} cannot be written: {exc.strerror}") from None
        oplog.log.info("%s %s (config %s)", PROG, command or "tui", config.path)
    return config


def _no_config(looked_at: Path) -> UsageError:
    """No ``--config`` and no file where the console looked: how to start, in one line.

    Where it looked (and why there), then the three ways on: the demo, ``config
    init`` (the commented example, shipped in the package, written there), or
    ``--config``.
    """
    if os.environ.get(ENV_CONFIG):
        where = f"{looked_at} (named by ${ENV_CONFIG}) does not exist"
    else:
        where = f"none at {looked_at} (the default; ${ENV_CONFIG} is not set)"
    error = UsageError(f"no config file: {where}")
    error.hint = (
        f"try the console with `{PROG} demo`, write the commented example there with "
        f"`{PROG} config init` (print it: `{PROG} config example`), or pass --config PATH"
    )
    return error


def loaded(config: Config) -> Config:
    """``config``, its redactor now the one every line this process prints goes through."""
    redact.install(config.redactor)
    return config


def require_writable(config: Config, *, history: bool = True, before: str = "") -> None:
    """Exit 2 naming the path when the state dir (or the history file) cannot be written.

    Checked before anything is changed: a rollback that could neither journal
    nor record what it did must not start.  ``before``: what is refused, for
    the message ("nothing was changed").
    """
    from console.durable import write_problem

    console = config.console
    checks = [("state dir", "state_dir", console.state_dir, True)]
    if history:
        checks.insert(0, ("history file", "history_file", console.history_file, False))
    for what, key, path, folder in checks:
        problem = write_problem(path, folder=folder)
        if problem:
            raise UsageError(
                f"{what} {path} cannot be written: {problem} "
                f"(console.{key} in {config.path}){before}"
            )


def run_tui(config: Config, service: str | None) -> int:
    from console.app import make_app

    app = make_app(config, service=service)
    app.run()
    return int(app.return_code or 0)
