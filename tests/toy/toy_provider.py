"""A toy provider plugin used to prove the contract kit, the plugin manager and the provider toolkit.

Its export format: a JSON array of ``{"id", "title", "turns": [{"id", "parent", "who", "said", "at"}]}``.
docs/writing_a_provider_plugin.md walks through this file.
"""

from __future__ import annotations

from pathlib import Path

from moonshine_core import Conversation, Detection, Message, NormalizeError, ParseError, RawRecord
from moonshine_core.provider import ProviderPlugin, as_dict, as_id, as_list, as_str, regeneration_comparisons
from moonshine_core.timeutil import to_epoch
from moonshine_core.trees import choose_active_leaf, repair_tree

PROVIDER = "toy"
SAMPLE = Path(__file__).with_name("toy_export.json")


def detect(source):
    for name in source.find(r"toy_export.*\.json"):
        sniff = source.sniff_json(name)          # keys seen in the first 256 KiB
        if sniff.top == "array" and "item.turns" in sniff.prefixes:
            return Detection(provider=PROVIDER, variant="toy-v1", confidence=0.9, evidence=f"{name} has turns")
    return None


def parse(source):
    names = source.find(r"toy_export.*\.json")
    if not names:
        raise ParseError("no toy_export*.json in the export", path=str(source.path))
    return _stream(source, names)


def _stream(source, names):
    for name in names:
        for index, item in enumerate(source.iter_json(name)):   # one conversation in memory
            yield RawRecord(kind="conversation", data=item, member=name, index=index, variant="toy-v1")


def normalize(raw):
    data = as_dict(raw.data)
    conversation_id = as_id(data.get("id"))
    if conversation_id is None:
        raise NormalizeError("conversation has no id")     # listed in the run manifest
    turns = [t for t in as_list(data.get("turns")) if isinstance(t, dict)]
    messages = [Message(message_id=as_id(t.get("id")), parent_id=as_id(t.get("parent")),
                        role=as_str(t.get("who")) or "user", text=as_str(t.get("said")) or "",
                        created_at=to_epoch(t.get("at")), raw=t)
                for t in turns if as_id(t.get("id")) is not None]
    repair_tree(messages)                          # no dangling parents, no cycles
    leaf, inferred = choose_active_leaf(messages, as_id(data.get("current")))
    conversation = Conversation(conversation_id=conversation_id, title=as_str(data.get("title")),
                                messages=messages, current_leaf_id=leaf, active_branch_inferred=inferred,
                                format_variant="toy-v1", raw_message_count=len(turns), raw=raw.data)
    return [conversation, *regeneration_comparisons(conversation)]


plugin = ProviderPlugin(PROVIDER, detect=detect, parse=parse, normalize=normalize, samples=[SAMPLE])
