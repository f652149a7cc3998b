"""Asking the lanes for rows, one conversation at a time.

For a conversation of the mash: score it (``moonshine_score``; the pipeline
stores the scores in the mash), gather what a lane may see (:class:`~moonshine_core.lane.LaneContext`),
and ask every chosen lane's ``emit`` plus any plugin's ``moonshine_emit`` for
rows. A lane or plugin that raises is counted in that lane's ``left_out`` and
skipped, through the plugin manager's one policy for broken plugins.
"""

from __future__ import annotations

from collections import Counter

from ..lane import Lane, LaneContext
from ..plugins import PluginManager
from ..records import Conversation, Score
from ..store import Store
from ..store import corpus as mash
from ..trees import ConversationTree
from ..workspace import LaneSettings
from .finishing import RowOrigin


def visible_text(conversation: Conversation) -> str:
    """The user and assistant text of the active branch (all messages when no branch is known)."""
    tree = ConversationTree(conversation)
    active = tree.messages(tree.active_path) if tree.active_path else conversation.messages
    return "\n".join(m.text for m in active if not m.hidden and m.role in ("user", "assistant"))


class Emitter:
    """Scores a conversation of the mash and asks the chosen lanes for its rows.

    Each step counts its failures in the ``Counter`` it is given, so the
    pipeline can keep them with the conversation's cached rows.
    """

    def __init__(self, pm: PluginManager, settings: LaneSettings, store: Store):
        self.pm, self.settings, self.store = pm, settings, store

    def score(self, conversation: Conversation, failures: Counter[str]) -> list[Score]:
        """Every scorer's scores (``moonshine_score``); a scorer that raises is counted in ``failures``."""
        return self.pm.score(conversation, failures=failures)

    def context(self, row: dict, conversation: Conversation, scores: list[Score]) -> tuple[LaneContext, RowOrigin]:
        """What a lane sees of the conversation (side records read from the mash) and where its rows come from."""
        provider, cid = row["provider"], row["conversation_id"]
        feedback, comparisons = mash.side_signals(self.store, provider, cid)
        ctx = LaneContext(provider=provider, provider_run_id=row["provider_run_id"], conversation_id=cid,
                          conversation_uid=row["record_uid"], raw_sha256=row["raw_sha256"],
                          settings=self.settings, scores=scores, feedback=feedback, comparisons=comparisons,
                          created_at=conversation.created_at, updated_at=conversation.updated_at)
        value = next((s.value for s in scores if s.name == "interaction_value" and s.value is not None), 0.0)
        last_at = max((m.updated_at or m.created_at or 0.0 for m in conversation.messages), default=0.0) or None
        origin = RowOrigin(provider=provider, provider_run_id=row["provider_run_id"], conversation_id=cid,
                           raw_sha256=row["raw_sha256"], scores=tuple(scores), created_at=conversation.created_at,
                           last_message_at=last_at, interaction_value=value)
        return ctx, origin

    def lane_rows(self, lane: Lane, conversation: Conversation, ctx: LaneContext,
                  failures: Counter[str]) -> list[dict]:
        """The lane's own rows plus rows other plugins add to it (``moonshine_emit``)."""
        owner = self.pm.lane_owners.get(lane.name, lane.name)
        ok, rows = self.pm.guarded(owner, f"lane {lane.name}: emit", lane.emit,
                                   (conversation, ctx), failures=failures)
        return list(rows or []) + self.pm.emit(lane.name, conversation, ctx, failures=failures)
