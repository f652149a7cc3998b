"""The four built-in lanes, registered as a plugin through ``moonshine_emit``.

Each lane reads only the conversation and its :class:`~moonshine_core.distill.context.LaneContext`
(records from the mash), never provider names. A plugin may add rows to the
same lanes by implementing the same hook (docs/plugin_hooks.md).
"""

from __future__ import annotations

from typing import Any

from ..distill import agentic, conversational, dpo, grpo
from ..distill.context import as_lane_context
from ..hookspecs import hookimpl
from ..records import Conversation

LANE_MODULES = {"dpo": dpo, "grpo": grpo, "agentic_code": agentic, "conversational": conversational}


@hookimpl
def moonshine_emit(lane: str, conversation: Conversation, context: Any) -> list[dict] | None:
    module = LANE_MODULES.get(lane)
    ctx = as_lane_context(context)
    if module is None or ctx is None:
        return None
    return module.emit(conversation, ctx)
