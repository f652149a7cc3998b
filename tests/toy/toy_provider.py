"""A toy provider plugin used to prove the contract kit and the plugin manager.

Its export format: a JSON array of ``{"id", "title", "turns": [{"id", "parent", "who", "said", "at"}]}``.
"""

from __future__ import annotations

from pathlib import Path

from moonshine_core import Conversation, Detection, Message, NormalizeError, ParseError, RawRecord, hookimpl
from moonshine_core.timeutil import to_epoch
from moonshine_core.trees import choose_active_leaf, repair_tree

NAME = "toy"
SAMPLE = Path(__file__).with_name("toy_export.json")


@hookimpl
def moonshine_detect(source):
    for name in source.find(r"toy_export.*\.json"):
        sniff = source.sniff_json(name)
        if sniff.top == "array" and "item.turns" in sniff.prefixes:
            return Detection(provider=NAME, variant="toy-v1", confidence=0.9, evidence=f"{name} has turns")
    return None


@hookimpl
def moonshine_parse(provider, source):
    if provider != NAME:
        return None
    names = source.find(r"toy_export.*\.json")
    if not names:
        raise ParseError("no toy_export*.json in the export", path=str(source.path))
    return _stream(source, names)


def _stream(source, names):
    for name in names:
        for index, item in enumerate(source.iter_json(name)):
            yield RawRecord(kind="conversation", data=item, member=name, index=index, variant="toy-v1")


@hookimpl
def moonshine_normalize(provider, raw):
    if provider != NAME:
        return None
    data = raw.data
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise NormalizeError("conversation has no string id")
    turns = data.get("turns") if isinstance(data.get("turns"), list) else []
    messages = [
        Message(message_id=str(t.get("id")), parent_id=t.get("parent"), role=str(t.get("who") or "user"),
                text=str(t.get("said") or ""), created_at=to_epoch(t.get("at")), raw=t)
        for t in turns if isinstance(t, dict) and t.get("id") is not None
    ]
    repair_tree(messages)
    leaf, inferred = choose_active_leaf(messages, data.get("current"))
    return [Conversation(conversation_id=data["id"], title=data.get("title"), messages=messages,
                         current_leaf_id=leaf, active_branch_inferred=inferred, format_variant="toy-v1",
                         raw_message_count=len(turns), raw=data)]


@hookimpl
def moonshine_sample_exports():
    return [str(SAMPLE)]
