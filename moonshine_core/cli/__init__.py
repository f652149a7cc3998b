"""The ``moonshine`` command line (see :mod:`moonshine_core.cli.main`)."""
