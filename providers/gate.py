"""The gate between the steps of a gradual traffic shift (runbook 004, section 3.3).

Shared by every provider with a ``gradual`` action (Cloud Run's revisions,
the load balancer's weighted target groups).  After each step but the last,
the console watches the service before it moves more traffic.  A gate is any
callable taking a ``GateRequest`` and returning a ``GateVerdict``; it may
report progress lines through ``request.report`` and must return soon after
``request.stop`` is set.  The provider runs it in a worker thread
(``watch``) and turns the lines into progress events.

A gate may also have a ``prepare()`` method returning a line: the provider
calls it once before the first traffic change (the default gate takes its
baseline there).

``GateCheck`` (a gate step's params) and ``GatedPart`` (the run of a plan's
gated steps: the gate its gates share, prepared once and closed when no gate
is left) are the machinery both providers' parts share; each part says how it
reads its traffic and how it puts the traffic back when a gate fails.

``HealthAndErrorRateGate`` is the default.  For ``duration_s`` it runs the
service's health checks and reads its configured error-rate source (probe,
Prometheus, Cloud Monitoring...) through ``console.verify.verify``, and fails:

* at once, when health fails after the start-up grace (verify's rules) or the
  error rate is over the limit with at least ``MIN_REQUESTS`` requests seen;
* at the end, when health never passed, or the error rate over the gate is
  over the limit.

The limit is the runbook's "high" line (``thresholds.high_error_rate``,
10%), or the error rate measured before the first step when that was already
higher: a gradual rollback moves traffic *away* from a sick revision, so the
rate is expected to fall from there, and a gate only stops the shift when
things get worse than they were.  No error-rate data (Cloud Monitoring lags a
minute or more) is said plainly and the gate is then judged on health alone;
with neither health checks nor data, there is nothing to judge and the gate
fails rather than pass blind.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

from console.config import ServiceConfig
from console.model import HealthResult, Plan, Sample, Step
from providers.base import ProviderError

if TYPE_CHECKING:
    from console.signals.base import ErrorRateSource
    from console.verify import VerifyTick

#: An error rate over the limit fails the gate early only once this many requests were seen.
MIN_REQUESTS = 20
#: Progress is reported at most this often (seconds), and on every change of health.
REPORT_EVERY_S = 10.0


@dataclass(frozen=True)
class GateRequest:
    """What a gate is asked to judge: the service right after traffic moved to ``percent``."""

    service: ServiceConfig
    #: The revision traffic is moving to, and the share it now receives.
    target: str
    percent: int
    duration_s: float
    #: Which gate this is (1-based) of how many.
    number: int
    total: int
    stop: threading.Event = field(default_factory=threading.Event)
    report: Callable[[str], None] = field(default=lambda line: None)


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    message: str


Gate = Callable[[GateRequest], GateVerdict]


def watch(gate: Gate, request: GateRequest) -> Generator[str, None, GateVerdict]:
    """Run ``gate`` in a worker thread, yield the lines it reports, return its verdict.

    A gate that raises fails closed; closing the generator (the step abandoned)
    sets ``request.stop`` and gives the gate a few seconds to return.
    """
    lines: queue.Queue[str] = queue.Queue()
    request = dataclasses.replace(request, report=lines.put)
    verdict: list[GateVerdict] = []

    def judge() -> None:
        try:
            verdict.append(gate(request))
        except Exception as err:  # a broken gate fails closed
            verdict.append(
                GateVerdict(False, f"the gate could not run: {type(err).__name__}: {err}")
            )

    worker = threading.Thread(target=judge, name="traffic-gate", daemon=True)
    worker.start()
    try:
        while worker.is_alive() or not lines.empty():
            try:
                yield lines.get(timeout=0.1)
            except queue.Empty:
                continue
    finally:
        request.stop.set()
        worker.join(timeout=5.0)
    return verdict[0] if verdict else GateVerdict(False, "the gate gave no verdict")


class HealthAndErrorRateGate:
    """Health checks plus the configured error-rate source (see the module docstring)."""

    def __init__(
        self,
        service: ServiceConfig,
        *,
        source_factory: Callable[[ServiceConfig], ErrorRateSource] | None = None,
        interval_s: float | None = None,
    ) -> None:
        self.service = service
        self._source_factory = source_factory
        self._interval_s = interval_s
        self._source: ErrorRateSource | None = None
        self._source_error = ""
        self._opened = False
        #: The error rate before the first gate (None: the source had no data yet).
        self.baseline: Sample | None = None

    def prepare(self) -> str:
        """Start the error-rate source and take the baseline, before any traffic moves.

        Returns the line the provider shows ("error rate before the first step: ...").
        Called again, it does nothing and returns "".
        """
        if self._opened:
            return ""
        self._open()
        limit = _percent(self.limit())
        base = self.baseline
        if self._source is None:
            return f"error rate unavailable for the gates ({self._source_error}): health only"
        if base is None or base.requests == 0 or base.error_rate is None:
            return f"no error-rate data before the first step; gates stop the shift above {limit}"
        return (
            f"error rate before the first step: {_percent(base.error_rate)} of {base.requests} "
            f"requests; gates stop the shift above {limit}"
        )

    def _open(self) -> None:
        if self._opened:
            return
        self._opened = True
        from console.signals.base import SignalError

        try:
            if self._source_factory is None:
                from console.signals import make_error_rate_source

                self._source = make_error_rate_source(self.service)
            else:
                self._source = self._source_factory(self.service)
            self._source.start()
        except SignalError as err:
            self._source, self._source_error = None, str(err)
            return
        try:
            self.baseline = self._source.sample()
        except SignalError:
            self.baseline = None

    def close(self) -> None:
        """Stop the error-rate source this gate started (idempotent)."""
        source, self._source = self._source, None
        if source is not None:
            source.stop()

    def limit(self) -> float:
        high = self.service.thresholds.high_error_rate
        base = self.baseline
        if base is not None and base.requests > 0 and base.error_rate is not None:
            return max(high, base.error_rate)
        return high

    def __call__(self, request: GateRequest) -> GateVerdict:
        from console.verify import verify

        self._open()
        limit = self.limit()
        ticks: list[VerifyTick] = []
        stop = threading.Event()
        last_report = [-REPORT_EVERY_S]
        was_healthy: list[bool | None] = [None]

        def on_tick(tick: VerifyTick) -> None:
            ticks.append(tick)
            changed = was_healthy[0] is not None and was_healthy[0] != tick.healthy
            was_healthy[0] = tick.healthy
            if changed or tick.elapsed_s - last_report[0] >= REPORT_EVERY_S or tick.failed:
                last_report[0] = tick.elapsed_s
                request.report(f"{tick.elapsed_s:.0f} s: {self._tick_line(tick, limit)}")
            if tick.failed or _over(tick.sample, limit, MIN_REQUESTS) or request.stop.is_set():
                stop.set()

        relay = threading.Thread(target=_relay, args=(request.stop, stop), daemon=True)
        relay.start()
        interval = self._interval_s or min(1.0, max(0.1, request.duration_s / 5))
        source = self._source if self._source is not None else _NoSource(self._source_error)
        try:
            verify(
                self.service,
                source,
                before=self.baseline,
                window_s=request.duration_s,
                on_tick=on_tick,
                stop=stop,
                interval_s=interval,
                # A gate judges its own duration (``_verdict``), not a verification's
                # minimum evidence: it never goes on past ``duration_s``.
                min_rounds=1,
                min_requests=0,
                limit_s=request.duration_s,
            )
        finally:
            stop.set()
        if request.stop.is_set():
            return GateVerdict(False, "the gate was stopped before it finished")
        return self._verdict(ticks, limit)

    def _verdict(self, ticks: list[VerifyTick], limit: float) -> GateVerdict:
        checks = bool(self.service.health)
        health_ok: bool | None = None
        health_text = "no health checks configured"
        if checks:
            health_ok, health_text = _health(ticks)
        last = ticks[-1] if ticks else None
        sample = last.sample if last is not None else None
        rate_ok: bool | None = None
        if self._source_error and self._source is None:
            rate_text = f"error rate unavailable ({self._source_error})"
        elif sample is None or sample.requests == 0 or sample.error_rate is None:
            requests = sample.requests if sample is not None else 0
            rate_text = f"no error-rate data yet ({requests} requests)"
        else:
            rate_ok = sample.error_rate <= limit
            word = "within" if rate_ok else "OVER"
            rate_text = (
                f"error rate {sample.error_rate * 100:.1f}% of {sample.requests} requests "
                f"({word} the limit of {_percent(limit)})"
            )
            if sample.p95_ms is not None:
                rate_text += f", p95 {sample.p95_ms:.0f} ms"
        if health_ok is None and rate_ok is None:
            return GateVerdict(False, f"nothing to judge: {health_text}; {rate_text}")
        passed = health_ok is not False and rate_ok is not False
        message = f"{health_text}; {rate_text}"
        if passed and rate_ok is None:
            message += "; judged on health alone"
        return GateVerdict(passed, message)

    def _tick_line(self, tick: VerifyTick, limit: float) -> str:
        bad = [r for r in tick.health if not r.ok]
        health = "healthy" if not bad else f"UNHEALTHY ({_problem(bad[0])})"
        if not tick.health:
            health = "no health checks"
        sample = tick.sample
        if sample is None or sample.requests == 0 or sample.error_rate is None:
            rate = "no error-rate data yet"
        else:
            rate = f"error rate {sample.error_rate * 100:.1f}% of {sample.requests}"
            if sample.error_rate > limit:
                rate += f" (over {_percent(limit)})"
        return f"{health}, {rate}"


def _percent(value: float) -> str:
    return f"{round(value * 100, 1):g}%"


def _over(sample: Sample | None, limit: float, min_requests: int) -> bool:
    return (
        sample is not None
        and sample.requests >= min_requests
        and sample.error_rate is not None
        and sample.error_rate > limit
    )


def _relay(outer: threading.Event, inner: threading.Event) -> None:
    """Pass the caller's stop on to verify's, until verify is done."""
    while not inner.is_set():
        if outer.wait(0.05):
            inner.set()
            return


def _health(ticks: list[VerifyTick]) -> tuple[bool, str]:
    if not ticks:
        return False, "health was not checked"
    rounds = len(ticks)
    failed_rounds = sum(1 for t in ticks if not t.healthy)
    first_bad = next((r for t in ticks for r in t.health if not r.ok), None)
    problem = f" ({_problem(first_bad)})" if first_bad is not None else ""
    if ticks[-1].failed:
        return False, f"health failed in {failed_rounds} of {rounds} rounds{problem}"
    if not any(t.healthy for t in ticks):
        return False, f"health never passed in {rounds} rounds{problem}"
    held = ticks[-1].elapsed_s
    text = f"health held for {held:.1f} s ({rounds} rounds)"
    if failed_rounds:
        text += f" after {failed_rounds} failed start-up round(s){problem}"
    return True, text


def _problem(result: HealthResult) -> str:
    if result.error:
        return f"{result.url}: {result.error}"
    return f"{result.url}: HTTP {result.status_code}"


class _NoSource:
    """Stands in for an error-rate source that could not be built; every read says why."""

    name = "none"

    def __init__(self, why: str) -> None:
        self.why = why or "no error-rate source"

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def sample(self, since: object = None) -> Sample:
        from console.signals.base import SignalError

        raise SignalError(self.why)

    def history(self, points: int = 60) -> list[Sample]:
        return []

    def wait_for_data(self, timeout_s: float) -> bool:
        return False


# ---------------------------------------------------------------------- gated steps

#: What a provider's traffic is made of (a load balancer's shares, Cloud Run's routes).
R = TypeVar("R")


@dataclass(frozen=True)
class GateCheck(Generic[R]):
    """A gate step's params, typed: what it watches, and the traffic a failure restores.

    ``target`` is held under ``target_key`` in the params (``target`` for the load
    balancer, ``revision`` for Cloud Run: the names journals already hold).  A
    provider subclasses it to say how its traffic reads and writes.
    """

    target: str
    percent: int
    duration_s: float
    number: int
    total: int
    #: The traffic the gate expects (what the step before it set) and the traffic from
    #: before the first step, put back when the gate fails.
    expect: tuple[R, ...]
    restore: tuple[R, ...]

    target_key: ClassVar[str] = "target"

    @classmethod
    def read_traffic(cls, step: Step, key: str) -> tuple[R, ...]:
        raise NotImplementedError

    @classmethod
    def traffic_params(cls, traffic: Sequence[R]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return {
            self.target_key: self.target,
            "percent": self.percent,
            "duration_s": self.duration_s,
            "number": self.number,
            "total": self.total,
            "expect": self.traffic_params(self.expect),
            "restore": self.traffic_params(self.restore),
        }

    @classmethod
    def of(cls, step: Step) -> Self:
        p = step.params
        try:
            return cls(
                target=str(p[cls.target_key]),
                percent=int(p["percent"]),
                duration_s=float(p["duration_s"]),
                number=int(p["number"]),
                total=int(p["total"]),
                expect=cls.read_traffic(step, "expect"),
                restore=cls.read_traffic(step, "restore"),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ProviderError(
                f"step {step.title!r}: its gate params cannot be read ({err})"
            ) from None


@dataclass
class GateSession:
    """One run of a plan's steps: the gate its gates share, prepared once."""

    plan: Plan
    gate: Gate | None = None
    #: The default gate, when this run built it (and so closes it).
    own_gate: HealthAndErrorRateGate | None = None


