"""The local demo sandbox: a real service with a broken latest release.

``rollback-console demo`` (and the end-to-end tests) need something real to
roll back without any cloud account: real release folders, a real ``current``
symlink, a real background process serving real HTTP.  ``build_sandbox``
writes it::

    ROOT/releases/v1.2.8/   app.py VERSION CHANGELOG.md release.json   healthy
    ROOT/releases/v1.2.9/   ...                           healthy
    ROOT/releases/v1.3.0/   ...                           ~60% of requests 500, slow
    ROOT/current -> ROOT/releases/v1.3.0
    ROOT/run/app.pid, ROOT/run/app.log
    ROOT/sandbox.json       port and paths, read by ``restart`` / ``stop``
    ROOT/config.toml        a console config for it (host provider)

The config's restart command is this module run as a program
(``python -m console.demo restart ROOT``), so the console restarts the demo the
way it would run ``systemctl restart app`` on a VM: an argv, no shell.  The
service is started detached (its own session) with its working directory in
the resolved release folder, which is how the host provider tells which
release a process runs from.

This module imports only the standard library at start-up: the restart command
runs it in a fresh interpreter during every demo rollback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from console.errors import ConsoleError

#: Release name -> how it behaves; the newest (last) is the broken deploy.
RELEASES: dict[str, dict[str, Any]] = {
    "v1.2.8": {"error_rate": 0.0, "slow_ms": 0, "seed": 128},
    "v1.2.9": {"error_rate": 0.0, "slow_ms": 0, "seed": 129},
    "v1.3.0": {"error_rate": 0.6, "slow_ms": 350, "seed": 130},
}
#: What each release changed: the first line of its CHANGELOG.md, the change cause the
#: console shows for a release folder.
CHANGES: dict[str, str] = {
    "v1.2.8": "Fix the login redirect loop (#471)",
    "v1.2.9": "Cache headers for static assets (#476)",
    "v1.3.0": "New one-page checkout flow (#482)",
}
#: Release folder ages, so the newest-first order by mtime is v1.3.0, v1.2.9, v1.2.8.
_AGES_S = {"v1.2.8": 3 * 86400.0, "v1.2.9": 86400.0, "v1.3.0": 3600.0}
LIVE_RELEASE = "v1.3.0"
HOST = "127.0.0.1"
SETTINGS_FILE = "sandbox.json"

#: Time limits: starting the service, and stopping it before SIGKILL.
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0


class DemoError(ConsoleError):
    """The sandbox could not be built, started or stopped; ``str(err)`` is the line to show
    (exit 1)."""


class DemoBadRoot(DemoError):
    """The folder given is not usable for a sandbox (bad input: exit 2)."""

    exit_code = 2


class DemoBadPort(DemoError):
    """The port given is out of range or taken by another program (bad input: exit 2)."""

    exit_code = 2


# --------------------------------------------------------------------------- the sandbox


@dataclass(frozen=True)
class DemoSandbox:
    """A built sandbox: where it is, where it listens, and how to start and stop it."""

    root: Path
    port: int
    config_path: Path
    health_url: str
    pid_file: Path

    @property
    def log_file(self) -> Path:
        return self.root / "run" / "app.log"

    @property
    def restart_argv(self) -> list[str]:
        """The argv the config's restart command holds (no shell)."""
        return restart_argv(self.root)

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start the release ``current`` points to, as a real background process.

        Runs the same restart command the console runs, in a child interpreter,
        so the service is never this process's child (nothing to reap, nothing
        killed with it).  Returns once it answers /health with any status;
        raises ``DemoError`` with the reason otherwise.
        """
        try:
            result = subprocess.run(
                [*self.restart_argv, "--timeout", f"{timeout_s:g}"],
                capture_output=True,
                text=True,
                timeout=timeout_s + 10,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            stop_service(self.root)
            raise DemoError(f"the demo service did not start within {timeout_s:g} s") from None
        if result.returncode != 0:
            why = _last_line(result.stderr) or _last_line(result.stdout) or "no output"
            raise DemoError(f"the demo service did not start: {why.removeprefix('error: ')}")

    def stop(self) -> None:
        """Stop the service and anything else running a release of this sandbox."""
        stop_service(self.root)

    def is_running(self) -> bool:
        """True while a process of this sandbox holds the pid file and is alive."""
        pid = _read_pid(self.pid_file)
        return pid is not None and _is_sandbox_process(pid, self.root)


def restart_argv(root: Path) -> list[str]:
    return [sys.executable, "-m", "console.demo", "restart", str(root)]


def build_sandbox(root: Path, port: int | None = None) -> DemoSandbox:
    """Write a fresh sandbox in ``root`` (created if needed) and return it, not started.

    Rebuilding an existing sandbox stops its service and resets the releases and
    the link to the broken v1.3.0; its history file and state folder are kept.
    A non-empty folder that is not a sandbox is refused rather than written into.
    ``port`` None picks a free port.
    """
    import tomli_w  # only the demo writes TOML

    root = Path(root).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise DemoBadRoot(f"{root} is not a folder")
    if root.is_dir() and any(root.iterdir()) and not (root / SETTINGS_FILE).exists():
        raise DemoBadRoot(f"{root} is not empty and is not a demo sandbox; choose another folder")
    if port is not None and not 1 <= port <= 65535:
        raise DemoBadPort(f"port {port} is not a port number (1-65535)")
    if (root / SETTINGS_FILE).exists():
        stop_service(root)
        shutil.rmtree(root / "releases", ignore_errors=True)
    port = _free_port() if port is None else port

    releases = root / "releases"
    releases.mkdir(parents=True, exist_ok=True)
    app_source = resources.files("console").joinpath("demo_app.py.txt").read_text("utf-8")
    now = time.time()
    for version, behaviour in RELEASES.items():
        folder = releases / version
        folder.mkdir()
        (folder / "app.py").write_text(app_source, encoding="utf-8")
        (folder / "VERSION").write_text(version + "\n", encoding="utf-8")
        (folder / "CHANGELOG.md").write_text(
            f"# Changelog\n\n## {version}\n\n- {CHANGES[version]}\n", encoding="utf-8"
        )
        (folder / "release.json").write_text(json.dumps(behaviour) + "\n", encoding="utf-8")
        stamp = now - _AGES_S[version]
        for path in (*folder.iterdir(), folder):
            os.utime(path, (stamp, stamp))

    current = root / "current"
    temp = root / ".current.tmp"
    temp.unlink(missing_ok=True)
    os.symlink(releases / LIVE_RELEASE, temp)
    os.replace(temp, current)

    run = root / "run"
    run.mkdir(exist_ok=True)
    pid_file = run / "app.pid"
    settings = {"host": HOST, "port": port, "pid_file": "run/app.pid", "log_file": "run/app.log"}
    (root / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")

    health_url = f"http://{HOST}:{port}/health"
    config = {
        "console": {"history_file": "rollback-history.md", "state_dir": "state"},
        "services": [
            {
                "name": "web",
                "environment": "demo",
                "provider": "host",
                "verify_window_s": 10,
                "ready_timeout_s": 30,
                "host": {
                    "strategy": "symlink",
                    "releases_dir": str(releases),
                    "current_link": str(current),
                    "restart": restart_argv(root),
                    "pid_file": str(pid_file),
                    "log_file": str(run / "app.log"),
                    "command_timeout_s": 60,
                },
                "health": [{"url": health_url}],
                "error_rate": {"source": "probe", "interval_s": 0.1, "window_s": 10},
                "thresholds": {"baseline_p95_ms": 20},
            }
        ],
    }
    config_path = root / "config.toml"
    header = (
        "# The demo sandbox's console config, written by console/demo.py.\n"
        f"# Open it with: rollback-console --config {config_path}\n\n"
    )
    config_path.write_text(header + tomli_w.dumps(config), encoding="utf-8")
    return DemoSandbox(
        root=root, port=port, config_path=config_path, health_url=health_url, pid_file=pid_file
    )


# --------------------------------------------------------------------------- restart and stop


def restart_service(
    root: Path, timeout_s: float = START_TIMEOUT_S, out: TextIO = sys.stdout
) -> int:
    """Stop the running service, start the release ``current`` points to; return its pid.

    Waits until the new process answers /health with any status (v1.3.0 answers
    mostly 500, and that is still "started") and /version names the release
    started, so a stray server on the port is not mistaken for it.
    """
    root = Path(root).resolve()
    settings = _settings(root)
    stop_service(root, out=out)
    link = root / "current"
    try:
        release = link.resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        raise DemoError(f"{link} does not point to an existing release") from None
    app = release / "app.py"
    if not app.is_file():
        raise DemoError(f"{release} holds no app.py: not a demo release")
    version = (release / "VERSION").read_text(encoding="utf-8").strip()
    port, host = int(settings["port"]), str(settings["host"])
    pid_file = root / settings["pid_file"]
    log_file = root / settings["log_file"]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(app),
                "--host",
                host,
                "--port",
                str(port),
                "--pid-file",
                str(pid_file),
            ],
            cwd=release,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + timeout_s
    status: int | None = None
    while status is None:
        code = proc.poll()
        if code is not None:
            raise DemoError(
                f"{version} exited with {code} before answering on {url} "
                f"({_last_line(_tail(log_file)) or 'no log output'}; log: {log_file})"
            )
        if time.monotonic() >= deadline:
            _terminate(proc.pid)
            raise DemoError(
                f"{version} did not answer {url}/health within {timeout_s:g} s (log: {log_file})"
            )
        status = _probe(f"{url}/health")
        if status is None:
            time.sleep(0.05)
    served = _fetch_text(f"{url}/version")
    if served != version:
        _terminate(proc.pid)
        raise DemoError(f"{url} is answered by another server (it says {served!r}, not {version})")
    print(
        f"started pid {proc.pid} running {version} from {release}; "
        f"{url}/health answered HTTP {status}",
        file=out,
    )
    return proc.pid


def stop_service(root: Path, out: TextIO | None = None) -> list[int]:
    """Stop every process running a release of this sandbox; return the pids stopped.

    The pid file names the main one; any other process running this sandbox's
    app.py (a stale pid file, an earlier start) is stopped too, so "stopped"
    means nothing of the sandbox is left.
    """
    root = Path(root).resolve()
    pid_file = root / str(_settings_or_default(root).get("pid_file", "run/app.pid"))
    pids = [p for p in [_read_pid(pid_file)] if p is not None and _is_sandbox_process(p, root)]
    pids += [p for p in _sandbox_processes(root) if p not in pids]
    for pid in pids:
        _terminate(pid)
        if out is not None:
            print(f"stopped pid {pid}", file=out)
    left = _read_pid(pid_file)
    if left is None or not _is_sandbox_process(left, root):
        with contextlib.suppress(OSError):
            pid_file.unlink()
    return pids


def _terminate(pid: int) -> None:
    """SIGTERM the process (its whole group when it leads one), SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            _reap(pid)
            if not _alive(pid):
                return
            time.sleep(0.02)


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our own child, so it leaves no zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


