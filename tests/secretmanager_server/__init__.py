"""A small, faithful fake of the Secret Manager API v1 (REST), for the Cloud Run switch.

No Secret Manager emulator exists, so this follows the public API for what the
console calls: a secret's versions (newest first, paged), one version (a
number or ``latest``), ``versions/V:access`` (the payload, base64), and
``secrets/S:addVersion``; ``:disable`` / ``:enable`` for the way back; errors
with the API's status codes and shape.
"""

from tests.secretmanager_server.server import SecretManagerServer

__all__ = ["SecretManagerServer"]
