"""Full-text search over the mash: an FTS5 index of every message, kept current by SQLite itself.

The index (``messages_fts``) is an external-content FTS5 table over the mash's
``messages`` table: it stores only the index, not a second copy of the text, and
three triggers keep it in step with every insert, update and delete. So a merge
indexes what it brings in the same transaction as the rows, a rollback (which
restores a premerge snapshot, index included) leaves the index of the restored
rows, and a killed merge leaves neither. Provider-run DBs have no index (ingest
does not pay for it): :func:`install` runs only on the mash, when it is created
and when ``archive`` upgrades an older one (:func:`moonshine_core.mergelog.upgrade_mash`).

Datasette finds the index on its own (an FTS table whose ``content`` is
``messages``), so its search box works on the messages table; the views
``conversations_iso`` and ``messages_iso`` add ISO-8601 times beside the epoch
columns, and :func:`write_datasette_metadata` writes titles, descriptions and
facets.

Indexed columns: ``text`` (what the user saw), ``reasoning``, ``tool_calls_json``
and ``tool_results_json``. :func:`search` looks in the visible text of visible
messages unless asked to include reasoning or tool traffic. The tokenizer is
``unicode61`` with diacritics folded: words are split on spaces and punctuation,
so a word of a language written without spaces (Chinese, Japanese) is found
only as a whole run of characters.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import apsw
import attrs

from .errors import MoonshineError, StoreError
from .jsonio import write_json_atomic
from .store.db import connect
from .timeutil import to_epoch
from .workspace import Workspace

FTS_TABLE = "messages_fts"
_COLUMNS = ("text", "reasoning", "tool_calls_json", "tool_results_json")
_COLS = ", ".join(_COLUMNS)
_NEW = ", ".join(f"new.{c}" for c in _COLUMNS)
_OLD = ", ".join(f"old.{c}" for c in _COLUMNS)
_TRIGGERS = ("messages_fts_insert", "messages_fts_delete", "messages_fts_update")

_INSTALL = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(
    {_COLS}, content='messages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO {FTS_TABLE}(rowid, {_COLS}) VALUES (new.rowid, {_NEW});
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {_COLS}) VALUES ('delete', old.rowid, {_OLD});
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_update AFTER UPDATE ON messages BEGIN
    INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {_COLS}) VALUES ('delete', old.rowid, {_OLD});
    INSERT INTO {FTS_TABLE}(rowid, {_COLS}) VALUES (new.rowid, {_NEW});
END;
CREATE VIEW IF NOT EXISTS conversations_iso AS
    SELECT strftime('%Y-%m-%dT%H:%M:%SZ', created_at, 'unixepoch') AS created_at_iso,
           strftime('%Y-%m-%dT%H:%M:%SZ', updated_at, 'unixepoch') AS updated_at_iso, *
    FROM conversations;
CREATE VIEW IF NOT EXISTS messages_iso AS
    SELECT strftime('%Y-%m-%dT%H:%M:%SZ', created_at, 'unixepoch') AS created_at_iso, *
    FROM messages;
"""

#: Highlight markers put around matches by FTS5's ``snippet()``; control characters no text holds.
_MARK_ON, _MARK_OFF = "\x02", "\x03"
_WORD = re.compile(r"\w+", re.UNICODE)


def has_index(conn: apsw.Connection) -> bool:
    """Whether the DB has the search index and all three triggers that keep it current."""
    names = {name for (name,) in conn.execute(
        "SELECT name FROM sqlite_schema WHERE name = ? OR name IN (?, ?, ?)", (FTS_TABLE, *_TRIGGERS))}
    return names == {FTS_TABLE, *_TRIGGERS}


def install(conn: apsw.Connection) -> bool:
    """Create the index, its triggers and the ISO-time views, and index the messages already there.

    Call inside the caller's transaction (the mash changes in one step). Returns whether anything
    was created.
    """
    if has_index(conn):
        return False
    conn.execute(_INSTALL)
    # Triggers index only what changes from now on; 'rebuild' indexes what is there (a part left by
    # an older index included).
    conn.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
    return True


@attrs.frozen(kw_only=True)
class SearchHit:
    """One matching message."""

    provider: str
    conversation_id: str
    title: str | None
    message_id: str
    role: str
    created_at: float | None
    hidden: bool
    #: Text around the match, with each match between :data:`_MARK_ON` and :data:`_MARK_OFF`
    #: (``snippet(marks=("[", "]"))`` puts other markers in).
    raw_snippet: str
    rank: float

    def snippet(self, marks: tuple[str, str] = ("[", "]")) -> str:
        """The snippet on one line, matches between ``marks``."""
        text = " ".join(self.raw_snippet.split())
        return text.replace(_MARK_ON, marks[0]).replace(_MARK_OFF, marks[1])

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data.pop("raw_snippet")
        data["snippet"] = self.snippet()
        return data


