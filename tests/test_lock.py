"""The local rollback lock: its file is the console's own and names one service and environment.

Real files, real ``flock``: a link or a hard link planted at the lock's path
is refused and the file it names is left byte for byte as it was; a FIFO
does not hang the console; two services whose names and environments join
to the same text still get two locks.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from console.config import ServiceConfig
from console.lock import ServiceLock, lock_path
from providers.base import LockHeld, ProviderError

VICTIM = b"precious: not a lock file\n" * 10


def path_for(state: Path, svc: ServiceConfig) -> Path:
    return lock_path(state, svc.name, svc.environment)


def service(name: str = "web", environment: str = "production") -> ServiceConfig:
    return ServiceConfig(name=name, environment=environment, provider="host")


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / "precious.txt"
    path.parent.mkdir()
    path.write_bytes(VICTIM)
    return path


def test_names_that_join_to_the_same_text_get_two_locks(tmp_path: Path) -> None:
    state = tmp_path / "state"
    a, b = service("web", "prod-x"), service("web-prod", "x")
    assert path_for(state, a) != path_for(state, b)
    with ServiceLock(state, a, "alice"):
        with ServiceLock(state, b, "bob"):  # not "being rolled back by alice"
            pass
        with pytest.raises(LockHeld, match="alice"):
            ServiceLock(state, a, "carol").acquire()


def test_lock_names_stay_one_file_in_the_locks_folder(tmp_path: Path) -> None:
    state = tmp_path / "state"
    pairs = [("web", "prod-x"), ("web-prod", "x"), ("web", "prod@x"), ("web", "prod%40x")]
    names = {path_for(state, service(n, e)) for n, e in pairs}
    assert len(names) == len(pairs)
    for path in names:
        assert path.parent == state / "locks" and path.name.count("@") == 1
    assert path_for(state, service("web", "staging (blue)")).name == "web@staging%20%28blue%29.lock"


def test_a_symlink_at_the_lock_path_is_refused_and_its_target_untouched(
    tmp_path: Path, victim: Path
) -> None:
    state = tmp_path / "state"
    path = path_for(state, service())
    path.parent.mkdir(parents=True)
    path.symlink_to(victim)
    with pytest.raises(ProviderError) as info:
        ServiceLock(state, service(), "alice").acquire()
    assert not isinstance(info.value, LockHeld)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "symbolic link" in message
    assert victim.read_bytes() == VICTIM
    assert path.is_symlink()


def test_a_dangling_symlink_at_the_lock_path_creates_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    path = path_for(state, service())
    path.parent.mkdir(parents=True)
    target = tmp_path / "created-through-the-link"
    path.symlink_to(target)
    with pytest.raises(ProviderError, match="symbolic link"):
        ServiceLock(state, service(), "alice").acquire()
    assert not os.path.lexists(target)


def test_a_hard_link_at_the_lock_path_is_refused_and_its_file_untouched(
    tmp_path: Path, victim: Path
) -> None:
    state = tmp_path / "state"
    path = path_for(state, service())
    path.parent.mkdir(parents=True)
    os.link(victim, path)
    with pytest.raises(ProviderError, match="hard links"):
        ServiceLock(state, service(), "alice").acquire()
    assert victim.read_bytes() == VICTIM


def test_a_fifo_at_the_lock_path_is_refused_not_waited_on(tmp_path: Path) -> None:
    state = tmp_path / "state"
    path = path_for(state, service())
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    errors: list[BaseException] = []

    def take() -> None:
        try:
            ServiceLock(state, service(), "alice").acquire()
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    thread.join(60)  # a hang guard, not a timing: the old code never returned
    assert not thread.is_alive(), "taking the lock hung on a FIFO"
    assert len(errors) == 1 and "not a regular file" in str(errors[0])


def test_the_holder_is_written_only_once_the_lock_is_held(tmp_path: Path) -> None:
    """The refused console never rewrites the holder's file; the holder's file says who."""
    state = tmp_path / "state"
    with ServiceLock(state, service(), "alice") as held:
        before = held.path.read_bytes()
        with pytest.raises(LockHeld, match="alice"):
            ServiceLock(state, service(), "bob").acquire()
        assert held.path.read_bytes() == before
    assert json.loads(before)["operator"] == "alice"


def test_a_longer_earlier_content_is_cut_to_the_holder_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    path = path_for(state, service())
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"operator": "x" * 500}))
    with ServiceLock(state, service(), "alice"):
        assert json.loads(path.read_bytes())["operator"] == "alice"
    assert path.read_bytes() == b""
