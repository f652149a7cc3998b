"""The "not older" rule of every upsert: when a row from a source may replace the row already stored.

A row replaces a stored row of the same ``record_uid`` when its content hash
differs and it is not older (:func:`older_sql`). Both the merge
(:mod:`.transfer`) and :func:`moonshine_core.store.upsert_sql` build their SQL
from this one function.
"""

from __future__ import annotations

_CONVERSATION_CHILDREN = ("messages", "tool_events")


def older_sql(table: str, new: str, old: str, new_conversations: str | None, old_conversations: str | None) -> str:
    """SQL true when the row ``new`` is older than the row ``old`` it would replace: "not older" is the rule.

    Older means an earlier ``source_time``; when both times are equal (a message edited without a
    new message time), the conversation's ``updated_at`` decides: its own for a conversation row,
    that of the conversation each side's row belongs to (looked up in ``new_conversations`` and
    ``old_conversations``) for messages and tool events. A missing time never makes a row older.
    """
    if table == "conversations":
        tie = f"{new}.updated_at < {old}.updated_at"
    elif table in _CONVERSATION_CHILDREN and new_conversations and old_conversations:
        tie = (f"(SELECT updated_at FROM {new_conversations} WHERE record_uid = {new}.conversation_uid) < "
               f"(SELECT updated_at FROM {old_conversations} WHERE record_uid = {old}.conversation_uid)")
    else:
        tie = "0"
    return (f"({new}.source_time IS NOT NULL AND {old}.source_time IS NOT NULL AND "
            f"({new}.source_time < {old}.source_time OR "
            f"({new}.source_time = {old}.source_time AND coalesce({tie}, 0))))")
