"""A real single-node Docker Swarm for the Swarm provider's tests (issue 17).

One ``dockerd`` per test session (per xdist worker), with its own data root,
exec root, socket, Linux bridge and swarm listen port under a temp dir, started
with ``setsid`` (a ``timeout`` process group would kill it otherwise); ``swarm
init --advertise-addr 127.0.0.1``.  Images come from no registry: a busybox
rootfs serving ``/version`` imported as ``local/web:v1``/``v2``/``v3`` (v3 exits
1).  Services publish in host mode on dynamic ports (the ingress mesh needs
IPVS, which this kernel lacks).  Without Docker (or root) the tests skip naming
it; under ``CI=true`` they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import tomli_w

BUSYBOX = Path("/bin/busybox")
HTTPD = '["/bin/busybox","httpd","-f","-p","8080","-h","/www"]'
BROKEN = '["/bin/busybox","sh","-c","echo v3 is broken; exit 1"]'


def _dockerd() -> str:
    """dockerd's path: on the PATH, else where Debian's docker.io puts it."""
    return shutil.which("dockerd") or (
        "/usr/sbin/dockerd" if Path("/usr/sbin/dockerd").exists() else ""
    )


def _missing() -> str:
    if not _dockerd():
        return "Docker (dockerd, Debian's docker.io) is not installed"
    if not shutil.which("docker"):
        return "the docker CLI is not installed"
    if not BUSYBOX.exists():
        return "busybox-static (/bin/busybox) is not installed"
    if not shutil.which("ip"):
        return "iproute2's ip (the Swarm's own bridge) is not installed"
    if os.geteuid() != 0:
        return "Docker's dockerd needs root to run a Swarm"
    return ""


@dataclass
class Swarm:
    root: Path
    socket: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE": "1",
        }

    def docker(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(
            ["docker", *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        if check and out.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout.strip()

    def inspect(self, service: str) -> dict:
        return json.loads(self.docker("service", "inspect", service))[0]

    def image(self, service: str) -> str:
        return self.docker(
            "service", "inspect", service, "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"
        )

    def create(self, name: str, image: str, replicas: int = 2) -> None:
        self.docker(
            "service", "create", "-d", "-q", "--name", name, "--replicas", str(replicas),
            "--publish", "mode=host,target=8080", "--stop-grace-period", "1s",
            "--no-resolve-image", "--update-failure-action", "pause",
            "--update-parallelism", "0", "--update-monitor", "2s",
            "--rollback-parallelism", "0", "--rollback-monitor", "2s",
            "--restart-delay", "20s", "--init", image,
        )  # fmt: skip

    def update_image(self, name: str, image: str) -> None:
        self.docker("service", "update", "-d", "-q", "--image", image, "--no-resolve-image", name)

    def wait(self, name: str, pred, timeout_s: float = 60.0) -> dict:  # type: ignore[no-untyped-def]
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            svc = self.inspect(name)
            if pred(svc, self):
                return svc
            time.sleep(0.3)
        raise AssertionError(f"service {name} never got there: {json.dumps(svc)[:600]}")

    def ports(self, name: str) -> list[int]:
        """Host ports of the tasks Swarm wants running and that run."""
        out = self.docker(
            "service", "ps", name, "--filter", "desired-state=running",
            "--format", "{{.CurrentState}}|{{.Ports}}",
        )  # fmt: skip
        ports: list[int] = []
        for line in out.splitlines():
            state, _, pub = line.partition("|")
            if state.startswith("Running") and "->" in pub:
                ports.append(int(pub.split("->")[0].rsplit(":", 1)[1]))
        return ports

    def versions(self, name: str) -> list[str]:
        """``/version`` of every running replica, over HTTP on its host port."""
        out = []
        for port in self.ports(name):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=3) as r:
                out.append(r.read().decode().strip())
        return out

    def running(self, name: str, image: str, replicas: int = 2):  # type: ignore[no-untyped-def]
        def check(svc: dict, sw: Swarm) -> bool:
            state = (svc.get("UpdateStatus") or {}).get("State", "")
            if state not in ("", "completed", "rollback_completed"):
                return False
            tasks = sw.docker(
                "service", "ps", name, "--filter", "desired-state=running",
                "--format", "{{.Image}} {{.CurrentState}}",
            ).splitlines()  # fmt: skip
            ok = [t for t in tasks if t.startswith(image + " Running")]
            return len(ok) == replicas == len(tasks)

        return check

    def paused_on_v3(self, *names: str) -> None:
        """v1 -> v2 -> v3: the update to v3 pauses (the 02:00 case); several services
        side by side (each step on all of them, then the wait)."""
        for image in ("local/web:v1", "local/web:v2"):
            for name in names:
                if image.endswith("v1"):
                    self.create(name, image)
                else:
                    self.update_image(name, image)
            for name in names:
                self.wait(name, self.running(name, image))
        for name in names:
            self.update_image(name, "local/web:v3")
        for name in names:
            self.wait(name, lambda s, _: (s.get("UpdateStatus") or {}).get("State") == "paused")


def _build_images(sw: Swarm) -> None:
    for tag in ("v1", "v2", "v3"):
        rootfs = sw.root / f"rootfs-{tag}"
        (rootfs / "bin").mkdir(parents=True)
        (rootfs / "www").mkdir()
        shutil.copy(BUSYBOX, rootfs / "bin" / "busybox")
        (rootfs / "bin" / "sh").symlink_to("busybox")
        (rootfs / "www" / "version").write_text(tag + "\n")
        cmd = BROKEN if tag == "v3" else HTTPD
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "import", "-c", f"CMD {cmd}", "-c", "EXPOSE 8080", "-", f"local/web:{tag}"],
            stdin=tar.stdout, env=sw.env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        tar.wait()


@contextlib.contextmanager
def running_swarm(root: Path) -> Iterator[Swarm]:
    """A dockerd of its own under ``root`` (data, exec root, socket, bridge, listen port),
    a single-node Swarm on it and the images ``local/web:v1``..``v3``; all gone after."""
    sock = root / "docker.sock"
    n = os.getpid() % 200 + 20
    bridge = f"rcsw{os.getpid()}"[:15]
    subprocess.run(["ip", "link", "add", "name", bridge, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", f"10.213.{n}.1/24", "dev", bridge], check=True)
    subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
    log = (root / "dockerd.log").open("wb")
    proc = subprocess.Popen(
        [_dockerd(), "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         "--host", f"unix://{sock}", "--pidfile", str(root / "docker.pid"),
         "--bridge", bridge, "--iptables=false", "--ip6tables=false"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    sw = Swarm(root, sock)
    try:
        end = time.monotonic() + 30
        while sw.docker("version", "--format", "{{.Server.Version}}", check=False) == "":
            if time.monotonic() > end or proc.poll() is not None:
                raise AssertionError(
                    "dockerd did not start: " + (root / "dockerd.log").read_text()[-800:]
                )
            time.sleep(0.2)
        addr = f"127.0.0.1:{23000 + os.getpid() % 2000}"
        sw.docker("swarm", "init", "--advertise-addr", addr, "--listen-addr", addr)
        _build_images(sw)
        yield sw
    finally:
        sw.docker("swarm", "leave", "--force", check=False)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        subprocess.run(["ip", "link", "del", bridge], check=False)
        log.close()


@pytest.fixture(scope="session")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swarm]:
    """One Swarm for the whole session (per xdist worker); tests use services of their own."""
    missing = _missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {missing}")
        pytest.skip(missing)
    with running_swarm(Path(tmp_path_factory.mktemp("swarm"))) as sw:
        yield sw


@pytest.fixture
def service(swarm: Swarm, request: pytest.FixtureRequest) -> Iterator[str]:
    name = "web" + str(abs(hash(request.node.name)) % 10000)
    yield name
    swarm.docker("service", "rm", name, check=False)


class Front:
    """What sits in front of host-mode tasks (a load balancer): 200 only when every
    running replica answers ``/version``; the console's health URL."""

    def __init__(self, sw: Swarm, service: str) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                try:
                    ok = bool(outer.sw.versions(outer.service))
                except Exception:
                    ok = False
                self.send_response(200 if ok else 503)
                self.end_headers()
                self.wfile.write(b"ok" if ok else b"down")

            def log_message(self, *args: object) -> None:
                pass

        self.sw, self.service = sw, service
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"

    def stop(self) -> None:
        self.server.shutdown()


def write_config(
    tmp_path: Path, sw: Swarm, service: str, url: str, ready_s: float = 60, **extra: Any
) -> Path:
    """A console config for ``service`` on ``sw`` (``extra``: more keys of the service)."""
    config = tmp_path / "config.toml"
    config.write_text(
        tomli_w.dumps(
            {
                "console": {
                    "operator": "alice",
                    "history_file": str(tmp_path / "rollback-history.md"),
                    "state_dir": str(tmp_path / "state"),
                },
                "services": [
                    {
                        "name": service,
                        "environment": "production",
                        "provider": "swarm",
                        "ready_timeout_s": ready_s,
                        "swarm": {"service": service, "docker_host": f"unix://{sw.socket}"},
                        "health": [{"url": url}],
                        "error_rate": {"source": "probe", "window_s": 5, "interval_s": 0.25},
                        "thresholds": {"min_requests": 5},
                        "verify_min_requests": 5,
                        **extra,
                    }
                ],
            }
        )
    )
    return config
