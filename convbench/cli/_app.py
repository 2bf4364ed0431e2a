"""The Typer app and the one place that maps errors to exit codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import typer

from ..errors import ConvbenchError

app = typer.Typer(
    name="convbench",
    help="Which strided 2D/3D convolution method is fastest, and what does it cost, for my sizes?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``convbench: error: message`` to stderr and return the Exit to raise."""
    typer.secho(f"convbench: error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def command(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a command whose :class:`ConvbenchError` becomes a one-line error and exit 2."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*a: Any, **k: Any) -> Any:
            try:
                return func(*a, **k)
            except ConvbenchError as e:
                raise fail(str(e)) from None

        return app.command(*args, **kwargs)(wrapper)

    return decorate
