"""Building the wheel and installing it outside the repository (tests/packaging/)."""
