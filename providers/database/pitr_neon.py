"""The Neon engine of point-in-time recovery (``[services.database.pitr.neon]``).

Runbook 004: a NEW branch named after the time
(``providers.database.pitr.identifier``) created from the parent branch at
``parent_timestamp``, with its own read-write endpoint; its operations and
then the branch followed until ready, then the checks (``pitr_managed``).
What is restorable is the project's history retention.  The parent branch is
never changed; nothing is deleted.  The API key is read from ``api_key_env``
when a call is made, never kept in a step or a message.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Mapping
from datetime import datetime

from console.config import NeonPitrConfig, ServiceConfig
from console.model import utcnow
from providers.base import ProviderError
from providers.database.neon import NeonClient, api_key_from
from providers.database.pitr import Window, shown
from providers.database.pitr_managed import ManagedEngine


class NeonEngine(ManagedEngine):
    name = "neon"
    kind = "Neon branch"

    def __init__(
        self,
        service: ServiceConfig,
        cfg: NeonPitrConfig,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(service, cfg.timeout_s)
        self.cfg = cfg
        self._environ = environ
        self._client: NeonClient | None = None

    @property
    def client(self) -> NeonClient:
        if self._client is None:
            env = os.environ if self._environ is None else self._environ
            self._client = NeonClient(
                self.cfg.project_id,
                api_key_from(self.cfg.api_key_env, env),
                api_endpoint=self.cfg.api_endpoint,
                parent_branch=self.cfg.parent_branch,
            )
        return self._client

    def source(self) -> str:
        parent = self.cfg.parent_branch or "the default branch"
        return f"{parent} of Neon project {self.cfg.project_id}"

    def window(self) -> Window:
        win = self.client.window(utcnow())
        return Window(
            win.earliest,
            win.latest,
            (),
            f"the history retention of Neon project {self.cfg.project_id}",
            "now",
        )

    def exists(self, name: str) -> str | None:
        found = self.client.find(name)
        return None if found is None else found.state

    def start(self, name: str, when: datetime) -> Generator[str, None, str]:
        parent = self.client.parent()
        branch_id, ops = self.client.create(name, when, str(parent["id"]))
        yield f"branch {name} ({branch_id}) created; {len(ops)} operation(s) running"
        return f"Neon is branching {parent.get('name')} as of {shown(when)} into {name}"

    def wait(self, name: str, timeout_s: float) -> Generator[str, None, str]:
        branch = yield from self.client.wait_ready(name, timeout_s)
        return (
            f"branch {name} ({branch.id}) is ready; endpoint {branch.endpoint_id} at {branch.host}"
        )

    def ready(self, name: str) -> bool:
        found = self.client.find(name)
        return found is not None and found.ready

    def host_of(self, name: str) -> str:
        found = self.client.find(name)
        if found is None or not found.host:
            raise ProviderError(f"Neon branch {name} has no read-write endpoint yet")
        return found.host

    def command(self, name: str, when: datetime) -> str:
        return self.client.cli(name, when)


def make_engine(service: ServiceConfig, cfg: NeonPitrConfig, api: object = None) -> NeonEngine:
    """The registry's entry point (``providers.database.pitr.ENGINES``)."""
    return NeonEngine(service, cfg)