S = TypeVar("S", bound=GateSession)


class GatedPart(Generic[S, R]):
    """A provider part running a traffic change op and a gate op between its steps.

    A part names its ops (``ops``, ``change_op``, ``gate_op``), its session and
    gate-step types and the error a failed gate raises, runs its change steps
    (``_change``) and puts the traffic back when a gate fails (``_restore_after``).
    The session (the gate shared by one plan's gates) is closed after a step that
    failed, or after which no gate comes.
    """

    ops: frozenset[str]
    change_op: str
    gate_op: str
    #: Names the part in "… is not a <kind> op".
    kind: str
    session_type: type[S]
    check_type: type[GateCheck[R]]
    gate_failed: type[ProviderError]

    service: ServiceConfig
    #: Replaces the default gate of gradual switches.
    gate: Gate | None
    _session: S | None = None

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        ok = False
        try:
            if step.op == self.change_op:
                finished = yield from self._change(step, plan)
            elif step.op == self.gate_op:
                finished = yield from self._gate(step, plan)
            else:
                raise ProviderError(f"step {step.title!r}: {step.op!r} is not a {self.kind} op")
            ok = True
            return finished
        finally:
            self._after(step, plan, ok)

    def _change(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        raise NotImplementedError

    def _restore_after(
        self, check: GateCheck[R], plan: Plan, why: str
    ) -> Generator[str, None, str]:
        """Put ``check.restore`` back after its gate failed; the message to raise."""
        raise NotImplementedError

    def _gate(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        check = self.check_type.of(step)
        gate = yield from self._prepare_gate(plan)
        request = GateRequest(
            service=self.service,
            target=check.target,
            percent=check.percent,
            duration_s=check.duration_s,
            number=check.number,
            total=check.total,
        )
        yield f"watching for {check.duration_s:g} s with {check.target} at {check.percent}%"
        result = yield from watch(gate, request)
        if result.passed:
            return f"gate {check.number} passed at {check.percent}%: {result.message}"
        why = f"gate {check.number} at {check.percent}% failed: {result.message}"
        message = yield from self._restore_after(check, plan, why)
        raise self.gate_failed(message)

    def _prepare_gate(self, plan: Plan) -> Generator[str, None, Gate]:
        session = self._session_for(plan)
        if session.gate is None:
            if self.gate is not None:
                session.gate = self.gate
            else:
                session.own_gate = HealthAndErrorRateGate(self.service)
                session.gate = session.own_gate
            prepare = getattr(session.gate, "prepare", None)
            if callable(prepare):
                line = prepare()
                if line:
                    yield str(line)
        return session.gate

    # ------------------------------------------------------------------ one run of a plan

    def _first(self, step: Step, plan: Plan) -> bool:
        """Whether ``step`` is the first of this part's steps in ``plan`` (what runs first)."""
        mine = [s for s in plan.steps if s.op in self.ops]
        return bool(mine) and (mine[0] is step or mine[0] == step)

    def _session_for(self, plan: Plan) -> S:
        if self._session is None or self._session.plan is not plan:
            self._close()
            self._session = self.session_type(plan)
        return self._session

    def _after(self, step: Step, plan: Plan, ok: bool) -> None:
        """After a step: the run is over when it failed, or no gate comes after it."""
        steps = list(plan.steps)
        at = next((i for i, s in enumerate(steps) if s is step), None)
        later = steps[at + 1 :] if at is not None else []
        if not ok or not any(s.op == self.gate_op for s in later):
            self._close()

    def _close(self) -> None:
        session, self._session = self._session, None
        if session is not None and session.own_gate is not None:
            session.own_gate.close()
