"""The demo sandbox as a fixture: real release folders, a real process serving real HTTP.

Registered once for the whole suite (``tests/conftest.py``): ``sandbox`` is a
freshly built and started sandbox (v1.3.0 live and broken) in the test's
temp folder, stopped however the test ends; ``demo_sandbox`` is the same
fixture under the name the screen tests use.  ``running`` builds and starts
one anywhere, for a fixture that needs it set up its own way first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from console.demo import DemoSandbox, build_sandbox


@contextlib.contextmanager
def running(
    root: Path, prepare: Callable[[DemoSandbox], None] = lambda _box: None
) -> Iterator[DemoSandbox]:
    """A sandbox built in ``root``, ``prepare``d (its config edited) and started; stopped
    when the block ends."""
    box = build_sandbox(root)
    prepare(box)
    box.start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[DemoSandbox]:
    """The demo sandbox, started; v1.3.0 is live and answers most requests with 500."""
    with running(tmp_path / "sandbox") as box:
        yield box


@pytest.fixture
def demo_sandbox(sandbox: DemoSandbox) -> DemoSandbox:
    """``sandbox``, by the name the screen tests use."""
    return sandbox
