"""Reading the mash for distillation: conversations one at a time, their side records, and bookkeeping.

The distill pipeline reads the mash only through these functions (and the
:class:`~moonshine_core.store.Store` methods), so every SQL statement of
Stage E lives here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from ..records import Comparison, Conversation, Feedback
from . import Store
from .rows import comparison_from_row, conversation_from_rows, feedback_from_row

#: Tables whose records make up the corpus (the mash fingerprint covers exactly these).
CORPUS_TABLES = ("conversations", "messages", "tool_events", "feedback", "comparisons", "side_records")


def conversations(store: Store) -> Iterator[tuple[dict[str, Any], Conversation]]:
    """``(conversation row, Conversation)`` ordered by provider and conversation id, one at a time.

    Only the ids are read up front, so memory holds one conversation however
    large the mash.
    """
    uids = [r[0] for r in store.conn.execute("SELECT record_uid FROM conversations ORDER BY provider, conversation_id")]
    for uid in uids:
        row = next(store.rows("SELECT * FROM conversations WHERE record_uid = ?", (uid,)))
        messages = list(store.rows("SELECT * FROM messages WHERE conversation_uid = ? ORDER BY position", (uid,)))
        yield row, conversation_from_rows(row, messages)


def side_signals(store: Store, provider: str, conversation_id: str) -> tuple[list[Feedback], list[Comparison]]:
    """The feedback and comparisons that name one conversation, ordered by record uid."""
    params = (provider, conversation_id)
    feedback = [feedback_from_row(r) for r in store.rows(
        "SELECT * FROM feedback WHERE provider = ? AND conversation_id = ? ORDER BY record_uid", params)]
    comparisons = [comparison_from_row(r) for r in store.rows(
        "SELECT * FROM comparisons WHERE provider = ? AND conversation_id = ? ORDER BY record_uid", params)]
    return feedback, comparisons


def unattached_comparisons(store: Store) -> Iterator[tuple[dict[str, Any], Comparison]]:
    """Comparisons whose conversation is not in the mash (row and record), ordered by record uid."""
    sql = ("SELECT * FROM comparisons c WHERE NOT EXISTS (SELECT 1 FROM conversations v WHERE "
           "v.provider = c.provider AND v.conversation_id = c.conversation_id) ORDER BY c.record_uid")
    for row in store.rows(sql):
        yield row, comparison_from_row(row)


def personal_side_data(store: Store) -> Iterator[tuple[str, Any]]:
    """``(kind, decoded data)`` of every side record a plugin marked personal (account details,
    custom instructions, memories), ordered by record uid."""
    sql = "SELECT kind, data_json FROM side_records WHERE personal = 1 ORDER BY record_uid"
    for kind, data in store.conn.execute(sql):
        if data:
            yield kind, json.loads(data)


def mash_content_sha256(store: Store) -> str:
    """``mash_content_sha256``: sha256 over every corpus table's ``(record_uid, content_sha256)`` pairs.

    Used instead of the file's bytes, which change with SQLite page layout,
    WAL checkpoints and Moonshine's own bookkeeping (scores, distill records).
    """
    digest = hashlib.sha256()
    for table in CORPUS_TABLES:
        digest.update(f"{table}\n".encode())
        for uid, content in store.conn.execute(f"SELECT record_uid, content_sha256 FROM {table} ORDER BY record_uid"):
            digest.update(f"{uid} {content}\n".encode())
    return digest.hexdigest()


def record_distilled(store: Store, rows: Iterable[tuple]) -> None:
    """Which conversations fed which lane of a distill run:
    ``(run_id, lane, provider, conversation_uid, conversation_id, rows, train_rows, eval_rows, mixed_rows)``."""
    with store.conn:
        store.conn.executemany(
            "INSERT OR REPLACE INTO distilled_conversations (run_id, lane, provider, conversation_uid, "
            "conversation_id, rows, train_rows, eval_rows, mixed_rows) VALUES (?,?,?,?,?,?,?,?,?)", list(rows))
