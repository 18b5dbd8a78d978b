"""``serve``: the console in a browser, for bastions reached through an authenticating
proxy or an SSH tunnel (extra ``[web]``, textual-serve).

Everything that can be refused is refused here, before a socket is opened, as one
line and exit 2: a --host that is not loopback without --allow-remote, --allow-remote
without a token, a token variable unset or too short, no way to name the operator.
The server itself (``console.web``) is imported only then, so a core install says
which extra to add instead of failing on an import.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from console.cli.common import load
from console.cli.parser import PROG, UsageError
from console.config import Config
from console.config.console import operator_problem
from console.errors import EXIT_OK

#: A token shorter than this is refused: it guards a console that rolls production back.
MIN_TOKEN_CHARS = 16


def cmd_serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    host = args.host.strip()
    if not host:
        raise UsageError("--host must not be empty (default: 127.0.0.1)")
    if not is_loopback(host) and not args.allow_remote:
        raise UsageError(
            f"--host {host} is not a loopback address: add --allow-remote --token-env VAR "
            "to listen on it (see README, In a browser)"
        )
    token = _token(args)
    if args.allow_remote and not token:
        raise UsageError("--allow-remote requires --token-env VAR (the token requests must carry)")
    operator = ""
    if args.operator is not None:
        operator = args.operator.strip()
        problem = operator_problem(operator)
        if problem:
            raise UsageError(f"--operator {problem}")
    config = load(args)
    if args.service:
        config.service(args.service)
    header = config.console.operator_header
    if not operator and not header:
        raise UsageError(
            "serve needs --operator NAME or console.operator_header (the header a trusted "
            f"proxy puts the user's name in) in {config.path}: it never records the server's login"
        )
    try:
        from console.web import WebOptions, serve
    except ImportError as missing:
        raise UsageError(
            f"serve needs the [web] extra ({missing.name} is not installed): "
            "pip install 'rollback-console[web]'"
        ) from None
    options = WebOptions(
        command=app_command(config, args.service, ops_flags(args)),
        host=host,
        port=args.port,
        title=page_title(config, args.service),
        operator=operator,
        operator_header=header,
        token=token,
        token_env=args.token_env or "",
    )
    try:
        serve(options, err)
    except OSError as exc:
        raise UsageError(
            f"serve cannot listen on {host}:{args.port}: {exc.strerror or exc}"
        ) from None
    return EXIT_OK


def _token(args: argparse.Namespace) -> str:
    name = args.token_env
    if name is None:
        return ""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        # Never echo it: it may be the token itself pasted by mistake.
        raise UsageError("--token-env must name an environment variable (the token stays out)")
    token = os.environ.get(name, "")
    if not token.strip():
        raise UsageError(f"--token-env {name}: ${name} is not set or empty")
    if len(token) < MIN_TOKEN_CHARS:
        raise UsageError(
            f"--token-env {name}: ${name} is shorter than {MIN_TOKEN_CHARS} characters"
        )
    return token


def is_loopback(host: str) -> bool:
    """Whether ``host`` only ever accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to any address


def ops_flags(args: argparse.Namespace) -> list[str]:
    """``--read-only``, ``--log-file``, ``--debug`` given to ``serve``, for each session."""
    flags = ["--read-only"] if getattr(args, "read_only", False) else []
    if getattr(args, "log_file", None):
        flags += ["--log-file", str(Path(args.log_file).resolve())]
    if getattr(args, "debug", False):
        flags.append("--debug")
    return flags


def app_command(config: Config, service: str | None, flags: Sequence[str] = ()) -> str:
    """The shell command each browser session runs: this console on the same config.

    ``exec``: the shell becomes the console, so the process textual-serve tells to
    quit and waits for is the console itself.
    """
    argv = [sys.executable, "-m", "console.cli", "--config", str(config.path)]
    if service:
        argv += ["--service", service]
    argv += list(flags)
    return "exec " + shlex.join(argv)


def page_title(config: Config, service: str | None) -> str:
    """The browser tab's title: the service(s) the page rolls back, never a command line."""
    if service:
        labels = [config.service(service).label]
    else:
        labels = [each.label for each in config.services]
    shown = ", ".join(labels[:3]) + (f" and {len(labels) - 3} more" if len(labels) > 3 else "")
    return f"{PROG} — {shown}"
