"""Platform adapters.  Only the provider a service uses is ever imported."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from console.registry import PART_BACKENDS, PROVIDERS, provider_target
from providers.base import Provider, ProviderError

if TYPE_CHECKING:
    from console.config import ServiceConfig
    from providers.cdn import CloudFrontInvalidations
    from providers.database import DatabaseProvider

#: provider name -> "module:class" (``console.registry``, the one list of names); the
#: module is imported only when used, so a console configured for one platform never
#: pays for another's SDK.
REGISTRY = PROVIDERS


def load_provider(service: ServiceConfig) -> Provider:
    """Build the provider for ``service``; an import failure becomes one clear line."""
    target = provider_target(service.provider)
    if target is None:
        raise ProviderError(f"unknown provider {service.provider!r}")
    provider: Provider = _load(target, f"provider {service.provider!r}")(service)
    return provider


def load_database(service: ServiceConfig) -> DatabaseProvider:
    """Build the backend of ``service``'s database part (its ``[services.database]`` table)."""
    database: DatabaseProvider = _load(PART_BACKENDS["database"], "the database part")(service)
    return database


def load_cdn(service: ServiceConfig) -> CloudFrontInvalidations:
    """Build the backend of ``service``'s CDN part (its ``[services.cdn]`` table)."""
    cdn: CloudFrontInvalidations = _load(PART_BACKENDS["cdn"], "the CDN part")(service)
    return cdn


def _load(target: str, what: str) -> Any:
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ProviderError(
            f"{what} cannot be loaded: {exc} (is the package installed in this environment?)"
        ) from None
    return getattr(module, class_name)
