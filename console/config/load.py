"""Reading the whole file: the ``Config`` a console runs on, or one ``ConfigError``."""

from __future__ import annotations

import dataclasses
import functools
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from console.config.console import ConsoleConfig, read_console
from console.config.reader import ConfigError, ConfigNotFound, Loader, Reader, shown
from console.config.service import ServiceConfig, read_service
from console.config.ui import read_keys
from console.redact import Redactor


@dataclass(frozen=True)
class Config:
    path: Path
    console: ConsoleConfig
    services: tuple[ServiceConfig, ...]
    #: ``[keys]``: binding id -> key(s), Textual's keymap (``console.config.ui``).
    keys: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @functools.cached_property
    def redactor(self) -> Redactor:
        """The one redactor of this config (``console.redact``), built on first use.

        It masks the credentials of every URL in the config and the value of
        every ``*_env`` variable it names, as the environment holds them now.
        """
        return Redactor.for_config(self)

    def service(self, name: str) -> ServiceConfig:
        """The service called ``name``; a ``ConfigError`` (exit 2) names the known ones."""
        for svc in self.services:
            if svc.name == name:
                return svc
        known = ", ".join(s.name for s in self.services) or "none"
        raise ConfigError(self.path, "services", f"unknown service {name!r} (known: {known})")


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config at ``path``; raise ``ConfigError`` on anything wrong."""
    env = os.environ if environ is None else environ
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError:
        raise ConfigNotFound(path, "", "config file not found") from None
    except IsADirectoryError:
        raise ConfigError(path, "", "is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read: {exc.strerror}") from None
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, "", f"not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError, or an integer too long to convert
        raise ConfigError(path, "", f"invalid TOML: {exc}") from None
    loader = Loader(path.resolve() if path.exists() else path, text, env)
    root = Reader(loader, data, "")
    root.expect("console", "services", "keys")
    console = loader.attempt(
        lambda: read_console(root.sub("console") or Reader(loader, {}, "console"), loader, env)
    )
    readers = loader.attempt(lambda: root.subs("services")) or []
    names = [r.table.get("name") for r in readers]
    for i, name in enumerate(names):
        if name is not None and name in names[:i]:
            loader.report(
                loader.error(f"services[{i}].name", f"duplicate service name {shown(name)}")
            )
    # Every service is read, whatever the others' problems: all of them are reported at once.
    services = tuple(loader.attempt(functools.partial(read_service, r)) for r in readers)
    if data.get("services", []) == []:
        loader.report(loader.error("services", "at least one [[services]] entry is required"))
    keys = loader.attempt(lambda: read_keys(root.sub("keys")))
    root.done()
    loader.finish()
    assert console is not None and all(services)  # else finish() raised
    return Config(
        path=loader.path,
        console=console,
        keys=keys or {},
        services=tuple(
            dataclasses.replace(s, state_dir=console.state_dir) for s in services if s is not None
        ),
    )
