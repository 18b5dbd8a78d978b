"""`make bench`: numbers, printed side by side, never asserted.

1. Cold start of ``rollback-console --config FILE`` (``python -m console.cli``,
   what an operator runs) to its first painted dashboard frame, as a ratio to
   a bare Textual app with the same widgets laid out the same way (target
   <= 1.2).  Each is a whole new process, run headless, that exits from
   Textual's auto-pilot once the first frame is painted; the median of
   several runs, interleaved, is reported.
2. The first frame with live data on the demo: from launching the process
   until the dashboard shows the live version, an error rate and the units'
   rows, and has painted them (target <= 1 s).
3. One refresh of all dashboard panels against sources with known delays, as
   a ratio to the slowest source (target <= 1.2: panels refresh concurrently).

``tests/bench_keys.py`` (key press to the next screen) and
``tests/bench_kubernetes.py`` (5,000 pods) follow in ``make bench``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 7
#: Targets printed beside the figures.
COLD_START_RATIO = 1.2
LIVE_DATA_S = 1.0

#: Runs in the child first: ``first_frame_of(name)`` is an auto-pilot that waits for a
#: screen of that class to be on top, then, right after its first refresh, prints the
#: wall-clock time and leaves at once (the teardown is not part of "first frame").
FIRST_FRAME = """
import asyncio, os, time

def first_frame_of(screen_name):
    async def auto_pilot(pilot):
        while type(pilot.app.screen).__name__ != screen_name:
            await asyncio.sleep(0.001)

        def painted():
            print(time.time(), flush=True)
            os._exit(0)

        pilot.app.screen.call_after_refresh(painted)
        await asyncio.sleep(60)

    return auto_pilot
"""

#: The dashboard at 120x40 built from stock Textual widgets, with no config, provider,
#: signal or console code behind it: the same tree (header; status bar of a badge and
#: four lines; three bordered panels of one-line statics, a sparkline and a scrolling
#: health list, each with its hidden error line; two bordered panels with a table
#: filling them; a footer with the same seven keys) and the same layout rules
#: (dashboard.tcss and the panels' borders).
BARE_APP = (
    FIRST_FRAME
    + """
from textual.app import App
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

CSS = '''
#status { height: 2; }
#badge { width: 12; height: 2; }
#top-row { height: 8; }
.panel { width: 1fr; height: 100%; border: round $primary 60%; padding: 0 1; }
.line { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
.error { display: none; }
Sparkline { height: 2; }
#bottom-row { height: 1fr; layout: horizontal; }
#bottom-row DataTable { height: 1fr; }
'''

class Dashboard(Screen):
    BINDINGS = [Binding(k, f"key('{k}')", k) for k in ("r", "R", "a", "question_mark", "h", "q")]

    def action_key(self, key):
        pass

    def compose(self):
        yield Header(icon="-")
        with Horizontal(id="status"):
            yield Static("…", id="badge")
            with Vertical():
                with Horizontal():
                    for text in ("web (demo) · host · current …", "", ""):
                        yield Static(text, classes="line")
                yield Static("Reading the service…", classes="line")
        with Horizontal(id="top-row"):
            with Vertical(classes="panel") as panel:
                panel.border_title = "Current version"
                for text in ("…", "", "", ""):
                    yield Static(text, classes="line")
                yield Static("", classes="error")
            with Vertical(classes="panel") as panel:
                panel.border_title = "Error rate"
                yield Static("no data yet", classes="line")
                yield Sparkline([])
                yield Static("crit ≥50% · high ≥10%", classes="line")
                yield Static("probe · 10 s window")
                yield Static("", classes="error")
            with Vertical(classes="panel") as panel:
                panel.border_title = "Health"
                with VerticalScroll():
                    yield Static("  …  127.0.0.1:18787/health", classes="line")
                yield Static("", classes="error")
        with Container(id="bottom-row"):
            for title, columns in (("Revisions", 4), ("Units", 6)):
                with Vertical(classes="panel") as panel:
                    panel.border_title = title
                    table = DataTable(cursor_type="row")
                    table.add_columns(*(f"c{i}" for i in range(columns)))
                    yield table
                    yield Static("", classes="error")
        yield Footer()

class Bare(App):
    CSS = CSS

    def get_default_screen(self):
        return Dashboard()

Bare().run(headless=True, size=(120, 40), auto_pilot=first_frame_of("Dashboard"))
"""
)

#: The console as an operator starts it (the entry point of ``rollback-console``), on the
#: demo sandbox's config, headless at the same size.
CONSOLE_APP = (
    FIRST_FRAME
    + """
import sys
from textual.app import App

_run = App.run

def headless_run(self, *args, **kwargs):
    return _run(self, headless=True, size=(120, 40), auto_pilot=first_frame_of("DashboardScreen"))

App.run = headless_run

from console.cli import main

main(["--config", sys.argv[1]])
"""
)

#: The console on the demo until its dashboard shows live data: the version, an error
#: rate and the units' rows; then, once that frame is painted, the wall-clock time.
LIVE_DATA = """
import asyncio, os, sys, time
from textual.app import App

async def auto_pilot(pilot):
    app = pilot.app
    while type(app.screen).__name__ != "DashboardScreen":
        await asyncio.sleep(0.001)
    screen = app.screen
    while not live(screen):
        await asyncio.sleep(0.002)

    def painted():
        print(time.time(), flush=True)
        os._exit(0)

    screen.call_after_refresh(painted)
    await asyncio.sleep(60)

def live(screen):
    from textual.css.query import NoMatches

    try:  # (the panels may not be composed yet)
        version = str(screen.query_one("#current-version").render())
        rate = str(screen.query_one("#rate-now").render())
        units = screen.query_one("#units-table").row_count
    except NoMatches:
        return False
    return version not in ("", "…") and "err" in rate and units > 0

_run = App.run

def headless_run(self, *args, **kwargs):
    return _run(self, headless=True, size=(120, 40), auto_pilot=auto_pilot)

App.run = headless_run

from console.cli import main

main(["--config", sys.argv[1]])
"""


def _time_process(code: str, *args: str) -> float:
    """Seconds from launching a new interpreter to the time it prints."""
    start = time.time()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{done.stderr}")
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


def bench_live_data(config: Path) -> float:
    return statistics.median(_time_process(LIVE_DATA, str(config)) for _ in range(RUNS))


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
            live = bench_live_data(sandbox.config_path)
        finally:
            sandbox.stop()
    print(f"cold start to first frame (median of {RUNS}, 2 cores):")
    print(f"  bare Textual app, same widgets   {bare * 1000:7.0f} ms")
    print(f"  rollback-console dashboard       {console * 1000:7.0f} ms")
    ratio = console / bare
    print(f"  ratio                            {ratio:7.2f}   (target <= {COLD_START_RATIO})")
    print(f"first frame with live data on the demo (version, error rate, units; median of {RUNS}):")
    print(f"  from launch                      {live * 1000:7.0f} ms   (target <= 1000 ms)")

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
