"""Conversational lane: the branch the user saw, cleaned, as alternating ``messages`` for SFT.

One row per conversation: the active branch (``current_leaf_id``), visible
text only (hidden plumbing, custom instructions, memory and tool traffic are
left out), reasoning per ``reasoning_policy``, consecutive same-role turns
merged, leading assistant turns and trailing user turns cut so the row starts
with system/user and ends with assistant (distillation.md 4.6). A user turn that
is only an upload says what was uploaded, so the answer to it keeps its place.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ..lane import Lane, LaneContext, lane_row
from ..records import Conversation
from ..trees import ConversationTree
from .converters import to_openai, to_sharegpt
from .messages import ConversionStats, convert, settle_turns
from .textsignals import identity_mentions, is_correction, is_refusal
from .validate import alternates, messages_problem

LANE = "conversational"


def emit(conversation: Conversation, ctx: LaneContext) -> list[dict[str, Any]]:
    tree = ConversationTree(conversation)
    if not tree.active_path:
        return []
    records = tree.messages(tree.active_path)
    stats = ConversionStats()
    msgs = convert(records, reasoning_policy=ctx.settings.reasoning_policy, include_tools=False,
                   max_tool_output_chars=ctx.settings.max_tool_output_chars, stats=stats)
    # A system message may open the row; anything else before the first user turn is cut.
    msgs = settle_turns(msgs, stats)
    end = len(msgs)
    while end and msgs[end - 1]["role"] != "assistant":
        end -= 1
    truncated = stats.leading_turns_cut + len(msgs) - end
    msgs = msgs[:end]
    assistants = [m for m in msgs if m["role"] == "assistant"]
    if len(assistants) < max(1, ctx.settings.min_turns):
        return []
    users = [m for m in msgs if m["role"] == "user"]
    n_corrections = sum(1 for m in users[1:] if is_correction(m["content"]))
    refusals = sum(1 for m in assistants if is_refusal(m["content"]))
    identities = sorted({x for m in assistants for x in identity_mentions(m["content"])})
    # Turns the user then corrected are kept but weighted 0 (OpenAI ``weight``, axolotl ``train``).
    weights = []
    assistant_index = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
    for i in assistant_index:
        nxt = msgs[i + 1] if i + 1 < len(msgs) else None
        weights.append(0 if nxt is not None and nxt["role"] == "user" and is_correction(nxt["content"]) else 1)
    flags = []
    if len(assistants) == 1:
        flags.append("single_turn")
    if identities:
        flags.append("identity_mention")
    if refusals:
        flags.append("refusal")
    if conversation.active_branch_inferred:
        flags.append("active_branch_inferred")
    if stats.leading_turns_cut:
        flags.append("leading_turns_cut")
    columns = {
        "branch": "active",
        "assistant_turn_weights": weights,
        "n_corrections": n_corrections,
        "identity_mentions": identities,
        "refusal_score": round(refusals / len(assistants), 4),
        "reasoning_kind": stats.reasoning_kind(),
        "truncated_turns": truncated,
        "merged_messages": stats.merged_messages,
        "tool_traffic_dropped": stats.tool_traffic_dropped,
        "models": stats.models,
        "lane_flags": flags,
    }
    return [lane_row(LANE, conversation, [], "active", {"messages": msgs}, columns)]


def validate(row: dict[str, Any]) -> str | None:
    """The conversational shape: alternating user/assistant turns ending on the assistant, no tool traffic."""
    problem = messages_problem(row.get("messages"))
    if problem:
        return problem
    if any(m["tool_calls"] or m["role"] == "tool" for m in row["messages"]):
        return "tool_traffic_in_conversational"
    if not alternates(row["messages"]):
        return "roles_do_not_alternate"
    return None


LANE_SPEC = Lane(
    name=LANE,
    title="Conversational SFT (messages)",
    payload_columns=("messages",),
    emit=emit,
    validate=validate,
    count_columns=("reasoning_kind",),
    converters={"openai": partial(to_openai, LANE), "sharegpt": partial(to_sharegpt, LANE)},
    loading="from trl import SFTConfig, SFTTrainer\ntrainer = SFTTrainer(model=model, train_dataset=ds[\"train\"],\n"
            "                     args=SFTConfig(output_dir=\"out\", assistant_only_loss=True))",
)
