"""Read-only sums over a Moonshine DB for the token ledgers and ``moonshine status``.

Every function takes an open connection (a run DB or the mash) and only reads.
``provider`` narrows a sum to one provider's rows; ``None`` sums every row.
"""

from __future__ import annotations

from collections.abc import Iterator

import apsw

#: A message's tokens of every kind, as an SQL expression over ``messages``.
MESSAGE_TOKENS = "tokens_text + tokens_reasoning + tokens_tool"


def _where(provider: str | None) -> tuple[str, tuple]:
    return ("WHERE provider = ?", (provider,)) if provider is not None else ("", ())


def providers(conn: apsw.Connection) -> list[str]:
    """The providers that have conversations in the DB, sorted."""
    return [r[0] for r in conn.execute("SELECT DISTINCT provider FROM conversations ORDER BY provider")]


def conversation_count(conn: apsw.Connection, provider: str | None = None) -> int:
    """How many conversations the DB holds (of ``provider``)."""
    where, params = _where(provider)
    return conn.execute(f"SELECT count(*) FROM conversations {where}", params).get


def tokens_by_role(conn: apsw.Connection, provider: str | None = None) -> Iterator[tuple[str, int, int, int, int, int]]:
    """``(role, hidden, messages, text, reasoning, tool)`` per role and hidden flag, ordered by both."""
    where, params = _where(provider)
    for role, hidden, n, text, reasoning, tool in conn.execute(
            f"SELECT role, hidden, count(*), total(tokens_text), total(tokens_reasoning), total(tokens_tool) "
            f"FROM messages {where} GROUP BY role, hidden ORDER BY role, hidden", params):
        yield role, hidden, n, int(text), int(reasoning), int(tool)


def tokens_by_conversation(conn: apsw.Connection,
                           provider: str | None = None) -> Iterator[tuple[str, int, int, int, int, int]]:
    """``(conversation_id, messages, text, reasoning, tool, non_system_tokens)`` per conversation,
    ordered by conversation id."""
    where, params = _where(provider)
    for cid, n, text, reasoning, tool, non_system in conn.execute(
            f"SELECT conversation_id, count(*), total(tokens_text), total(tokens_reasoning), total(tokens_tool), "
            f"total(CASE WHEN role != 'system' THEN {MESSAGE_TOKENS} ELSE 0 END) "
            f"FROM messages {where} GROUP BY conversation_uid ORDER BY conversation_id", params):
        yield cid, n, int(text), int(reasoning), int(tool), int(non_system)


def conversations_per_provider(conn: apsw.Connection) -> list[tuple[str, int]]:
    """``(provider, conversations)`` for every provider."""
    return list(conn.execute("SELECT provider, count(*) FROM conversations GROUP BY provider"))


def messages_per_provider(conn: apsw.Connection) -> list[tuple[str, int, int, int]]:
    """``(provider, messages, tokens, non_system_tokens)`` for every provider with messages."""
    return [(provider, n, int(tokens), int(non_system)) for provider, n, tokens, non_system in conn.execute(
        f"SELECT provider, count(*), total({MESSAGE_TOKENS}), "
        f"total(CASE WHEN role != 'system' THEN {MESSAGE_TOKENS} ELSE 0 END) "
        "FROM messages GROUP BY provider")]


def distilled_per_provider(conn: apsw.Connection) -> list[tuple[str, str, int]]:
    """``(provider, lane, conversations)`` distilled into each lane; empty before the first distillation
    (the ``distilled_conversations`` table appears with it)."""
    if not conn.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'distilled_conversations'").get:
        return []
    # A distill run still recorded as pending (killed while publishing) is not counted.
    pending = ("WHERE run_id NOT IN (SELECT run_id FROM distill_publications WHERE state = 'pending') "
               if conn.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'distill_publications'").get else "")
    return list(conn.execute(
        f"SELECT provider, lane, count(DISTINCT conversation_uid) FROM distilled_conversations {pending}"
        "GROUP BY provider, lane ORDER BY provider, lane"))
