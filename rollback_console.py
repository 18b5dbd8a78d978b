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

The three packages must be beside this module (its folder is site-packages
in an install, the checkout in an editable install or a run from a clone);
an installed wheel's ``RECORD`` beside it also gives their hashes.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
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
    else the line saying which distribution has them and what to do.

    Cheap on the common path (it runs at every start): this module's own folder
    is where the three packages must be, and an installed wheel's ``RECORD``
    beside it holds their hashes; ``importlib.metadata`` is imported only to
    name the owner of a file that is not ours.
    """
    here = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    records = sorted(Path(here).glob("rollback_console-*.dist-info/RECORD"))
    hashes = _hashes(records[-1]) if records else {}
    for name in NAMES:
        origin = _origin(name)
        if origin is None or not os.path.exists(origin):
            return (
                f"the `{name}` package of {DISTRIBUTION} is missing (another distribution's "
                f"uninstall may have deleted it): {_advice()}"
            )
        expected = os.path.join(here, name, "__init__.py")
        if origin == expected and (not records or _hash_matches(hashes.get(expected), origin)):
            continue
        owner = _owner(origin)
        who = f"the `{owner}` distribution" if owner else "another copy"
        return (
            f"the import name `{name}` is taken by {who} ({origin}), not {DISTRIBUTION}: "
            f"{_advice()}"
        )
    return ""


def _hashes(record: Path) -> dict[str, str]:
    """``RECORD``'s sha256 of each package's ``__init__.py``, by real path."""
    wanted = {f"{name}/__init__.py" for name in NAMES}
    found: dict[str, str] = {}
    try:
        lines = record.read_text(encoding="utf-8").splitlines()
    except OSError:
        return found
    for line in lines:
        path, _, rest = line.partition(",")
        if path in wanted:
            found[os.path.join(str(record.parent.parent), path)] = rest.split(",")[0]
    return found


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


def _hash_matches(recorded: str | None, path: str) -> bool:
    """The file at ``path`` is still the one installed (another install may overwrite it)."""
    if not recorded or not recorded.startswith("sha256="):
        return True  # not recorded, or with another algorithm: nothing to compare with
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).digest()
    except OSError:
        return False
    encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return encoded == recorded[len("sha256=") :]


def _owner(path: str) -> str:
    """The distribution (other than ours) whose installed file list holds ``path``."""
    import importlib.metadata

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
