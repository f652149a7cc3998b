"""The raw-only gates an ingest records in its manifest (``gates_raw``).

- ``all_raw_conversations_normalised_or_listed``: raw conversations = normalised
  + normalised to nothing + listed; stored conversations = distinct conversation ids.
- ``trees_intact``: no duplicate ids, dangling parents or cycles, and every active
  leaf is a stored message (checked on the records and again in the DB).
- ``counts_match_raw``: per conversation, stored messages = the plugin's own raw count.

A run whose raw gates fail is kept for inspection and cannot merge. The
evidence is gathered while the export streams (:class:`RawEvidence`), so no
record is held after it is written.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import apsw
import attrs

from ..records import Conversation
from ..store.checks import conversations_without_leaf, dangling_parents
from ..trees import check_tree

#: Problems and mismatches listed in a gate's evidence (all are counted).
EVIDENCE_LIMIT = 50


@attrs.define
class RawEvidence:
    """What the raw-only gates judge, gathered record by record during an ingest."""

    normalised: int = 0
    normalised_to_nothing: int = 0
    messages: int = 0
    conversation_ids: Counter = attrs.field(factory=Counter)
    tree_problems: list[str] = attrs.field(factory=list)
    count_mismatches: list[dict[str, Any]] = attrs.field(factory=list)

    def merge(self, other: "RawEvidence") -> None:
        """Add the evidence of a later part of the same export (a batch normalised elsewhere)."""
        self.normalised += other.normalised
        self.normalised_to_nothing += other.normalised_to_nothing
        self.messages += other.messages
        self.conversation_ids.update(other.conversation_ids)
        self.tree_problems += other.tree_problems
        self.count_mismatches += other.count_mismatches

    def raw_conversation(self, records: list[Any]) -> None:
        """Note a raw conversation the plugin normalised (without error) into ``records``."""
        if any(isinstance(r, Conversation) for r in records):
            self.normalised += 1
        else:
            self.normalised_to_nothing += 1

    def conversation(self, record: Conversation) -> None:
        """Check one normalised conversation's tree and its message count against the raw count."""
        self.messages += len(record.messages)
        self.conversation_ids[record.conversation_id] += 1
        problems = check_tree(record.messages)
        ids = {m.message_id for m in record.messages}
        if record.messages and record.current_leaf_id not in ids:
            problems.append(f"active leaf {record.current_leaf_id!r} is not a message")
        self.tree_problems += [f"{record.conversation_id}: {p}" for p in problems]
        if record.raw_message_count is not None and record.raw_message_count != len(record.messages):
            self.count_mismatches.append({"conversation_id": record.conversation_id,
                                          "raw": record.raw_message_count, "stored": len(record.messages)})


def db_tree_problems(conn: apsw.Connection) -> list[str]:
    """Tree problems in a written run DB: parents or active leaves that were not stored."""
    dangling = dangling_parents(conn)
    no_leaf = conversations_without_leaf(conn)
    problems = []
    if dangling:
        problems.append(f"{dangling} stored messages point at a parent that is not stored")
    if no_leaf:
        problems.append(f"{no_leaf} stored conversations have no stored active leaf")
    return problems


def raw_gates(evidence: RawEvidence, raw_conversations: int, not_normalised: list[dict[str, Any]],
              db_counts: dict[str, int], db_problems: list[str]) -> dict[str, Any]:
    """The three raw-only gates with their evidence.

    ``raw_conversations`` is how many raw conversations the plugin parsed,
    ``not_normalised`` the raw records it could not normalise (as listed in the
    manifest), ``db_counts`` rows per table of the written run DB and
    ``db_problems`` its :func:`db_tree_problems`.
    """
    failed = sum(1 for f in not_normalised if f["kind"] == "conversation")
    duplicates = sum(n - 1 for n in evidence.conversation_ids.values() if n > 1)
    accounted = evidence.normalised + evidence.normalised_to_nothing + failed
    return {
        "all_raw_conversations_normalised_or_listed": {
            "passed": accounted == raw_conversations
            and db_counts["conversations"] == len(evidence.conversation_ids),
            "evidence": {"raw_conversations": raw_conversations, "normalised": evidence.normalised,
                         "normalised_to_nothing": evidence.normalised_to_nothing, "listed_not_normalised": failed,
                         "duplicate_conversation_ids_collapsed": duplicates,
                         "stored_conversations": db_counts["conversations"]},
        },
        "trees_intact": {
            "passed": not evidence.tree_problems and not db_problems,
            "evidence": {"problems": (evidence.tree_problems + db_problems)[:EVIDENCE_LIMIT],
                         "problem_count": len(evidence.tree_problems) + len(db_problems)},
        },
        "counts_match_raw": {
            "passed": not evidence.count_mismatches
            and (duplicates > 0 or db_counts["messages"] == evidence.messages),
            "evidence": {"messages_normalised": evidence.messages, "messages_stored": db_counts["messages"],
                         "mismatched_conversations": evidence.count_mismatches[:EVIDENCE_LIMIT],
                         "mismatch_count": len(evidence.count_mismatches)},
        },
    }

