"""Exception types of the public API.

Every error a user can cause (bad input, refused operation, broken plugin) is a
``MoonshineError``; the CLI prints its message as one line and exits non-zero.
Plugins raise :class:`ParseError` for an export they cannot read at all and
:class:`NormalizeError` for one raw record they cannot turn into records (the
run goes on and the record is listed in the manifest).
"""

from __future__ import annotations


class MoonshineError(Exception):
    """Base class for errors that are reported to the user as one line."""


class ParseError(MoonshineError):
    """An export (or one file inside it) cannot be read.

    ``path`` names the file; the message says what is wrong with it.
    """

    def __init__(self, message: str, *, path: str | None = None):
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class NormalizeError(MoonshineError):
    """One raw record cannot be normalised; the ingest lists it with this reason."""


class RecordError(MoonshineError):
    """A record failed to structure; the message names the field path."""


class PluginError(MoonshineError):
    """A plugin failed to load or misbehaved (strict mode makes this fatal)."""


class StoreError(MoonshineError):
    """The database is missing, of an unknown schema, or inconsistent."""


class CorruptFileError(StoreError, ValueError):
    """A JSON report or manifest cannot be read (truncated, not JSON, not UTF-8).

    Also a ``ValueError``, so code that treats unreadable JSON as "corrupt" keeps working.
    """


class TokenizerError(MoonshineError):
    """The o200k_base encoding file is missing or altered."""


class WorkspaceError(MoonshineError):
    """The workspace or its settings are unusable, or another writer holds the lock."""


class DetectionError(MoonshineError):
    """No plugin, or more than one plugin equally, recognises an export."""


class RefusedError(MoonshineError):
    """An operation was refused by an invariant; nothing was changed."""
