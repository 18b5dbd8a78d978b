"""The session's wheel and the venv it is installed in (core only), built once.

Both live in the session's temp root, shared by the xdist workers
(``wheels.shared_once``): one ``python -m build`` and one venv per run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.packaging.wheels import build_dist, new_venv, pip_install, shared_once


def _session_root(factory: pytest.TempPathFactory) -> Path:
    base = factory.getbasetemp()
    # Under xdist each worker's basetemp is popen-gwN inside the session's own root.
    return base.parent if base.name.startswith("popen-gw") else base


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder holding this checkout's sdist and wheel (``python -m build``)."""
    return shared_once(_session_root(tmp_path_factory), "dist", build_dist)


@pytest.fixture(scope="session")
def wheel(dist: Path) -> Path:
    (found,) = dist.glob("rollback_console-*.whl")
    return found


@pytest.fixture(scope="session")
def core_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A venv outside the repository with the wheel installed without extras: its folder."""

    def build(folder: Path) -> None:
        python = new_venv(folder)
        pip_install(python, str(wheel))

    return shared_once(_session_root(tmp_path_factory), "core-venv", build)


def run_in(
    venv: Path, argv: list[str], home: Path, *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (``bin/NAME`` of the venv first) as a user would: in ``home``, with
    their own config and state folders, nothing of this repository on the path."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "LANG": "C.UTF-8",
    }
    if os.environ.get("TMPDIR"):
        env["TMPDIR"] = os.environ["TMPDIR"]
    command = [str(venv / "bin" / argv[0]), *argv[1:]]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


__all__ = ["core_venv", "dist", "pip_install", "run_in", "wheel"]
