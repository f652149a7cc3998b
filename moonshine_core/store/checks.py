"""Read-only queries the gates judge by (:mod:`moonshine_core.gates`).

Each function counts or lists what one gate needs and leaves the verdict to
the gate; none writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import apsw
import attrs

from .db import uri
from .reports import MESSAGE_TOKENS
from .schema import PROVENANCE_COLUMNS, RECORD_TABLES

#: How many mismatching messages a token comparison lists.
MISMATCH_LIMIT = 50

_TAGGED = " AND ".join(f"{c} IS NOT NULL AND {c} != ''" for c in PROVENANCE_COLUMNS) + \
    " AND provider = ? AND provider_run_id = ? AND source_file_sha256 = ?"


def provenance_coverage(conn: apsw.Connection, provider: str, run_id: str,
                        source_sha256: str) -> dict[str, dict[str, int]]:
    """Per record table, its ``rows`` and how many are ``tagged``: every provenance column set,
    and provider, run id and source sha256 those of the run."""
    per_table = {}
    for table in RECORD_TABLES:
        total = conn.execute(f"SELECT count(*) FROM {table}").get
        tagged = conn.execute(f"SELECT count(*) FROM {table} WHERE {_TAGGED}", (provider, run_id, source_sha256)).get
        per_table[table] = {"rows": total, "tagged": tagged}
    return per_table


def mistagged_rows_of_run(conn: apsw.Connection, provider: str, run_id: str, source_sha256: str) -> int:
    """Rows (of every record table) stamped with ``run_id`` whose provenance is not all the run's."""
    return sum(conn.execute(f"SELECT count(*) FROM {table} WHERE provider_run_id = ? AND NOT ({_TAGGED})",
                            (run_id, provider, run_id, source_sha256)).get for table in RECORD_TABLES)


def contaminated_rows(conn: apsw.Connection, tags: list[str], allowed_source_kinds: list[str]) -> dict[str, int]:
    """Per record table, rows whose provider or source kind is a contamination tag, or whose
    source kind is not allowed (tables without such rows are left out)."""
    tag_marks = ", ".join("?" for _ in tags) or "NULL"
    allowed_marks = ", ".join("?" for _ in allowed_source_kinds) or "NULL"
    found = {}
    for table in RECORD_TABLES:
        n = conn.execute(
            f"SELECT count(*) FROM {table} WHERE provider IN ({tag_marks}) OR source_kind IN ({tag_marks}) "
            f"OR source_kind NOT IN ({allowed_marks})", (*tags, *tags, *allowed_source_kinds)).get
        if n:
            found[table] = n
    return found


def dangling_parents(conn: apsw.Connection) -> int:
    """Stored messages whose parent is not stored."""
    return conn.execute(
        "SELECT count(*) FROM messages m WHERE m.parent_uid IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM messages p WHERE p.record_uid = m.parent_uid)").get


def conversations_without_leaf(conn: apsw.Connection) -> int:
    """Stored conversations with messages whose active leaf is not one of their stored messages."""
    return conn.execute(
        "SELECT count(*) FROM conversations c WHERE c.message_count > 0 AND NOT EXISTS "
        "(SELECT 1 FROM messages m WHERE m.conversation_uid = c.record_uid AND m.message_id = c.current_leaf_id)").get


@attrs.frozen(kw_only=True)
class TokenComparison:
    """A run DB's per-message token counts against the mash's (what token reconciliation judges)."""

    run_tokens: int
    run_messages: int
    same_content: int  #: run messages the mash holds with the same content
    same_content_run_tokens: int
    same_content_mash_tokens: int
    mismatches: list[dict[str, Any]]  #: same content, different counts (at most MISMATCH_LIMIT)
    newer_in_mash: int  #: run messages the mash holds with other (newer) content
    missing_from_mash: int


def compare_run_tokens(mash: apsw.Connection, run_db: Path) -> TokenComparison:
    """Compare the per-message tokens of ``run_db`` with the mash's, message by message."""
    run_sum = MESSAGE_TOKENS.replace("tokens_", "r.tokens_")
    mash_sum = MESSAGE_TOKENS.replace("tokens_", "m.tokens_")
    mash.execute("ATTACH DATABASE ? AS run", (uri(run_db, immutable=True),))  # sealed: read-only, immutable
    try:
        run_total, run_messages = mash.execute(f"SELECT total({MESSAGE_TOKENS}), count(*) FROM run.messages").get
        same = mash.execute(
            f"SELECT count(*), total({run_sum}), total({mash_sum}) "
            "FROM run.messages r JOIN main.messages m ON m.record_uid = r.record_uid "
            "AND m.content_sha256 = r.content_sha256").get
        mismatches = [dict(zip(("message_uid", "run_tokens", "mash_tokens"), row)) for row in mash.execute(
            f"SELECT r.record_uid, {run_sum}, {mash_sum} FROM run.messages r JOIN main.messages m "
            "ON m.record_uid = r.record_uid AND m.content_sha256 = r.content_sha256 "
            "WHERE r.tokens_text != m.tokens_text OR r.tokens_reasoning != m.tokens_reasoning "
            f"OR r.tokens_tool != m.tokens_tool LIMIT {MISMATCH_LIMIT}")]
        newer_in_mash = mash.execute(
            "SELECT count(*) FROM run.messages r JOIN main.messages m ON m.record_uid = r.record_uid "
            "AND m.content_sha256 != r.content_sha256").get
        missing = mash.execute(
            "SELECT count(*) FROM run.messages r WHERE NOT EXISTS "
            "(SELECT 1 FROM main.messages m WHERE m.record_uid = r.record_uid)").get
    finally:
        mash.execute("DETACH DATABASE run")
    return TokenComparison(run_tokens=int(run_total), run_messages=run_messages, same_content=same[0],
                           same_content_run_tokens=int(same[1]), same_content_mash_tokens=int(same[2]),
                           mismatches=mismatches, newer_in_mash=newer_in_mash, missing_from_mash=missing)
