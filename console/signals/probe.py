"""The ``probe`` error-rate source: the console measures the service itself.

A daemon scheduler thread queues one GET per URL every ``interval_s``; a
small pool of daemon worker threads sends them through one shared
``httpx.Client`` and records ``(sent at, ok, latency)``.  A slow response
does not hold the schedule up: up to ``max_in_flight`` requests per URL may be
outstanding at once, and a slot is skipped (not queued up for a burst later)
only when that many are still waiting, so a sick service is not piled on.

What counts:

* an answer with a 2xx or 3xx status is a success, anything else (4xx, 5xx)
  an error, and so is a transport failure (refused, timed out, reset);
* p95 latency is taken over the requests that got an answer (of any status);
  a timed-out request has no latency, it only counts as an error;
* a request belongs to the moment it was *sent*, so ``sample(since=t)``
  counts only what the service answered to requests made after ``t``.

``sample()`` looks at the sliding ``window_s``; ``sample(since=t)`` at
everything sent after ``t`` (results are kept for ``retain_s``, at least 15
minutes, so a verify window can be longer than the sliding window).

Requests in flight: ``sample(since=t)`` (what verification reads) also counts
the requests sent after ``t`` that are still waiting for an answer, as errors
without a latency, until they are answered (``Sample.pending`` says how many);
a service that stops answering cannot look healthy by never answering.
``sample_settled(since, until)`` first waits (at most ``timeout_s`` and a
little) for the requests sent before ``until`` to be answered, so the verdict
at the end of a verify window does not count a request sent a millisecond
before the end against a healthy service.  The sliding ``sample()`` of the
dashboard counts answered requests only (a request is a moment old there).
``history()`` aggregates completed buckets of ``max(1 s, interval_s)`` for
the sparkline.
"""

from __future__ import annotations

import itertools
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

import httpx

from console.config import ServiceConfig
from console.model import Sample
from console.redact import display_url
from console.signals.base import SignalError
from console.signals.health import describe_error, new_client

#: Results are kept at least this long, whatever the sliding window.
MIN_RETAIN_S = 900.0
#: At most this many requests per URL are outstanding at once.
MAX_IN_FLIGHT = 4
#: At most this many worker threads, whatever the number of URLs.
MAX_WORKERS = 16
#: ``sample_settled`` waits at most ``timeout_s`` plus this for answers in flight.
SETTLE_MARGIN_S = 1.0


class ProbeResult(NamedTuple):
    """One probe request: when it was sent (source clock), success, latency if answered."""

    t: float
    ok: bool
    latency_ms: float | None
    status: int | None = None


