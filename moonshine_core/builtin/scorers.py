"""Default scorers: size and shape of a conversation's active branch.

They mark, never drop; lanes read the scores and decide.
"""

from __future__ import annotations

import re

from ..hookspecs import hookimpl
from ..records import Conversation, Score
from ..trees import path_to_root

_CODE_FENCE = re.compile(r"```")


def active_messages(conversation: Conversation) -> list:
    """Messages on the branch the user last saw, root first (all messages if no leaf is known)."""
    if conversation.current_leaf_id is None:
        return list(conversation.messages)
    by_id = {m.message_id: m for m in conversation.messages}
    return [by_id[i] for i in path_to_root(conversation.messages, conversation.current_leaf_id)]


@hookimpl
def moonshine_score(conversation: Conversation) -> list[Score]:
    branch = [m for m in active_messages(conversation) if not m.hidden]
    user_turns = sum(1 for m in branch if m.role == "user")
    assistant = [m for m in branch if m.role == "assistant"]
    chars = sum(len(m.text) for m in branch)
    tool_messages = sum(1 for m in branch if m.tool_calls or m.tool_results or m.role == "tool")
    code_messages = sum(1 for m in assistant if _CODE_FENCE.search(m.text) or
                        any(isinstance(c.arguments, str) for c in m.tool_calls))
    flags = []
    if user_turns == 0:
        flags.append("no_user_turn")
    if not assistant:
        flags.append("no_assistant_turn")
    return [
        Score(name="size", value=float(chars), flags=flags,
              detail={"messages": len(branch), "user_turns": user_turns,
                      "assistant_turns": len(assistant), "chars": chars,
                      "branches": max(1, sum(1 for m in conversation.messages if m.parent_id is None))}),
        Score(name="tool_ratio", value=(tool_messages / len(branch)) if branch else 0.0,
              detail={"tool_messages": tool_messages}),
        Score(name="code_ratio", value=(code_messages / len(assistant)) if assistant else 0.0,
              detail={"code_messages": code_messages}),
    ]
