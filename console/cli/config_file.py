"""``config init|path|example|schema``: the config file itself, for a first run and editors.

The commented example ships inside the package (``console/config/config.example.toml``,
kept identical to the repository's top-level ``config.example.toml`` by a test), so a
pip/pipx/uv install has it too.  As shipped it describes the demo sandbox in
``.demo/`` beside it; ``config init`` writes it with those paths pointing at a demo
sandbox in the state dir, which it builds (its service is not started), so the
written file passes ``check-config`` at once and opens the console on the demo
until the operator replaces ``[[services]]`` with their own.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib import resources
from pathlib import Path
from typing import TextIO

from console.cli.parser import PROG, UsageError
from console.config import default_config_path, resolve_config_path
from console.config.paths import default_state_dir

#: The port the example's health URL names (the one `make demo` uses).
EXAMPLE_PORT = 18787


def example_text() -> str:
    """The commented example config, as shipped in the package."""
    return resources.files("console.config").joinpath("config.example.toml").read_text("utf-8")


def cmd_config(args: argparse.Namespace, out: TextIO) -> int:
    what = args.config_command
    if what == "example":
        out.write(example_text())
        return 0
    if what == "schema":
        from console.config.schema import config_schema

        print(json.dumps(config_schema(), indent=2), file=out)
        return 0
    path = resolve_config_path(getattr(args, "config", None))
    if what == "path":
        print(path, file=out)
        return 0
    return _init(path, out)


def _init(path: Path, out: TextIO) -> int:
    if path.exists() or path.is_symlink():
        raise UsageError(
            f"{path} already exists: nothing was written (edit it, or move it away and run "
            f"`{PROG} config init` again)"
        )
    from console.demo import build_sandbox

    demo = default_state_dir() / "demo"
    text = initial_text(demo)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: a file that appeared since the check above is not overwritten either.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} already exists: nothing was written") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    if not (demo / "releases").is_dir():
        build_sandbox(demo, port=EXAMPLE_PORT)
    print(f"wrote {path}", file=out)
    print(
        f"it describes the demo sandbox in {demo}: `{PROG} check-config` checks it, `{PROG}` "
        f"opens it (start its service with `{PROG} demo --dir {demo} --port {EXAMPLE_PORT}`); "
        "replace its [[services]] with your own",
        file=out,
    )
    return 0


def initial_text(demo: Path) -> str:
    """The example with its ``.demo/`` paths (relative to the repository) made absolute."""
    text = example_text()
    text = text.replace('".venv/bin/python"', json.dumps(sys.executable))
    text = text.replace('".demo"', json.dumps(str(demo)))
    return text.replace('".demo/', f'"{demo}/')


__all__ = ["cmd_config", "default_config_path", "example_text"]
