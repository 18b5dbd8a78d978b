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

BARE_APP = """
from textual.app import App
from textual.containers import Grid
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

class Bare(App):
    def compose(self):
        yield Header()
        with Grid():
            yield Static("current")
            yield DataTable()
            yield Sparkline([1, 2, 3])
            yield DataTable()
            yield Static("health")
        yield Footer()

async def first_frame(pilot):
    await pilot.pause()
    pilot.app.exit()

Bare().run(headless=True, size=(120, 40), auto_pilot=first_frame)
"""

CONSOLE_APP = """
import sys
from console.app import make_app
from console.config import load_config

async def first_frame(pilot):
    await pilot.pause()
    pilot.app.exit()

app = make_app(load_config(__import__("pathlib").Path(sys.argv[1])))
app.run(headless=True, size=(120, 40), auto_pilot=first_frame)
"""


def _time_process(code: str, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True)
    return time.perf_counter() - start


def _median(code: str, *args: str) -> float:
    _time_process(code, *args)  # warm the page cache once
    return statistics.median(_time_process(code, *args) for _ in range(RUNS))


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
