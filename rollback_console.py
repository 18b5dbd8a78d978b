"""The ``rollback-console`` command: check that our import names are ours, then run the CLI.

Our layout needs three generic top-level import names, ``console``,
``screens`` and ``providers``; other distributions on the package index use
them too.  Installed into the same environment, one of them overwrites our
files or shadows them on ``sys.path``, and the console breaks in ways that
name neither (an ImportError from deep inside, or someone else's code
running).  This module has a name of its own, so it can run before any of
the three is imported: it finds where each would be imported from (without
importing it) and checks that file against this distribution's installed
file list and hashes (``importlib.metadata``).  A mismatch is one line
naming the distribution that owns the file, exit 2, and the way out: an
environment of its own (pipx, uv tool).

An editable install (a checkout) is checked against the checkout instead: the
three names must come from one folder whose pyproject.toml is ours.  Without
any installed metadata (a checkout run with ``PYTHONPATH``) there is nothing
to compare with and nothing is checked.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
from pathlib import Path

DISTRIBUTION = "rollback-console"
NAMES = ("console", "screens", "providers")
EXIT_BAD_INPUT = 2


def main() -> None:
    """Console-script entry: refuse a clash of import names, else ``console.cli.main``."""
    problem = import_clash()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    from console.cli import main as cli_main

    cli_main()


def import_clash() -> str:
    """ "" when ``console``, ``screens`` and ``providers`` are this distribution's files;
    else the line saying which distribution has them and what to do."""
    try:
        ours = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return ""
    checkout = _editable_checkout(ours)
    files: dict[str, importlib.metadata.PackagePath] = {}
    if checkout is None:
        for each in ours.files or ():
            files[os.path.realpath(str(ours.locate_file(each)))] = each
    for name in NAMES:
        origin = _origin(name)
        if origin is None or not os.path.exists(origin):
            return (
                f"the `{name}` package of {DISTRIBUTION} is missing (another distribution's "
                f"uninstall may have deleted it): {_advice()}"
            )
        if checkout is not None:
            if Path(origin).parent.parent == checkout:
                continue
        else:
            packaged = files.get(origin)
            if packaged is not None and _hash_matches(packaged, origin):
                continue
        owner = _owner(origin)
        who = f"the `{owner}` distribution" if owner else "another copy"
        return (
            f"the import name `{name}` is taken by {who} ({origin}), not {DISTRIBUTION}: "
            f"{_advice()}"
        )
    return ""


def _advice() -> str:
    return (
        f"install {DISTRIBUTION} in an environment of its own: "
        f"`pipx install {DISTRIBUTION}` or `uv tool install {DISTRIBUTION}`"
    )


def _origin(name: str) -> str | None:
    """The real path of the file ``import name`` would run, found without running it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.origin and spec.origin not in ("namespace", "built-in", "frozen"):
        return os.path.realpath(spec.origin)
    locations = list(spec.submodule_search_locations or ())
    return os.path.realpath(os.path.join(locations[0], "__init__.py")) if locations else None


def _hash_matches(packaged: importlib.metadata.PackagePath, path: str) -> bool:
    """The file at ``path`` is still the one installed (another install may overwrite it)."""
    recorded = packaged.hash
    if recorded is None or recorded.mode != "sha256":
        return True
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).digest()
    except OSError:
        return False
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii") == recorded.value


def _editable_checkout(dist: importlib.metadata.Distribution) -> Path | None:
    """The checkout folder of an editable install (PEP 610 ``direct_url.json``), else None."""
    try:
        info = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        return None
    url = str(info.get("url", ""))
    if not info.get("dir_info", {}).get("editable") or not url.startswith("file://"):
        return None
    # A checkout's git worktree may run its own copy (PYTHONPATH): any folder holding
    # our pyproject.toml counts as the checkout the names come from.
    origin = _origin("console")
    if origin is not None:
        folder = Path(origin).parent.parent
        try:
            project = (folder / "pyproject.toml").read_text(encoding="utf-8")
        except OSError:
            project = ""
        if f'name = "{DISTRIBUTION}"' in project:
            return folder
    return Path(os.path.realpath(url[len("file://") :]))


def _owner(path: str) -> str:
    """The distribution (other than ours) whose installed file list holds ``path``."""
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] or ""
        if name.lower().replace("_", "-") == DISTRIBUTION:
            continue
        for packaged in dist.files or ():
            if os.path.realpath(str(dist.locate_file(packaged))) == path:
                return name
    return ""


if __name__ == "__main__":  # pragma: no cover
    main()
