"""The Cloud SQL engine of point-in-time recovery (``[services.database.pitr.cloudsql]``).

Runbook 001: ``instances.clone`` of ``instance`` with a ``pointInTime`` into a
NEW instance named after the time (``providers.database.pitr.identifier``),
its operation and then the clone followed until RUNNABLE, then the checks
(``pitr_managed``).  What is restorable is what ``getLatestRecoveryTime``
reports (earliest and latest recovery time).  The live instance is never
changed; nothing is deleted.

The new host follows how the application reaches the live instance
(``CloudSqlInstance.host_for``): the ``/cloudsql/CONNECTION_NAME`` socket
folder Cloud Run mounts, the private address, or the public one.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime

from console.config import CloudSqlPitrConfig, ServiceConfig
from providers.base import ProviderError
from providers.database.cloudsql import CloudSqlClient
from providers.database.connection import DatabaseConnection
from providers.database.pitr import Window, shown
from providers.database.pitr_managed import ManagedEngine


class CloudSqlEngine(ManagedEngine):
    name = "cloudsql"
    kind = "Cloud SQL instance"

    def __init__(
        self, service: ServiceConfig, cfg: CloudSqlPitrConfig, client: CloudSqlClient | None = None
    ) -> None:
        super().__init__(service, cfg.timeout_s)
        self.cfg = cfg
        self.client = client or CloudSqlClient(
            cfg.project, cfg.instance, api_endpoint=cfg.api_endpoint
        )

    def source(self) -> str:
        return self.cfg.instance

    def window(self) -> Window:
        win = self.client.window()
        db = self.cfg.instance
        return Window(
            win.earliest,
            win.latest,
            (),
            f"the earliest recovery time of {db}",
            f"the latest recovery time of {db}",
        )

    def exists(self, name: str) -> str | None:
        found = self.client.find(name)
        return None if found is None else found.state

    def start(self, name: str, when: datetime) -> Generator[str, None, str]:
        op = self.client.clone(name, when)
        yield f"clone operation {op} started"
        return f"Cloud SQL is cloning {self.cfg.instance} as of {shown(when)} into {name}"

    def wait(self, name: str, timeout_s: float) -> Generator[str, None, str]:
        made = yield from self.client.wait_runnable(name, timeout_s)
        addresses = ", ".join(f"{t} {ip}" for t, ip in made.addresses)
        return f"{name} is RUNNABLE ({addresses}; {made.connection_name})"

    def ready(self, name: str) -> bool:
        found = self.client.find(name)
        return found is not None and found.state == "RUNNABLE" and bool(found.addresses)

    def host_of(self, name: str) -> str:
        found = self.client.find(name)
        if found is None or not found.addresses:
            state = found.state if found else "not there"
            raise ProviderError(f"Cloud SQL instance {name} has no address yet ({state})")
        live = DatabaseConnection(self.service).dsn()
        return found.host_for(live.params.get("host", ""), self.client.source())

    def command(self, name: str, when: datetime) -> str:
        return self.client.gcloud(name, when)


def make_engine(
    service: ServiceConfig, cfg: CloudSqlPitrConfig, api: object = None
) -> CloudSqlEngine:
    """The registry's entry point (``providers.database.pitr.ENGINES``)."""
    return CloudSqlEngine(service, cfg, api if isinstance(api, CloudSqlClient) else None)
