"""A real Swarm with the 02:00 case on it, to look at by hand (not a test).

``python -m tests.swarm.sandbox DIR`` (root, Docker installed) starts the tests'
own dockerd under DIR, makes service ``web`` paused on the broken v3 (v1 -> v2
-> v3), puts a health front before it and writes ``DIR/config.toml``; it keeps
all of it up until interrupted (Ctrl-C or SIGTERM), then removes it.  Open the
console on it with ``python -m console.cli --config DIR/config.toml``.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from pathlib import Path

from tests.swarm.conftest import Front, running_swarm, write_config


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.swarm.sandbox DIR", file=sys.stderr)
        return 2
    root = Path(argv[0]).resolve()
    root.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with running_swarm(root) as sw:
        sw.paused_on_v3("web")
        front = Front(sw, "web")
        try:
            config = write_config(
                root, sw, "web", front.url, verify_window_s=10, verify_min_requests=5
            )
            print(f"ready: {config} (DOCKER_HOST=unix://{sw.socket})", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
        finally:
            front.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
