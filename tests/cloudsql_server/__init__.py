"""A small, faithful fake of the Cloud SQL Admin API v1 (REST) for point-in-time recovery.

No Cloud SQL emulator exists, so this follows the public API for what the
console calls: reading an instance (state, addresses, connection name, backup
configuration), ``instances.clone`` to a point in time (a long-running
operation; the clone is ``PENDING_CREATE`` until it is done), the operation,
and ``getLatestRecoveryTime``; errors with the API's status codes and shape.
"""

from tests.cloudsql_server.server import CloudSqlServer

__all__ = ["CloudSqlServer"]
