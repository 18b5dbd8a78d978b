"""A small, faithful fake of the Cloud Run Admin API v2 (REST) for the provider's tests.

No Cloud Run emulator exists, so this follows the public API: services,
revisions, traffic and traffic statuses, long-running operations that finish
after a delay (or fail, or never finish), etags, and errors with the API's
status codes and JSON shape.  The official client is pointed at it with
``transport="rest"``, ``client_options={"api_endpoint": server.url}`` and
anonymous credentials.  It also serves Cloud Monitoring's ``timeSeries.list``
for the ``cloudmonitoring`` error-rate source.
"""

from tests.cloudrun_server.server import CloudRunServer

__all__ = ["CloudRunServer"]
