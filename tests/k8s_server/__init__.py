"""A small, faithful Kubernetes API server for tests (see ``server`` and ``controller``)."""

from tests.k8s_server.controller import Controllers
from tests.k8s_server.server import (
    FakeKubeServer,
    copy_state,
    deployment_manifest,
    running,
    set_image,
)
from tests.k8s_server.store import ApiError, Cluster

__all__ = [
    "ApiError",
    "Cluster",
    "Controllers",
    "FakeKubeServer",
    "copy_state",
    "deployment_manifest",
    "running",
    "set_image",
]
