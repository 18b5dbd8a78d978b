"""One source, read on a schedule for the screen or widget that shows it: the one poll loop.

Live data without freezing (Toolong, Dolphie): the read runs in a daemon
thread and its result is posted to the host as a message, which the host's
panels render; the UI thread never waits on the network.  The next read is
armed by a timer only when the previous one ended, so reads never overlap; a
failing source backs off (interval, then doubling up to ``max_backoff_s``)
while its panel keeps the last good data; a source that answered but has
nothing to show yet (``has_data``: an error-rate probe just started, no
request answered) is read again every ``NO_DATA_RETRY_S`` (at most
``NO_DATA_QUICK_READS`` times, then at its interval), so the first numbers
appear as soon as they exist rather than one interval later; a read that
takes long (5,000 pods parsed in a thread that holds the GIL meanwhile) is
followed by a pause of at least ``SLOW_READ_FACTOR`` times its length, so
reading never takes more than a fifth of the time the UI has; while another
screen covers the host (``covered``), timed reads pause and catch up on
``resume``.
``refresh`` reads now and returns once the result was handled.

The host forwards its ``Worker.StateChanged`` events (``finished``): a
poller is plain data, not a widget, so it hears of its worker's end through
its host, after the result message was handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Generic, TypeVar

from textual.dom import DOMNode
from textual.message import Message
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from console.errors import ConsoleError

T = TypeVar("T")

#: Longest wait between retries of a failing source.
MAX_BACKOFF_S = 30.0
#: After a read, the next waits at least this many times as long as the read took.
SLOW_READ_FACTOR = 4.0
#: How soon a source that has nothing to show yet is read again, and how many times.
NO_DATA_RETRY_S = 0.1
NO_DATA_QUICK_READS = 30


async def in_daemon_thread(read: Callable[[], T], name: str = "read") -> T:
    """Run the blocking ``read`` in a daemon thread and await its result (or its exception).

    Quitting never waits on a read in flight: the thread is a daemon, and its
    late result is dropped.  (asyncio joins its executor's threads at exit, so a
    ``thread=True`` worker hanging on a dead host would keep the console open.)
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(outcome: Callable[[], None]) -> None:
        if not future.done():  # a cancelled poll's late result is dropped
            outcome()

    def run() -> None:
        outcome: Callable[[], None]
        try:
            outcome = partial(future.set_result, read())
        except BaseException as exc:  # handed to the awaiting coroutine
            outcome = partial(future.set_exception, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
            loop.call_soon_threadsafe(deliver, outcome)

    threading.Thread(target=run, name=f"poll-{name}", daemon=True).start()
    return await future


def error_line(exc: BaseException) -> str:
    """The one line a panel shows for a failed read: our own errors as they are, others typed."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, ConsoleError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class Poller(Generic[T]):
    """The poll loop of one source shown by ``host`` (see the module docstring).

    ``read`` is blocking (it runs in a daemon thread) and returns the data;
    ``on_data`` turns it into the message posted to the host, and ``on_error``
    the failure's one line (already redacted by it) into another.  A read is
    a success when ``ok`` says so of its data (default: always).
    """

    host: DOMNode
    name: str
    read: Callable[[], T]
    on_data: Callable[[T], Message]
    on_error: Callable[[str], Message]
    interval: float
    describe: str = ""
    max_backoff_s: float = MAX_BACKOFF_S
    covered: Callable[[], bool] = lambda: False
    ok: Callable[[T], bool] = lambda _data: True
    #: Whether a successful read had something to show (see the module docstring).
    has_data: Callable[[T], bool] = lambda _data: True
    #: Called on the UI thread just before each read (to capture what the read needs).
    before_read: Callable[[], None] = lambda: None
    worker: Worker[bool] | None = None
    timer: Timer | None = None
    failures: int = 0
    #: Successful reads in a row that had nothing to show yet.
    empty: int = 0
    #: How long the last read took, in seconds.
    last_read_s: float = 0.0
    #: Reads started / finished so far; ``refresh`` waits on a generation.
    started: int = 0
    finished_count: int = 0
    #: Read again as soon as the read in flight ends (a refresh asked meanwhile).
    again: bool = False
    #: The timer fired while covered: read on ``resume``.
    paused: bool = False
    waiters: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.state in (
            WorkerState.PENDING,
            WorkerState.RUNNING,
        )

    def next_delay(self) -> float:
        """The interval while healthy; doubling back-off after failures, capped; soon while
        the source has nothing to show yet (for its first few reads)."""
        if self.failures:
            return float(min(self.max_backoff_s, self.interval * 2**self.failures))
        if 0 < self.empty <= NO_DATA_QUICK_READS:
            return min(self.interval, NO_DATA_RETRY_S)
        return max(self.interval, min(self.max_backoff_s, SLOW_READ_FACTOR * self.last_read_s))

    def start(self, *, forced: bool = False) -> None:
        """Read now in the worker, unless a read is in flight (or, unless ``forced``, covered)."""
        if self.running or not self.host.is_attached:
            return
        self._stop_timer()
        if not forced and self.covered():
            self.paused = True
            return
        self.paused = False
        self.again = False
        self.started += 1
        self.before_read()
        self.worker = self.host.run_worker(
            self._read_once(),
            name=f"poll-{self.name}",
            group=f"poll-{self.name}",
            description=self.describe or f"read {self.name}",
            exclusive=True,
            exit_on_error=False,
        )

    def resume(self) -> None:
        """Back on screen: read at once if a timed read was paused meanwhile."""
        if self.paused:
            self.start()

    def stop(self) -> None:
        """The host goes away: no more timed reads; whoever waits is released."""
        self._stop_timer()
        self._release(everyone=True)

    async def _read_once(self) -> bool:
        """Worker: one read; its data or its failure is posted, never raised."""
        started = time.monotonic()
        try:
            data = await in_daemon_thread(self.read, self.name)
        except Exception as exc:
            self.host.post_message(self.on_error(error_line(exc)))
            return False
        finally:
            self.last_read_s = time.monotonic() - started
        self.host.post_message(self.on_data(data))
        self.empty = 0 if self.has_data(data) else self.empty + 1
        return self.ok(data)

    def owns(self, worker: Worker[object]) -> bool:
        return self.worker is worker

    def finished(self, event: Worker.StateChanged) -> bool:
        """The host's worker event: re-arm the timer and wake waiters when the read ended.

        Returns whether the event was this poller's read ending (the host then
        stops it); an unexpected error in the read is left for the host to report.
        """
        if not self.owns(event.worker) or event.state not in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            return False
        self.worker = None
        self.finished_count = self.started
        good = event.state is WorkerState.SUCCESS and event.worker.result is True
        self.failures = 0 if good else self.failures + 1
        self._release()
        if self.host.is_attached:
            if self.again:
                self.start(forced=True)
            else:
                self.timer = self.host.set_timer(self.next_delay(), self.start)
        return True

    async def refresh(self) -> None:
        """Read now and return once the result was handled (a read in flight is not doubled)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.running:
            self.again = True
            self.waiters.append((self.started + 1, future))
        else:
            self.start(forced=True)
            self.waiters.append((self.started, future))
        await future

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.stop()
            self.timer = None

    def _release(self, *, everyone: bool = False) -> None:
        waiting = []
        for generation, future in self.waiters:
            if everyone or generation <= self.finished_count:
                if not future.done():
                    future.set_result(None)
            else:
                waiting.append((generation, future))
        self.waiters = waiting
