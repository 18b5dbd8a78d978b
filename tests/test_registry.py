"""One list of the names a config may give a provider or an error-rate source.

``console.registry`` holds them; the config accepts exactly those names, and
the loaders build from them.  Another copy drifting apart would let a config
pass ``check-config`` and then fail to load (or refuse a name that loads).
"""

from __future__ import annotations

import importlib

import pytest

from console.config.error_rate import KNOWN_SOURCES
from console.config.service import KNOWN_PROVIDERS, PROVIDER_SECTIONS
from console.registry import BUILTIN_PROVIDERS, ERROR_RATE_SOURCES, PROVIDERS


def test_the_config_accepts_exactly_the_registered_names() -> None:
    assert tuple(PROVIDERS) == KNOWN_PROVIDERS
    assert tuple(PROVIDER_SECTIONS) == tuple(BUILTIN_PROVIDERS)  # each built-in has its section
    assert tuple(ERROR_RATE_SOURCES) == KNOWN_SOURCES


def test_the_loaders_build_from_the_registry() -> None:
    import console.signals
    import providers

    assert console.signals.REGISTRY == ERROR_RATE_SOURCES
    assert providers.REGISTRY == PROVIDERS


@pytest.mark.parametrize("target", [*PROVIDERS.values(), *ERROR_RATE_SOURCES.values()])
def test_every_registered_name_names_a_class(target: str) -> None:
    module_name, _, class_name = target.partition(":")
    assert isinstance(getattr(importlib.import_module(module_name), class_name), type)
