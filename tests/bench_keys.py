"""Benchmark: a key press until the next screen has painted (target < 50 ms), never asserted.

``python -m tests.bench_keys`` (``make bench`` runs it).  Each world is one
app in one process, driven as an operator drives it: the key goes to the
driver like a real key press, and the time runs until the screen it opens is
on top and has been refreshed (``call_after_refresh`` on it, as
``tests/bench.py`` times the first frame).  Typing the reason and ticking the
checklist happen between the timed keys and are not timed.

Two worlds:

- the demo sandbox (``console.demo``): the host provider, the probe and the
  health checks on a real local service;
- a 5,000-pod Deployment (100 ReplicaSets) on the Kubernetes fake
  (``tests/k8s_server``, filled by ``tests.bench_kubernetes.build``, serving
  from another process), read by the real provider; health and error rate are
  fixed (``tests/screens/fixed_dashboard``: no service answers behind fake pods).

Each key is pressed ``ROUNDS`` times; the first press of a key in the
process (its screen's code imported, its CSS parsed for the first time) is
shown apart from the median of the others.  Before the first key the
operator has read the dashboard for ``READ_S`` seconds.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen

from console.app import RollbackConsoleApp, make_app
from console.model import ItemState

ROUNDS = 5
#: Target: a key press to the next screen painted.
TARGET_MS = 50.0
#: How long the operator looks at the dashboard before the first key.
READ_S = 1.5
#: What ``Key`` events carry as their character (the rest are named keys).
CHARACTERS = {"question_mark": "?", "enter": "\r", "escape": "\x1b", "r": "r"}

Timings = dict[str, list[float]]


async def press_until_painted(app: App[Any], key: str, screen: str, timeout: float = 30) -> float:
    """Seconds from the key reaching the app to ``screen`` (a class name) painted on top."""
    loop = asyncio.get_running_loop()
    painted: asyncio.Future[float] = loop.create_future()

    def arrived(now_on_top: Screen[Any]) -> None:
        if type(now_on_top).__name__ == screen and not painted.done():
            now_on_top.call_after_refresh(
                lambda: painted.done() or painted.set_result(time.perf_counter())
            )

    app.screen_change_signal.subscribe(app, arrived, immediate=True)
    driver = app._driver
    assert driver is not None
    start = time.perf_counter()
    driver.send_message(events.Key(key, CHARACTERS.get(key)))
    try:
        end = await asyncio.wait_for(painted, timeout)
    finally:
        app.screen_change_signal.unsubscribe(app)
    return end - start


async def until(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark's world did not get there in time")
        await asyncio.sleep(0.01)


async def drive(app: RollbackConsoleApp, rounds: int = ROUNDS) -> Timings:
    """The keys, ``rounds`` times: help, the wizard's first three steps and back."""
    timings: Timings = {}

    async def timed(label: str, key: str, screen: str) -> None:
        timings.setdefault(label, []).append(await press_until_painted(app, key, screen))
        await asyncio.sleep(0.2)  # the operator reads; the polls go on meanwhile

    async with app.run_test(size=(120, 40)) as pilot:
        await app.refresh_all()
        await asyncio.sleep(READ_S)
        for _ in range(rounds):
            await timed("?  dashboard -> help", "question_mark", "HelpScreen")
            await timed("Esc  help -> dashboard", "escape", "DashboardScreen")
            await timed("r  dashboard -> Assess", "r", "AssessScreen")
            await until(lambda: not getattr(app.screen, "assessing", True))
            await timed("Esc  Assess -> dashboard", "escape", "DashboardScreen")
            await timed("r  dashboard -> Assess (again)", "r", "AssessScreen")
            await until(lambda: not getattr(app.screen, "assessing", True))
            await _type(pilot, "bench: timing the wizard")
            await timed("Enter  Assess -> Checklist", "enter", "ChecklistScreen")
            await _tick_required(app)
            await timed("Enter  Checklist -> Target", "enter", "TargetScreen")
            await timed("Esc  Target -> Checklist", "escape", "ChecklistScreen")
            await _leave_wizard(app)
    return timings


async def _type(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*("space" if c == " " else c for c in text))


async def _tick_required(app: RollbackConsoleApp) -> None:
    """What the operator ticks by hand on the checklist, done through the incident (untimed)."""
    flow = app.screen.flow  # type: ignore[attr-defined]
    for item in flow.incident.missing_required("prepare"):
        await asyncio.to_thread(flow.incident.mark, item.id, ItemState.DONE, "bench")


async def _leave_wizard(app: RollbackConsoleApp) -> None:
    from screens.flow_common import FlowScreen

    screen = app.screen
    if isinstance(screen, FlowScreen):
        screen.return_to_dashboard()
    await until(lambda: type(app.screen).__name__ == "DashboardScreen")
    await asyncio.sleep(0.5)


def demo_world(run: Callable[[RollbackConsoleApp], Awaitable[Timings]]) -> Timings:
    from console.config import load_config
    from console.demo import build_sandbox

    with tempfile.TemporaryDirectory() as folder:
        sandbox = build_sandbox(Path(folder) / "sandbox")
        sandbox.start()
        try:
            return asyncio.run(run(make_app(load_config(sandbox.config_path))))
        finally:
            sandbox.stop()


def kubernetes_world(run: Callable[[RollbackConsoleApp], Awaitable[Timings]]) -> Timings:
    from console.config import (
        Config,
        ConsoleConfig,
        ErrorRateConfig,
        HealthCheck,
        KubernetesConfig,
        ServiceConfig,
    )
    from console.runtime import Backends
    from tests.bench_kubernetes import NAMESPACE, serve
    from tests.screens.fixed_dashboard import FixedHealth, FixedSource

    ctx = multiprocessing.get_context("spawn")
    urls, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=serve, args=(urls, stop), daemon=True)
    child.start()
    try:
        url = urls.get(timeout=300)
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            kubeconfig = root / "kubeconfig"
            kubeconfig.write_text(
                "apiVersion: v1\nkind: Config\ncurrent-context: bench\n"
                f"clusters:\n- name: bench\n  cluster:\n    server: {url}\n"
                "contexts:\n- name: bench\n  context:\n    cluster: bench\n    user: bench\n"
                "users:\n- name: bench\n  user:\n    token: bench\n"
            )
            service = ServiceConfig(
                "web",
                "production",
                "kubernetes",
                kubernetes=KubernetesConfig("web", namespace=NAMESPACE, kubeconfig=kubeconfig),
                health=(HealthCheck("http://127.0.0.1:9/health"),),
                error_rate=ErrorRateConfig(source="probe"),
            )
            config = Config(
                root / "config.toml",
                ConsoleConfig("bench", root / "history.md", root / "state"),
                (service,),
            )
            backends = Backends(make_source=lambda _s: FixedSource(), check_health=FixedHealth())
            return asyncio.run(run(make_app(config, backends=backends)))
    finally:
        stop.set()
        child.join(10)


def report(title: str, timings: Timings) -> None:
    print(f"{title}: key press -> next screen painted (target < {TARGET_MS:.0f} ms)")
    print(f"  {'':34s} {'first':>7s} {'median':>7s}")
    for label, values in timings.items():
        first, rest = values[0], values[1:] or values
        median = statistics.median(rest)
        flag = "" if max(first, median) * 1000 < TARGET_MS else "   over"
        print(f"  {label:34s} {first * 1000:5.0f} ms {median * 1000:5.0f} ms{flag}")


def main() -> None:
    report("demo sandbox", demo_world(drive))
    report("Kubernetes fake, 5,000 pods", kubernetes_world(drive))


if __name__ == "__main__":
    main()