def match_expression(query: str, *, raw: bool = False) -> str:
    """The FTS5 MATCH expression for ``query``: every word must occur (quoted, so punctuation
    such as ``c++`` or ``don't`` is not FTS5 syntax), unless ``raw`` passes FTS5 syntax through
    (``"exact phrase"``, ``OR``, ``NEAR(a b)``, ``prefix*``)."""
    if raw:
        return query
    words = _WORD.findall(query)
    if not words:
        raise MoonshineError(f"nothing to search for in {query!r} (no letters or digits)")
    return " ".join(f'"{w}"' for w in words)


def search(ws: Workspace, query: str, *, provider: str | None = None, role: str | None = None,
           since: str | float | None = None, limit: int = 20, reasoning: bool = False, tools: bool = False,
           raw: bool = False) -> list[SearchHit]:
    """Messages of the mash that match ``query``, best first (FTS5's bm25 rank).

    Looks in the visible text of visible messages; ``reasoning`` adds reasoning, ``tools`` adds tool
    calls and results (and the hidden plumbing messages that carry them). ``since`` is a date or
    time (``2025-01-31``, ISO-8601) or epoch seconds. ``raw`` passes FTS5 query syntax through.
    """
    if limit < 1:
        raise MoonshineError("--limit must be at least 1")
    columns = ["text"] + (["reasoning"] if reasoning else []) + (["tool_calls_json", "tool_results_json"]
                                                                   if tools else [])
    expression = f"{{{' '.join(columns)}}} : ({match_expression(query, raw=raw)})"
    where, params = [f"{FTS_TABLE} MATCH ?"], [expression]
    if not tools:
        where.append("m.hidden = 0")
    if provider:
        where.append("m.provider = ?")
        params.append(provider)
    if role:
        where.append("m.role = ?")
        params.append(role)
    if since is not None:
        moment = since if isinstance(since, (int, float)) else to_epoch(since)
        if moment is None:
            raise MoonshineError(f"--since {since!r} is not a date or time (use YYYY-MM-DD or ISO-8601)")
        where.append("m.created_at >= ?")
        params.append(float(moment))
    sql = (f"SELECT m.provider, m.conversation_id, c.title, m.message_id, m.role, m.created_at, m.hidden, "
           f"snippet({FTS_TABLE}, -1, '{_MARK_ON}', '{_MARK_OFF}', '…', 16), bm25({FTS_TABLE}) AS rank "
           f"FROM {FTS_TABLE} JOIN messages m ON m.rowid = {FTS_TABLE}.rowid "
           f"LEFT JOIN conversations c ON c.record_uid = m.conversation_uid "
           f"WHERE {' AND '.join(where)} ORDER BY rank LIMIT ?")
    params.append(int(limit))
    conn = _open(ws)
    try:
        rows = list(conn.execute(sql, params))
    except apsw.SQLError as exc:
        raise MoonshineError(f"not a valid search query {query!r}: {exc}") from exc
    finally:
        conn.close()
    return [SearchHit(provider=r[0], conversation_id=r[1], title=r[2], message_id=r[3], role=r[4],
                      created_at=r[5], hidden=bool(r[6]), raw_snippet=r[7] or "", rank=r[8]) for r in rows]


def _open(ws: Workspace) -> apsw.Connection:
    if not ws.mash_path.exists():
        raise StoreError(f"no mash at {ws.mash_path}: merge a run first (moonshine run EXPORT)")
    conn = connect(ws.mash_path, readonly=True)
    if not has_index(conn):
        conn.close()
        raise StoreError("the mash has no search index yet (an older moonshine-core made it); "
                         "the next `moonshine archive RUN_ID` adds it, or `moonshine search --build-index` now")
    return conn


def write_datasette_metadata(ws: Workspace) -> Path:
    """Write ``datasette-metadata.json`` beside the mash: titles, descriptions, facets and the
    search index, for ``datasette reports/main/moonshine_mash_active.db -m reports/main/datasette-metadata.json``."""
    db = ws.mash_path.stem
    metadata = {
        "title": "Moonshine corpus",
        "description": "The mash: every merged provider run, with provenance on every row.",
        "databases": {db: {"tables": {
            "conversations": {"description": "One row per conversation; times are epoch seconds (UTC), "
                                             "ISO-8601 in the conversations_iso view.",
                              "facets": ["provider", "source_kind"], "label_column": "title"},
            "messages": {"description": "Every node of every conversation tree; on_active_branch marks the "
                                        "branch the user last saw. Search covers text, reasoning and tool traffic.",
                         "facets": ["provider", "role", "hidden"], "fts_table": FTS_TABLE, "fts_pk": "rowid"},
            "messages_iso": {"description": "messages with created_at_iso (ISO-8601, UTC)",
                             "facets": ["provider", "role"]},
            "conversations_iso": {"description": "conversations with ISO-8601 times", "facets": ["provider"]},
            "feedback": {"description": "Thumbs and ratings the user gave", "facets": ["provider", "rating"]},
            "comparisons": {"description": "Side-by-side answers the user chose between", "facets": ["provider"]},
            "tool_events": {"description": "Tool calls and their results", "facets": ["provider"]},
            FTS_TABLE: {"hidden": True},
        }}},
    }
    path = ws.main_dir / "datasette-metadata.json"
    write_json_atomic(path, metadata)
    return path
