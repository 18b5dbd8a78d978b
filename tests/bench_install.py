"""`make bench`: what installing the console costs (never asserted, except by the packaging
test's 60 MB limit on the core).

1. ``python -m build``: the sdist and the wheel built from it.
2. The core (``pip install rollback_console-*.whl``) into a fresh venv: the time pip
   takes, and the megabytes it adds to a bare venv (pip's own files left out).
3. The same with ``[all]`` (every cloud SDK, psycopg, Alembic, textual-serve).

pip's cache makes a second run faster than a first install on a new machine:
the times are a floor, the sizes are exact.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tests.packaging.wheels import build_dist, new_venv, pip_install, tree_size


def _install(root: Path, name: str, spec: str) -> tuple[float, int, int]:
    """(seconds pip took, bytes added to a bare venv, bytes of the whole venv)."""
    folder = root / name
    python = new_venv(folder)
    bare = tree_size(folder)
    started = time.perf_counter()
    pip_install(python, spec)
    took = time.perf_counter() - started
    whole = tree_size(folder)
    return took, whole - bare, whole


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rollback-bench-install-") as tmp:
        root = Path(tmp)
        dist = root / "dist"
        dist.mkdir()
        started = time.perf_counter()
        build_dist(dist)
        built = time.perf_counter() - started
        (wheel,) = dist.glob("*.whl")
        print("install (python -m build, pip into a fresh venv; pip's cache warm or not):")
        size = wheel.stat().st_size / 1e6
        print(f"  build sdist + wheel              {built:7.1f} s  ({size:.1f} MB wheel)")
        for name, spec in (("core", str(wheel)), ("[all]", f"{wheel}[all]")):
            took, added, whole = _install(root, name.strip("[]"), spec)
            print(
                f"  {name:<6} install                  {took:7.1f} s  "
                f"{added / 1e6:6.1f} MB added ({whole / 1e6:.1f} MB venv with pip)"
            )


if __name__ == "__main__":
    main()
