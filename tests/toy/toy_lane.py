"""A fifth lane from a test plugin: every user question of a conversation with its first answer.

It proves a third party adds a lane with no change to the core: the plugin
registers a :class:`~moonshine_core.lane.Lane` through ``moonshine_lanes``
and gets its own folder, manifest and card.
"""

from __future__ import annotations

from moonshine_core import hookimpl
from moonshine_core.lane import Lane, lane_row

NAME = "toy_qa"


def emit(conversation, context):
    rows = []
    by_parent = {}
    for m in conversation.messages:
        by_parent.setdefault(m.parent_id, []).append(m)
    for m in conversation.messages:
        if m.role != "user" or not m.text.strip():
            continue
        answers = [a for a in by_parent.get(m.message_id, []) if a.role == "assistant" and a.text.strip()]
        if answers:
            payload = {"prompt": m.text, "completion": answers[0].text}
            rows.append(lane_row(NAME, conversation, [m.message_id, answers[0].message_id], "qa", payload,
                                 {"answer_chars": len(answers[0].text), "lane_flags": []}))
    return rows


def validate(row):
    return None if row["prompt"] and row["completion"] else "empty_pair"


LANE = Lane(name=NAME, title="Toy question/answer pairs (prompt / completion)",
            payload_columns=("prompt", "completion"), emit=emit, validate=validate,
            quality=lambda row: min(1.0, row["answer_chars"] / 1000), count_columns=("answer_chars",),
            converters={"upper": lambda row: {"text": row["prompt"].upper()}},
            loading="from trl import SFTTrainer  # prompt/completion rows")


@hookimpl
def moonshine_lanes():
    return [LANE]


class BrokenLane:
    """A plugin whose lane raises on every conversation."""

    @hookimpl
    def moonshine_lanes(self):
        def explode(conversation, context):
            raise KeyError("lane bug")
        return [Lane(name="broken_lane", title="always raises", payload_columns=("messages",), emit=explode)]
