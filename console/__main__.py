"""``python -m console``: the same as the ``rollback-console`` command."""

from console.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
