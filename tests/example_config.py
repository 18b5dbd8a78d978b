"""The example config's commented example services (kubernetes, ecs, cloudrun, alb),
uncommented: the config a user would copy out of ``config.example.toml``."""

from __future__ import annotations

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
