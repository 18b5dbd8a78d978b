"""rollback-console: the core (config, flow, journal, history) and the Textual app."""

#: The one place the version is written (pyproject.toml reads it; `--version` prints it).
__version__ = "0.1.0"
