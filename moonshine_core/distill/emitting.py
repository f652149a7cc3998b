"""Asking the lanes for rows, one conversation at a time.

For each conversation of the mash: score it (``moonshine_score``; scores are
stored in the mash), gather what a lane may see (:class:`~moonshine_core.lane.LaneContext`),
and ask every chosen lane's ``emit`` plus any plugin's ``moonshine_emit`` for
rows. A lane or plugin that raises is counted in that lane's ``left_out`` and
skipped, through the plugin manager's one policy for broken plugins.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import attrs

from ..lane import Lane, LaneContext
from ..plugins import PluginManager
from ..records import Conversation
from ..store import Store
from ..store import corpus as mash
from ..trees import ConversationTree
from ..workspace import LaneSettings
from .finishing import RowOrigin


@attrs.define
class EmittedConversation:
    """One conversation's rows per lane, where they came from, and its text for near-duplicate search."""

    origin: RowOrigin
    key_text: str
    rows: dict[str, list[dict]]


def visible_text(conversation: Conversation) -> str:
    """The user and assistant text of the active branch (all messages when no branch is known)."""
    tree = ConversationTree(conversation)
    active = tree.messages(tree.active_path) if tree.active_path else conversation.messages
    return "\n".join(m.text for m in active if not m.hidden and m.role in ("user", "assistant"))


class Emitter:
    """Walks the mash and collects every chosen lane's rows, conversation by conversation."""

    def __init__(self, pm: PluginManager, lanes: tuple[Lane, ...], settings: LaneSettings,
                 left_out: dict[str, Counter[str]]):
        self.pm, self.lanes, self.settings, self.left_out = pm, lanes, settings, left_out

    def lane_rows(self, lane: Lane, conversation: Conversation, ctx: LaneContext) -> list[dict]:
        """The lane's own rows plus rows other plugins add to it (``moonshine_emit``)."""
        failures = self.left_out[lane.name]
        owner = self.pm.lane_owners.get(lane.name, lane.name)
        ok, rows = self.pm.guarded(owner, f"lane {lane.name}: emit", lane.emit,
                                   (conversation, ctx), failures=failures)
        return list(rows or []) + self.pm.emit(lane.name, conversation, ctx, failures=failures)

    def conversations(self, store: Store) -> Iterator[EmittedConversation]:
        for row, conversation in mash.conversations(store):
            provider, cid = row["provider"], row["conversation_id"]
            scores = self.pm.score(conversation, failures=self.left_out["_scores"])
            store.write_scores(row["record_uid"], scores)
            feedback, comparisons = mash.side_signals(store, provider, cid)
            ctx = LaneContext(provider=provider, provider_run_id=row["provider_run_id"], conversation_id=cid,
                              conversation_uid=row["record_uid"], raw_sha256=row["raw_sha256"],
                              settings=self.settings, scores=scores, feedback=feedback, comparisons=comparisons,
                              created_at=conversation.created_at, updated_at=conversation.updated_at)
            value = next((s.value for s in scores if s.name == "interaction_value" and s.value is not None), 0.0)
            last_at = max((m.updated_at or m.created_at or 0.0 for m in conversation.messages), default=0.0) or None
            origin = RowOrigin(provider=provider, provider_run_id=row["provider_run_id"], conversation_id=cid,
                               raw_sha256=row["raw_sha256"], scores=tuple(scores), created_at=conversation.created_at,
                               last_message_at=last_at, interaction_value=value)
            yield EmittedConversation(origin=origin, key_text=visible_text(conversation),
                                      rows={lane.name: self.lane_rows(lane, conversation, ctx) for lane in self.lanes})
