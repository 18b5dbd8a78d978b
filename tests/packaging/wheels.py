"""Wheels for the packaging tests: ours (``python -m build``) and tiny hand-made ones.

A wheel is a zip with a ``.dist-info`` folder (``METADATA``, ``WHEEL``,
``RECORD``, optional ``entry_points.txt``); ``make_wheel`` writes one for a
distribution of a few files, so a test can install "another distribution"
(a plugin provider, a package owning the name ``console``) with the real pip,
from a file, without an index.

``shared_once`` runs a build once per test session even with pytest-xdist:
the workers share the session's temp root, and the first one to take the lock
builds while the others wait and reuse it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.conftest import REPO


def make_wheel(
    folder: Path,
    name: str,
    files: dict[str, str],
    *,
    version: str = "0.1",
    entry_points: str = "",
) -> Path:
    """A pure-Python wheel of ``files`` (path in the wheel -> text) in ``folder``."""
    dist_info = f"{name}-{version}.dist-info"
    contents = dict(files)
    contents[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    contents[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    if entry_points:
        contents[f"{dist_info}/entry_points.txt"] = entry_points
    record = []
    for path, text in contents.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
    return wheel


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def shared_once(root: Path, name: str, build: Callable[[Path], None]) -> Path:
    """``root/name``, built by ``build`` once for all the session's workers."""
    target = root / name
    done = root / f"{name}.done"
    with _locked(root / f"{name}.lock"):
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            build(target)
            done.touch()
    return target


def build_dist(out: Path) -> None:
    """``python -m build``: the sdist, then the wheel built from the sdist, of a copy of
    the checkout's files (tracked, or new and not ignored; as they are in the working
    tree): nothing is written into the checkout (no ``*.egg-info``), and no stale
    ``build/`` folder can leak a deleted module into the wheel."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    source = out.parent / f"{out.name}-source"
    shutil.rmtree(source, ignore_errors=True)
    for name in filter(None, listed.split("\0")):
        path = REPO / name
        if path.is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, source / name)
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    shutil.rmtree(source, ignore_errors=True)


def new_venv(folder: Path) -> Path:
    """A fresh venv (with pip) outside the repository; its python."""
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    return folder / "bin" / "python"


def pip_install(python: Path, *specs: str, offline: bool = False) -> None:
    extra = ["--no-index", "--no-deps"] if offline else []
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *extra, *specs],
        check=True,
        capture_output=True,
        timeout=600,
    )


def tree_size(folder: Path) -> int:
    """Bytes of the files under ``folder`` (symbolic links not followed)."""
    total = 0
    for dirpath, _dirs, names in os.walk(folder):
        for each in names:
            path = Path(dirpath) / each
            if not path.is_symlink():
                total += path.stat().st_size
    return total
