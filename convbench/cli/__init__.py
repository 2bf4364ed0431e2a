"""Command-line interface. Thin commands only: each hands off to a plain function elsewhere."""

from __future__ import annotations

# Importing a command module registers its commands on the app, in this order in --help.
from . import inspect, run, plot, report, compare, tune, shard  # noqa: F401  isort: skip
from ._app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