# --------------------------------------------------------------------------- helpers


def _settings(root: Path) -> dict[str, Any]:
    path = root / SETTINGS_FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DemoBadRoot(f"{root} is not a demo sandbox (no {SETTINGS_FILE})") from None
    except (OSError, ValueError) as exc:
        raise DemoError(f"cannot read {path}: {exc}") from None
    return data


def _settings_or_default(root: Path) -> dict[str, Any]:
    try:
        return _settings(root)
    except DemoError:
        return {}


def check_port(root: Path | None, port: int) -> None:
    """Refuse, before anything is built, a port the service could not listen on.

    ``rollback-console demo --port N`` calls it first, so a taken port is bad
    input (exit 2) rather than a half-built sandbox whose service cannot start.
    The sandbox in ``root`` being rebuilt may hold the port itself: it is
    stopped first, so its own port counts as free.
    """
    if not 1 <= port <= 65535:
        raise DemoBadPort(f"port {port} is not a port number (1-65535)")
    if root is not None and _settings_or_default(Path(root)).get("port") == port:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the demo's HTTP server binds (SO_REUSEADDR): a port in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            raise DemoBadPort(
                f"port {port} on {HOST} is not free ({exc.strerror}): choose another --port, "
                "or leave it out for a free one"
            ) from None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path("/proc", str(pid), "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[0] if fields else None


def _alive(pid: int) -> bool:
    """Exists and has not exited (a zombie has exited; it only waits for its parent)."""
    state = _proc_state(pid)
    return state is not None and state not in ("Z", "X", "x")


def _argv(pid: int) -> list[str]:
    try:
        raw = Path("/proc", str(pid), "cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode("utf-8", errors="replace") for arg in raw.split(b"\0") if arg]


def _is_sandbox_process(pid: int, root: Path) -> bool:
    """Alive and running ``python ROOT/releases/<release>/app.py`` of this sandbox.

    Checked on the exact script argument, so a recycled pid, or an editor or a
    ``tail`` that merely has a release's file open, is never signalled.
    """
    if pid == os.getpid() or not _alive(pid):
        return False
    argv = _argv(pid)
    if len(argv) < 2:
        return False
    script = Path(argv[1])
    return script.name == "app.py" and script.parent.parent == root / "releases"


def _sandbox_processes(root: Path) -> list[int]:
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    return [int(e) for e in entries if e.isdigit() and _is_sandbox_process(int(e), root)]


def _probe(url: str) -> int | None:
    """HTTP status of a GET, or None when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def _fetch_text(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body: bytes = response.read()
            return body.decode("utf-8", errors="replace").strip()
    except (urllib.error.URLError, OSError) as exc:
        return f"(no answer: {exc})"


def _tail(path: Path, size: int = 4096) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - size))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m console.demo build|restart|stop ROOT``: the sandbox's own service manager."""
    parser = argparse.ArgumentParser(
        prog="python -m console.demo", description="Manage the rollback-console demo sandbox."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="write a fresh sandbox (not started)")
    build.add_argument("root", type=Path)
    build.add_argument("--port", type=int, help="port for the service (default: a free one)")
    restart = sub.add_parser("restart", help="stop the service, start the release `current` names")
    restart.add_argument("root", type=Path)
    restart.add_argument(
        "--timeout",
        type=float,
        default=START_TIMEOUT_S,
        help=f"seconds to wait for it to answer (default {START_TIMEOUT_S:g})",
    )
    stop = sub.add_parser("stop", help="stop the service")
    stop.add_argument("root", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            box = build_sandbox(args.root, port=args.port)
            print(f"sandbox built in {box.root}; config: {box.config_path}")
            print(f"start it with: {' '.join(box.restart_argv)}")
        elif args.command == "restart":
            restart_service(args.root, timeout_s=args.timeout)
        else:
            if not stop_service(args.root, out=sys.stdout):
                print(f"nothing of {Path(args.root).resolve()} was running")
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
