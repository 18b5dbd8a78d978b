"""What the managed-database engines (Cloud SQL, Neon) share: three steps and their part.

A managed platform restores to a moment with one API call into a new
instance (a clone, a branch) and then takes its time.  So an engine of this
kind plans the same three steps, each with its own op under the engine's
name (``pitr.<engine>.restore`` / ``.wait`` / ``.checks``):

1. **restore**: the platform call, sent only when no instance of that name
   exists (on resume, ``took_effect`` looks for it by name: never twice);
2. **wait**: until the platform says the new instance is available (bounded
   by the engine's ``timeout_s``, progress shown);
3. **checks** (with ``[services.database] checks``): the same checks on the
   live database and on the new one, side by side.

An engine subclass says how each is done on its platform (``exists``,
``start``, ``wait``, ``ready``, ``host_of``); the new DSN (``dsn_of``) is the
live one with the new host (``providers.database.restored.dsn_with_host``),
never journaled, never printed.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from datetime import datetime
from typing import Any, ClassVar

from console.config import CloudSqlPitrConfig, NeonPitrConfig, ServiceConfig
from console.model import Plan, Step, StepKind
from console.runner import Skipped
from providers.base import InvalidTarget, OutcomeUnknown, ProviderError
from providers.database.connection import DatabaseConnection
from providers.database.pitr import Window, checks_beside_live, identifier, make_engine, shown
from providers.database.restored import dsn_with_host, shown_dsn


class ManagedEngine:
    """A managed platform's engine (``providers.database.pitr.PitrEngine``)."""

    name: ClassVar[str] = ""
    #: The platform's word for the new thing ("Cloud SQL instance", "Neon branch").
    kind: ClassVar[str] = ""

    def __init__(self, service: ServiceConfig, timeout_s: float) -> None:
        self.service = service
        self.timeout_s = timeout_s

    # ----------------------------------------------------------------- per platform

    def window(self) -> Window:
        raise NotImplementedError

    def exists(self, name: str) -> str | None:
        """The state of ``name`` when it exists, else None."""
        raise NotImplementedError

    def start(self, name: str, when: datetime) -> Generator[str, None, str]:
        """The one platform call (``name`` does not exist yet)."""
        raise NotImplementedError

    def wait(self, name: str, timeout_s: float) -> Generator[str, None, str]:
        """Until ``name`` is available; a sentence saying so."""
        raise NotImplementedError

    def ready(self, name: str) -> bool:
        raise NotImplementedError

    def host_of(self, name: str) -> str:
        """The host the application reaches ``name`` at (``ProviderError`` without one)."""
        raise NotImplementedError

    def command(self, name: str, when: datetime) -> str:
        """The command an operator would type for the restore."""
        raise NotImplementedError

    def source(self) -> str:
        """The live instance or branch, in words."""
        raise NotImplementedError

    # ----------------------------------------------------------------- shared

    def new_id(self, when: datetime) -> str:
        return identifier(self.service, when)

    def where(self, when: datetime) -> str:
        return f"the {self.kind} {self.new_id(when)} beside {self.source()}"

    def dsn_of(self, name: str, environ: Mapping[str, str] | None = None) -> str:
        live = DatabaseConnection(self.service, environ).dsn()
        return dsn_with_host(live, self.host_of(name))

    def shown_dsn(self, name: str, environ: Mapping[str, str] | None = None) -> str:
        live = DatabaseConnection(self.service, environ).dsn()
        return shown_dsn(self.host_of(name), live.database)

    def op(self, verb: str) -> str:
        return f"pitr.{self.name}.{verb}"

    @property
    def ops(self) -> frozenset[str]:
        return frozenset(self.op(v) for v in ("restore", "wait", "checks"))

    def restore_steps(self, when: datetime, win: Window) -> list[Step]:
        name = self.new_id(when)
        title = (
            f"Restore {self.source()} as it was at {shown(when)} into a NEW {self.kind} "
            f"{name}; {self.source()} itself is not changed"
        )
        state = self.exists(name)
        if state is not None:
            title += f" — {name} exists already ({state}), so it is not restored again"
        common: dict[str, Any] = {"instance": name, "point_in_time": when.isoformat()}
        steps = [
            Step(
                title=title,
                command=self.command(name, when),
                kind=StepKind.BACKUP,
                timeout_s=120.0,
                op=self.op("restore"),
                params=common,
            ),
            Step(
                title=f"Wait until {name} is available (bounded: {self.timeout_s:g} s)",
                command=f"# poll the {self.kind} {name} until it is available",
                kind=StepKind.WAIT,
                timeout_s=self.timeout_s,
                op=self.op("wait"),
                params=common,
            ),
        ]
        database = self.service.database
        if database is not None and database.checks:
            steps.append(
                Step(
                    title=f"Checks on the live database and on {name}, side by side",
                    command="; ".join(c.sql for c in database.checks),
                    kind=StepKind.COMMAND,
                    op=self.op("checks"),
                    params=common,
                )
            )
        return steps


class ManagedPitrPart:
    """Owns an engine's ``pitr.<engine>.*`` ops: restore (never twice), wait, checks."""

    def __init__(self, engine: ManagedEngine, environ: Mapping[str, str] | None = None) -> None:
        self.engine = engine
        self.ops = engine.ops
        self._environ = environ

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        engine = self.engine
        name = str(step.params["instance"])
        if step.op == engine.op("restore"):
            state = engine.exists(name)
            if state is not None:
                return Skipped(f"{name} exists already ({state}): not restored again")
            when = datetime.fromisoformat(str(step.params["point_in_time"]))
            try:
                return (yield from engine.start(name, when))
            except OutcomeUnknown:
                if engine.exists(name) is None:
                    raise
                return f"{name} exists: the call went through"
        if step.op == engine.op("wait"):
            return (yield from engine.wait(name, step.timeout_s))
        if step.op == engine.op("checks"):
            return (yield from self._checks(name))
        raise ProviderError(f"pitr: unknown op {step.op!r}")

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        name = str(step.params["instance"])
        if step.op == self.engine.op("restore"):
            return self.engine.exists(name) is not None
        if step.op == self.engine.op("wait"):
            return self.engine.ready(name)
        return None

    def _checks(self, name: str) -> Generator[str, None, str]:
        """The checks on the live database and on ``name``; one that cannot run is said so."""
        engine = self.engine
        counted = yield from checks_beside_live(
            engine.service, name, lambda: engine.dsn_of(name, self._environ), self._environ
        )
        if isinstance(counted, Skipped):
            return counted
        return f"{counted} check(s) on {name} beside the live database"


def offered(service: ServiceConfig) -> bool:
    """Whether ``service`` restores its database with a managed engine (Cloud SQL, Neon)."""
    cfg = service.database.pitr if service.database else None
    return isinstance(cfg, CloudSqlPitrConfig | NeonPitrConfig)


def engine_for(service: ServiceConfig, platform: str) -> ManagedEngine:
    """The managed engine of a ``platform`` (Cloud Run, Kubernetes) service; ``InvalidTarget``
    naming the tables it takes for any other."""
    engine = make_engine(service)
    if not isinstance(engine, ManagedEngine):
        raise InvalidTarget(
            f"{service.label}: a {platform} service restores its database with "
            "[services.database.pitr.cloudsql] or [services.database.pitr.neon]"
        )
    return engine
