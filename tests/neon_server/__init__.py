"""A small, faithful fake of the Neon API v2 for point-in-time recovery by branching.

Neon restores to a moment by creating a branch from the parent as of
``parent_timestamp`` (within the project's history retention) with a new
compute endpoint; this follows the public API for what the console calls:
the project, branches, endpoints, operations, a bearer API key, and errors as
``{"code", "message"}`` with the API's statuses.
"""

from tests.neon_server.server import NeonServer

__all__ = ["NeonServer"]
