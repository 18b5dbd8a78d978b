"""The console's lock on a Swarm service, seen by every console that talks to that Swarm.

Not a label on the service: any service update (a label too) makes the live
spec ``PreviousSpec`` and resumes a paused update (observed on Docker 20.10),
which would destroy the very rollback target.  The lock is a Swarm config object
``rollback-console-lock.SERVICE`` instead: creating it is atomic (a second
create is refused), and taking over an expired one updates its labels with
``?version=`` (the Engine's optimistic concurrency), so two consoles cannot both
win.  Labels: ``operator``, ``host``, ``expires`` (UNIX seconds).
"""

from __future__ import annotations

import base64
import time

from providers.base import Conflict, LockHeld, NotFound
from providers.swarm.client import EngineClient

PREFIX = "rollback-console-lock."


class SwarmLock:
    def __init__(self, client: EngineClient, ttl_s: float) -> None:
        self.client = client
        self.ttl_s = ttl_s

    @property
    def name(self) -> str:
        return PREFIX + self.client.cfg.service

    def acquire(self, operator: str, host: str, ttl_s: float) -> str:
        ttl = ttl_s or self.ttl_s
        labels = {"operator": operator, "host": host, "expires": f"{time.time() + ttl:.0f}"}
        body = {
            "Name": self.name,
            "Labels": labels,
            "Data": base64.b64encode(f"{operator}@{host}".encode()).decode(),
        }
        try:
            self.client.request("POST", "/configs/create", body=body, what="lock", sends=True)
            return ""
        except Conflict:
            pass
        held = self.client.request("GET", f"/configs/{self.name}", what="lock")
        old = held["Spec"].get("Labels") or {}
        mine = old.get("operator") == operator and old.get("host") == host
        expired = float(old.get("expires", "0") or 0) < time.time()
        if not (mine or expired):
            raise LockHeld(
                f"{self.client.cfg.service} is being rolled back by {old.get('operator', '?')} "
                f"on {old.get('host', '?')} (Swarm config {self.name})"
            )
        spec = dict(held["Spec"], Labels=labels)
        try:
            self.client.request(
                "POST",
                f"/configs/{held['ID']}/update",
                params={"version": held["Version"]["Index"]},
                body=spec,
                what="lock take-over",
                sends=True,
            )
        except Conflict:
            raise LockHeld(
                f"another console took the lock on {self.client.cfg.service} first"
            ) from None
        if mine:
            return ""
        return f"took over an expired lock of {old.get('operator', '?')} on {old.get('host', '?')}"

    def release(self, operator: str, host: str) -> None:
        try:
            held = self.client.request("GET", f"/configs/{self.name}", what="lock")
            labels = held["Spec"].get("Labels") or {}
            if labels.get("operator") == operator and labels.get("host") == host:
                self.client.request("DELETE", f"/configs/{held['ID']}", what="lock", sends=True)
        except NotFound:
            return
