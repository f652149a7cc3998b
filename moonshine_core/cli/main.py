"""The ``moonshine`` command: a thin layer over the Python API.

The console script ``moonshine`` is :data:`cli` here; the group and its
global options are defined in :mod:`.group`, the commands in :mod:`.commands`
and :mod:`.distill_command` (all registered when :mod:`moonshine_core.cli` is
imported, which importing this module does first).
"""

from __future__ import annotations

from .group import Context, cli

__all__ = ["Context", "cli", "main"]


def main() -> None:  # pragma: no cover - console entry
    """Run the ``moonshine`` command."""
    cli(prog_name="moonshine")
