"""Streaming the raw records out of a DeepSeek export.

Conversations are streamed one at a time with ijson (``source.iter_json``),
never loaded whole; ``user.json`` (a few hundred bytes) is loaded whole and
comes last, as a side record. The export's layout is worked out before the
first record is produced (:func:`plan`), so an export that is not DeepSeek's,
or a text file that only quotes one, is refused at once with a
:class:`~moonshine_core.errors.ParseError` saying what is missing.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator

from moonshine_core.errors import ParseError
from moonshine_core.records import RawRecord
from moonshine_core.sources import ExportSource

from .layout import EXPECTED, Layout, inspect_export

# What reading a damaged zip member or file can raise besides ParseError (ExportSource turns
# what zipfile raises when it opens an encrypted or oddly compressed member into ParseError).
READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, UnicodeDecodeError)


def read_layout(source: ExportSource) -> Layout | None:
    """:func:`~moonshine_deepseek.layout.inspect_export`, with read failures as :class:`ParseError`."""
    try:
        return inspect_export(source)
    except ParseError:
        raise
    except READ_ERRORS as exc:
        raise ParseError(f"unreadable export ({type(exc).__name__}: {exc})", path=str(source.path)) from exc


def plan(source: ExportSource) -> Layout:
    """The layout to stream, or :class:`ParseError` naming what is missing."""
    found = read_layout(source)
    if found is None:
        raise ParseError(f"not a DeepSeek export: missing {EXPECTED}", path=str(source.path))
    if found.refusal:
        raise ParseError(found.refusal, path=str(source.path))
    return found


def stream(source: ExportSource, found: Layout) -> Iterator[RawRecord]:
    """Raw records of a planned export: every conversation, then ``user.json``."""
    for where in found.streams:
        try:
            for index, item in enumerate(source.iter_json(where.member, where.prefix)):
                yield RawRecord(kind="conversation", data=item, member=where.member, index=index,
                                variant=found.variant, context={"shape": where.shape})
        except ParseError:
            raise
        except READ_ERRORS as exc:
            raise ParseError(f"unreadable ({type(exc).__name__}: {exc})",
                             path=source.display(where.member)) from exc
    if found.user_member:
        context = {"side": "user"}
        data = None
        try:
            data = source.load_json(found.user_member)
        except ParseError as exc:
            # A damaged side file costs that record (listed with its reason), not the conversations.
            context["error"] = str(exc)
        except READ_ERRORS as exc:
            context["error"] = f"{type(exc).__name__}: {exc}"
        yield RawRecord(kind="side", data=data, member=found.user_member, index=0,
                        variant=found.variant, context=context)


def parse(source: ExportSource) -> Iterator[RawRecord]:
    """Plan ``source`` (refusing what is not a DeepSeek export) and stream its raw records."""
    return stream(source, plan(source))
