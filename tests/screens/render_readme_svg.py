"""Write the README's dashboard picture: ``python -m tests.screens.render_readme_svg [PATH]``.

The dashboard of ``web (production)`` during a bad v1.3.0 deploy, at 120x40,
on the same fixed data and frozen clock as the snapshot tests (times shown in
UTC), so the picture only changes when the dashboard does.  Default PATH:
``docs/dashboard.svg``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from tests.screens.fixed_dashboard import fixed_app

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PATH = REPO / "docs" / "dashboard.svg"
SIZE = (120, 40)


async def render_dashboard_svg(path: Path = DEFAULT_PATH) -> Path:
    """Render the fixed-data dashboard and save it as an SVG at ``path``."""
    os.environ["TZ"] = "UTC"
    time.tzset()
    for name in ("NO_COLOR", "TEXTUAL_THEME"):
        os.environ.pop(name, None)
    app = fixed_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_all()
        await pilot.pause()
        dashboard = app.dashboard
        assert dashboard is not None
        dashboard._tick()
        await pilot.pause()
        svg = app.export_screenshot(title="rollback-console")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg, encoding="utf-8")
    return path


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_PATH
    written = asyncio.run(render_dashboard_svg(path))
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
