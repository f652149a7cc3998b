"""The ``moonshine`` command line (see :mod:`moonshine_core.cli.main`).

Importing the package registers every command on the group, so each way in
(the console script, ``python -m moonshine_core.cli.main``, a test importing
:mod:`.group`) sees the whole command set.
"""

from . import commands, distill_command, export_command, gc_command, search_command, show_command  # noqa: F401
