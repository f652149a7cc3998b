"""Custom instructions and memory become personal side records whose ``profile_text`` the core reads."""

from __future__ import annotations

from moonshine_chatgpt import synthetic as syn
from moonshine_chatgpt.normalize import normalize
from moonshine_core.records import Conversation, RawRecord, SideRecord

PREAMBLE = ("The user provided the following information about themselves. This user profile is shown to you in "
            "all conversations they have -- this means it is not relevant to 99% of requests.\nUser profile:\n```")


def _records(data):
    records = normalize(RawRecord(kind="conversation", data=data, member="conversations.json", index=0))
    assert isinstance(records[0], Conversation)
    return records[0], [r for r in records if isinstance(r, SideRecord)]


def _conversation(conv_id: str, *nodes) -> dict:
    t = syn.TreeBuilder()
    parent = t.root_id
    for node_id, role, content, metadata in nodes:
        parent = t.add(node_id, parent, role, content, metadata=metadata)
    return {"title": "t", "create_time": syn.T0, "update_time": syn.T0 + 9, "mapping": t.mapping,
            "current_node": parent, "id": conv_id}


def _uec(profile: str, instructions: str, meta: dict | None = None):
    return ("uec", "user", {"content_type": "user_editable_context", "user_profile": profile,
                            "user_instructions": instructions},
            {"is_visually_hidden_from_conversation": True, **({"user_context_message_data": meta} if meta else {})})


def _turn():
    return [("u1", "user", syn.text("hi"), None), ("a1", "assistant", syn.text("Hello Alaric!"), {})]


def test_user_editable_context_gives_the_users_own_words_without_the_preamble():
    conv, sides = _records(_conversation("c1", _uec(PREAMBLE + "Preferred name: Alaric\nRole: harbour master```",
                                                    "The user provided the additional info about how they would "
                                                    "like you to respond:\n```Call me Al.```"), *_turn()))
    [side] = sides
    assert side.kind == "custom_instructions" and side.personal and side.record_id.startswith("custom_instructions:")
    assert side.data["profile_text"] == ["Preferred name: Alaric\nRole: harbour master", "Call me Al."]
    # the conversation itself is unchanged: the instructions stay a hidden system message
    message = next(m for m in conv.messages if m.message_id == "uec")
    assert message.hidden and message.metadata["system_context"] == "custom_instructions"


def test_the_2023_form_and_the_metadata_copy_are_read():
    ci = ("ci", "system", syn.text(""), {"is_user_system_message": True, "user_context_message_data": {
        "about_user_message": "My name is Alaric and I live in Tobermory.", "about_model_message": ""}})
    _, [side] = _records(_conversation("c2", ci, *_turn()))
    assert side.data == {"about_user_message": "My name is Alaric and I live in Tobermory.",
                         "about_model_message": "", "profile_text": ["My name is Alaric and I live in Tobermory."]}
    # newer exports carry both copies: the metadata one (no preamble) wins
    _, [both] = _records(_conversation("c3", _uec(PREAMBLE + "ignored```", "", {"about_user_message": "tester"}),
                                       *_turn()))
    assert both.data["profile_text"] == ["tester"]


def test_the_same_instructions_in_two_conversations_are_one_record_and_empty_ones_none():
    uec = _uec(PREAMBLE + "Preferred name: Alaric```", "")
    _, [a] = _records(_conversation("c4", uec, *_turn()))
    _, [b] = _records(_conversation("c5", uec, *_turn()))
    assert a.record_id == b.record_id and a.data == b.data
    empty = ("ci", "system", syn.text(""), {"is_user_system_message": True,
                                            "user_context_message_data": {"about_user_message": "",
                                                                          "about_model_message": ""}})
    assert _records(_conversation("c6", empty, *_turn()))[1] == []
    assert _records(syn.conversation_2023())[1][0].data["profile_text"] == ["I am a synthetic tester.",
                                                                           "Answer briefly."]


def test_memory_is_a_personal_record_too():
    memory = ("mem", "assistant", {"content_type": "model_editable_context",
                                   "model_set_context": "1. [2024-05-12]. The user's name is Alaric."},
              {"is_visually_hidden_from_conversation": True})
    _, [side] = _records(_conversation("c7", memory, *_turn()))
    assert side.kind == "memory" and side.personal
    assert side.data["profile_text"] == ["1. [2024-05-12]. The user's name is Alaric."]
