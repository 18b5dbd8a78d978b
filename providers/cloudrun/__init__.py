"""The Cloud Run provider: move a service's traffic back to an earlier revision (runbook 004).

Runbook 004 done from the console: list revisions, send 100% of the traffic
to the revision that served before the bad deploy (``gcloud run services
update-traffic SERVICE --to-revisions REV=100``), or do it in steps (10% ->
50% -> 100%) watching health and error rate between steps, or send it all to
LATEST again.

One concern a module:

``client``   the Cloud Run Admin API (v2): the SDK imported on first use, every
             call bounded, every failure one ``ProviderError`` line
``views``    what the console needs of a Service and a Revision
``traffic``  traffic arithmetic: routes, splits, tags kept, gradual steps
``read``     the snapshot: current revision, revisions, serving units, notes
``ops``      the typed steps (``cloudrun.set_traffic``, ``cloudrun.gate``):
             their params and the command each shows
``plans``    rollback, ``gradual`` and ``to-latest`` plans from the live service
``run``      the part that runs the steps and says on resume what took effect
``diff``     what changes between the live revision and the target
``apply``    one traffic change, sent with its etag and followed until served
``gate``     the health and error-rate gate between gradual steps
``wait``     ``wait_ready``
``provider`` ``CloudRunProvider``, which puts them together
"""

from __future__ import annotations

from providers.cloudrun.ops import GRADUAL, TO_LATEST
from providers.cloudrun.provider import CloudRunProvider
from providers.cloudrun.run import GateFailed

__all__ = ["GRADUAL", "TO_LATEST", "CloudRunProvider", "GateFailed"]
