"""Platform adapters.  Only the provider a service uses is ever imported."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from providers.base import Provider, ProviderError

if TYPE_CHECKING:
    from console.config import ServiceConfig

#: provider name -> "module:class"; the module is imported only when used, so a
#: console configured for one platform never pays for another's SDK.
REGISTRY: dict[str, str] = {
    "host": "providers.host:HostProvider",
    "kubernetes": "providers.kubernetes:KubernetesProvider",
    "ecs": "providers.ecs:EcsProvider",
    "cloudrun": "providers.cloudrun:CloudRunProvider",
}


def load_provider(service: ServiceConfig) -> Provider:
    """Build the provider for ``service``; an import failure becomes one clear line."""
    try:
        target = REGISTRY[service.provider]
    except KeyError:
        raise ProviderError(f"unknown provider {service.provider!r}") from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ProviderError(
            f"provider {service.provider!r} cannot be loaded: {exc} "
            "(is the package installed in this environment?)"
        ) from None
    cls = getattr(module, class_name)
    provider: Provider = cls(service)
    return provider
