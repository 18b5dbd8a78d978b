"""The example config's commented example services (kubernetes, ecs, cloudrun, alb),
uncommented: the config a user would copy out of ``config.example.toml``."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import REPO


def example_services_text() -> str:
    lines = (REPO / "config.example.toml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# --- example:"))
    kept = []
    for line in lines[start:]:
        if line.startswith("# --- example:"):
            kept.append("")
        elif line.startswith("# "):
            kept.append(line[2:])
    return "\n".join(kept) + "\n"


#: A commented line that is TOML, not prose: ``# key = value``, ``# [table]``, ``# [[array]]``.
_TOML_LINE = re.compile(r"^#\s?(\[{1,2}[A-Za-z_][\w.]*\]{1,2}|[A-Za-z_][\w\-]* = \S)")


def every_key_text() -> str:
    """The whole example with every commented key and table uncommented (the optional
    ones above the example services, the engine sub-tables, ``# # endpoint_url`` lines in
    the examples): every key the example documents, as TOML.  Tables that exclude each
    other (the PITR engines) are all present: this is for the schema, not ``load_config``."""
    text = (REPO / "config.example.toml").read_text()
    head = text[: text.index("\n# --- example:")].splitlines()
    return "\n".join(_uncomment(head) + _uncomment(example_services_text().splitlines())) + "\n"


def _uncomment(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        while _TOML_LINE.match(line) and _parses(line[1:]):
            line = line[1:].removeprefix(" ")
        out.append(line)
    return out


def _parses(line: str) -> bool:
    """Prose that happens to start ``# run = [argv] (no shell...`` is not TOML."""
    try:
        tomllib.loads(line.strip())
    except tomllib.TOMLDecodeError:
        return False
    return True
