"""`make bench`: numbers, printed side by side, never asserted.

1. Cold start of rollback-console to its first painted dashboard frame, as a
   ratio to a bare Textual app with the same widgets (target <= 1.3).  Each is
   a whole new process, run headless, that exits from Textual's auto-pilot once
   the first frame is painted; the median of several runs is reported.
2. One refresh of all dashboard panels against sources with known delays, as
   a ratio to the slowest source (target <= 1.2: panels refresh concurrently).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 7

#: Runs in the child once the app is up: waits for ``screen_type`` to be on top, then, right
#: after that screen's first refresh, prints the wall-clock time and leaves at once (the
#: teardown is not part of "first frame").
FIRST_FRAME = """
import asyncio, os, time

def first_frame_of(screen_type):
    async def auto_pilot(pilot):
        while not isinstance(pilot.app.screen, screen_type):
            await asyncio.sleep(0.001)

        def painted():
            print(time.time(), flush=True)
            os._exit(0)

        pilot.app.screen.call_after_refresh(painted)
        await asyncio.sleep(60)

    return auto_pilot
"""

#: The dashboard's widget tree (46 nodes: header, status bar, three small panels with a
#: sparkline, two tables, footer with the same five keys) built from stock Textual widgets,
#: with no config, provider, signal or console code behind it.
BARE_APP = (
    FIRST_FRAME
    + """
from textual.app import App
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

class Bare(App):
    CSS = "#top { height: 5; } #top > Vertical { width: 1fr; } #bottom > Vertical { height: 1fr; }"
    BINDINGS = [Binding(k, "bell", k) for k in ("question_mark", "q", "r", "R", "s")]

    def compose(self):
        yield Header()
        with Horizontal(id="status"):
            for text in ("web", "production", "host", "v1.3.0"):
                yield Static(text)
        with Horizontal(id="top"):
            for title in ("Current", "Error rate", "Health"):
                with Vertical():
                    yield Static(title)
                    yield Static("...")
                    if title == "Error rate":
                        yield Sparkline([1, 2, 3])
                    yield Static("")
        with Container(id="bottom"):
            for title in ("Revisions", "Units"):
                with Vertical():
                    yield Static(title)
                    table = DataTable()
                    table.add_columns("a", "b", "c", "d")
                    yield table
                    yield Static("")
        yield Footer()

Bare().run(headless=True, size=(120, 40), auto_pilot=first_frame_of(Screen))
"""
)

CONSOLE_APP = (
    FIRST_FRAME
    + """
import sys
from pathlib import Path
from console.app import make_app
from console.config import load_config
from screens.dashboard import DashboardScreen

app = make_app(load_config(Path(sys.argv[1])))
app.run(headless=True, size=(120, 40), auto_pilot=first_frame_of(DashboardScreen))
"""
)


def _time_process(code: str, *args: str) -> float:
    """Seconds from launching a new interpreter to its first painted frame."""
    start = time.time()
    done = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    return float(done.stdout.strip().splitlines()[-1]) - start


def bench_cold_start(config: Path) -> tuple[float, float]:
    # Interleave so machine noise hits both alike.
    bare, console = [], []
    _time_process(BARE_APP)
    _time_process(CONSOLE_APP, str(config))
    for _ in range(RUNS):
        bare.append(_time_process(BARE_APP))
        console.append(_time_process(CONSOLE_APP, str(config)))
    return statistics.median(bare), statistics.median(console)


def bench_refresh(delays: dict[str, float]) -> tuple[float, float]:
    from tests.bench_refresh import one_refresh

    return one_refresh(delays), max(delays.values())


def main() -> None:
    from console.demo import build_sandbox

    with tempfile.TemporaryDirectory() as tmp:
        sandbox = build_sandbox(Path(tmp) / "sandbox")
        sandbox.start()
        try:
            bare, console = bench_cold_start(sandbox.config_path)
        finally:
            sandbox.stop()
    print(f"cold start to first frame (median of {RUNS}, 2 cores):")
    print(f"  bare Textual app, same widgets   {bare * 1000:7.0f} ms")
    print(f"  rollback-console dashboard       {console * 1000:7.0f} ms")
    print(f"  ratio                            {console / bare:7.2f}   (target <= 1.3)")

    delays = {"snapshot": 0.6, "health": 0.3, "error_rate": 0.45}
    took, slowest = bench_refresh(delays)
    print(
        "one refresh of all panels, sources with known delays "
        + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in delays.items())
        + ":"
    )
    print(f"  all panels refreshed in          {took * 1000:7.0f} ms")
    print(f"  slowest source                   {slowest * 1000:7.0f} ms")
    print(f"  ratio                            {took / slowest:7.2f}   (target <= 1.2)")


if __name__ == "__main__":
    main()