def p95(values: Sequence[float]) -> float | None:
    """The 95th percentile by the nearest-rank method; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(0.95 * len(ordered)))
    return ordered[rank - 1]


def is_success(status: int) -> bool:
    return 200 <= status < 400


class ProbeSource:
    """Probes ``urls`` in the background and reports error rate and p95 (see module doc)."""

    name: str = "probe"

    def __init__(
        self,
        urls: Sequence[str],
        *,
        interval_s: float = 0.5,
        window_s: float = 30.0,
        timeout_s: float = 3.0,
        min_results: int | None = None,
        retain_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise SignalError("the probe needs at least one URL (health URLs or error_rate.urls)")
        if interval_s <= 0 or window_s <= 0 or timeout_s <= 0:
            raise ValueError("interval_s, window_s and timeout_s must be positive")
        self.urls: tuple[str, ...] = tuple(urls)
        self.interval_s = float(interval_s)
        self.window_s = float(window_s)
        self.timeout_s = float(timeout_s)
        #: How many results ``wait_for_data`` waits for: three rounds of every URL by default.
        self.min_results = min_results if min_results is not None else 3 * len(self.urls)
        self.retain_s = max(self.window_s, MIN_RETAIN_S) if retain_s is None else retain_s
        self.bucket_s = max(1.0, self.interval_s)
        self.max_in_flight = max(1, min(MAX_IN_FLIGHT, math.ceil(self.timeout_s / self.interval_s)))
        #: The last transport or HTTP error seen, as a short sentence ("" when none yet).
        self.last_error = ""
        self._clock = clock
        self._origin = clock()
        self._wall_offset = time.time() - self._origin
        self._results: deque[ProbeResult] = deque()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._in_flight: dict[str, int] = dict.fromkeys(self.urls, 0)
        #: Requests sent and not answered yet: token -> when sent (source clock).
        self._pending: dict[int, float] = {}
        self._tokens = itertools.count()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._client: httpx.Client | None = None
        self._running = False
        self.skipped = 0

    @classmethod
    def from_config(cls, service: ServiceConfig) -> ProbeSource:
        """A probe of ``error_rate.urls``, or of the service's health URLs when none are given."""
        cfg = service.error_rate
        urls = cfg.urls or tuple(check.url for check in service.health)
        if not urls:
            raise SignalError(
                f"{service.name}: the probe needs error_rate.urls or [[services.health]] URLs"
            )
        return cls(urls, interval_s=cfg.interval_s, window_s=cfg.window_s, timeout_s=cfg.timeout_s)

    # ----------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        """Begin probing in daemon threads; calling it again while running does nothing."""
        with self._lock:
            if self._running:
                return
            self._running = True
            self._stop = threading.Event()
            self._queue = queue.Queue()
            self._in_flight = dict.fromkeys(self.urls, 0)
            self._pending = {}
            workers = min(MAX_WORKERS, len(self.urls) * self.max_in_flight)
            self._client = new_client(max_connections=workers)
            stop, jobs, client = self._stop, self._queue, self._client
            self._threads = [
                threading.Thread(
                    target=self._schedule, args=(stop, jobs), name="probe-schedule", daemon=True
                )
            ] + [
                threading.Thread(
                    target=self._work, args=(stop, jobs, client), name=f"probe-{i}", daemon=True
                )
                for i in range(workers)
            ]
            threads = list(self._threads)
        for thread in threads:
            thread.start()

    def stop(self, join_timeout_s: float = 2.0) -> None:
        """Stop probing; waits at most ``join_timeout_s`` for the threads, then lets them go.

        Results of requests still in flight are dropped.  A thread still waiting
        on a slow response after the timeout is a daemon: it ends by itself
        when the request does, and cannot record anything.  Idempotent.
        """
        with self._lock:
            if not self._running:
                return
            self._running = False
            self._stop.set()
            threads, jobs, client = self._threads, self._queue, self._client
            self._threads, self._client = [], None
            self._changed.notify_all()
        for _ in threads:
            jobs.put(None)
        deadline = time.monotonic() + join_timeout_s
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if client is not None:
            # Closing under a still-running request makes that request fail; the
            # worker sees the stop event and drops the result.
            client.close()

    def __enter__(self) -> ProbeSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _schedule(self, stop: threading.Event, jobs: queue.Queue[str | None]) -> None:
        next_at = time.monotonic()
        while not stop.is_set():
            for url in self.urls:
                with self._lock:
                    if stop.is_set():
                        return
                    if self._in_flight[url] >= self.max_in_flight:
                        self.skipped += 1
                        continue
                    self._in_flight[url] += 1
                jobs.put(url)
            next_at += self.interval_s
            now = time.monotonic()
            if next_at < now:  # fell behind (a stalled machine): no burst to catch up
                next_at = now
            stop.wait(next_at - now)

    def _work(
        self, stop: threading.Event, jobs: queue.Queue[str | None], client: httpx.Client
    ) -> None:
        while True:
            url = jobs.get()
            if url is None or stop.is_set():
                return
            sent = self._clock()
            with self._lock:
                if stop.is_set():
                    return
                token = next(self._tokens)
                self._pending[token] = sent
            t0 = time.perf_counter()
            error = ""
            try:
                response = client.get(url, timeout=self.timeout_s)
            except Exception as exc:  # any failure to get an answer is an error result
                result = ProbeResult(sent, False, None)
                error = describe_error(exc, url, self.timeout_s)  # never the password
            else:
                latency = (time.perf_counter() - t0) * 1000.0
                status = response.status_code
                result = ProbeResult(sent, is_success(status), latency, status)
                if not result.ok:
                    error = f"HTTP {status} from {display_url(url)}"
            with self._lock:
                self._pending.pop(token, None)
                if stop.is_set():  # a newer start() may own the counters by now
                    return
                self._in_flight[url] = max(0, self._in_flight[url] - 1)
                self._add(result)
                if error:
                    self.last_error = error

    # ----------------------------------------------------------------- data

    def record(self, ok: bool, latency_ms: float | None, at: float | None = None) -> None:
        """Add one result by hand (``at`` on the source's clock; default now).

        The workers use the same path; this is for replays and for tests of the
        arithmetic that should not depend on a network.
        """
        with self._lock:
            self._add(ProbeResult(self._clock() if at is None else at, ok, latency_ms))

    def _add(self, result: ProbeResult) -> None:
        # Called with the lock held.
        self._results.append(result)
        cutoff = self._clock() - self.retain_s
        while self._results and self._results[0].t < cutoff:
            self._results.popleft()
        self._changed.notify_all()

    def sample(self, since: datetime | None = None) -> Sample:
        """Error rate, p95 and request count over the window, or over all sent after ``since``.

        With ``since``, requests still in flight count as errors until answered
        (module doc).
        """
        now = self._clock()
        # ``since`` is a datetime (microseconds): allow for its rounding at the boundary.
        start = now - self.window_s if since is None else self.clock_of(since) - 1e-6
        with self._lock:
            chosen = [r for r in self._results if r.t >= start]
            pending = 0
            if since is not None:
                pending = sum(1 for t in self._pending.values() if t >= start)
        return self._summarise(chosen, self.datetime_of(now), pending)

    def sample_settled(self, since: datetime, until: datetime) -> Sample:
        """Everything sent from ``since`` to ``until``, once answered (module doc).

        Waits at most ``timeout_s + SETTLE_MARGIN_S`` for the requests of that
        span still in flight (a request is given up after ``timeout_s`` and
        recorded as an error anyway); any still unanswered then, or when the
        source stops, counts as an error.
        """
        lo = self.clock_of(since) - 1e-6
        hi = self.clock_of(until)
        deadline = time.monotonic() + self.timeout_s + SETTLE_MARGIN_S
        with self._changed:
            while True:
                waiting = sum(1 for t in self._pending.values() if lo <= t <= hi)
                left = deadline - time.monotonic()
                if not waiting or left <= 0 or not self._running:
                    break
                self._changed.wait(left)
            chosen = [r for r in self._results if lo <= r.t <= hi]
        return self._summarise(chosen, self.datetime_of(min(hi, self._clock())), waiting)

    def history(self, points: int = 60) -> list[Sample]:
        """Up to ``points`` completed buckets (``bucket_s`` each), oldest first.

        Buckets run from the first bucket with data to the last completed one;
        a bucket with no results in between is a Sample with ``requests=0`` and
        no rate, so a gap in the data stays a gap in the sparkline.
        """
        if points <= 0:
            return []
        now = self._clock()
        current = self._bucket(now)
        with self._lock:
            results = list(self._results)
        if not results:
            return []
        first = min(self._bucket(r.t) for r in results)
        lo = max(first, current - points)
        buckets: dict[int, list[ProbeResult]] = {i: [] for i in range(lo, current)}
        for r in results:
            index = self._bucket(r.t)
            if lo <= index < current:
                buckets[index].append(r)
        return [
            self._summarise(buckets[i], self.datetime_of(self._origin + (i + 1) * self.bucket_s))
            for i in range(lo, current)
        ]

    def wait_for_data(self, timeout_s: float) -> bool:
        """Wait until ``min_results`` results lie in the window; False on timeout or if stopped."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                if self._count_in_window() >= self.min_results:
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or not self._running:
                    return False
                self._changed.wait(left)

    def _count_in_window(self) -> int:
        start = self._clock() - self.window_s
        return sum(1 for r in self._results if r.t >= start)

    def _bucket(self, t: float) -> int:
        return math.floor((t - self._origin) / self.bucket_s)

    def _summarise(self, results: Iterable[ProbeResult], at: datetime, pending: int = 0) -> Sample:
        """Rate, p95 and count of ``results``; ``pending`` requests in flight count as errors."""
        requests = errors = pending
        latencies: list[float] = []
        for r in results:
            requests += 1
            if not r.ok:
                errors += 1
            if r.latency_ms is not None:
                latencies.append(r.latency_ms)
        return Sample(
            at=at,
            error_rate=errors / requests if requests else None,
            p95_ms=p95(latencies),
            requests=requests,
            source=self.name,
            pending=pending,
        )

    # ----------------------------------------------------------------- clocks

    def datetime_of(self, t: float) -> datetime:
        """The UTC wall time of a reading ``t`` of the source's clock."""
        return datetime.fromtimestamp(t + self._wall_offset, UTC)

    def clock_of(self, when: datetime) -> float:
        """The source-clock reading of a wall time (a naive ``when`` is taken as UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp() - self._wall_offset
