"""The ``atomic`` command line."""

from atomic.cli._app import app, main

__all__ = ["app", "main"]
