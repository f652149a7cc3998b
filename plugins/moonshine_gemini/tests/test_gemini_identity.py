"""Record identity and conversation grouping: stable across re-exports, never tied to a file position.

The rule (docs/providers/gemini.md, "Conversations"): a record is identified by its time and title; a turn
linked to a Gemini chat (details url) belongs to that chat; other turns form sessions cut at pauses over 30
minutes or at a new Gem, each named after its earliest record.
"""

from __future__ import annotations

import random

import pytest

from moonshine_gemini.plan import GAP_SECONDS


def _ids(result):
    """Conversation id -> message ids, and every feedback's target, for comparing two runs."""
    conversations = {c.conversation_id: [m.message_id for m in c.messages] for c in result.conversations}
    targets = sorted((f.feedback_id, f.conversation_id, f.message_id) for f in result.feedback)
    return conversations, targets


def _history(build):
    """A month of activity, newest first as Takeout writes it: two sessions, a linked chat, a rating."""
    return [
        build.prompt("linked follow-up", "2026-02-03T12:00:00.000Z", details=build.link("abc123")),
        build.prompt("linked start", "2026-02-01T12:00:00.000Z", details=build.link("abc123")),
        build.rec("Gave feedback: Good response", "2026-01-20T09:11:00.000Z"),
        build.prompt("second session, turn 2", "2026-01-20T09:10:00.000Z"),
        build.prompt("second session, turn 1", "2026-01-20T09:00:00.000Z"),
        build.prompt("first session, turn 2", "2026-01-10T08:20:00.000Z"),
        build.prompt("first session, turn 1", "2026-01-10T08:00:00.000Z"),
    ]


def test_grouping_of_a_history(run, build, tmp_path):
    result = run(build.write_json(tmp_path / "MyActivity.json", _history(build)))
    assert not result.failures
    texts = {c.conversation_id: [m.text for m in c.messages if m.role == "user"] for c in result.conversations}
    assert texts["abc123"] == ["linked start", "linked follow-up"]
    sessions = sorted(v for k, v in texts.items() if k.startswith("session:"))
    assert sessions == [["first session, turn 1", "first session, turn 2"],
                        ["second session, turn 1", "second session, turn 2"]]
    linked = result.by_id["abc123"]
    assert linked.metadata["grouping"] == "details_link" and linked.order_inferred
    (rating,) = result.feedback
    second = next(c for c in result.conversations if c.title == "second session, turn 1")
    assert rating.conversation_id == second.conversation_id
    assert rating.message_id == second.messages[-1].message_id and rating.metadata["message_inferred"]


def test_same_records_in_another_order_give_the_same_ids(run, build, tmp_path):
    records = _history(build)
    first = _ids(run(build.write_json(tmp_path / "a" / "MyActivity.json", records)))
    for seed in range(5):
        shuffled = list(records)
        random.Random(seed).shuffle(shuffled)
        assert _ids(run(build.write_json(tmp_path / f"s{seed}" / "MyActivity.json", shuffled))) == first


def test_a_later_export_with_new_records_before_them_keeps_every_id(run, build, tmp_path):
    old = _history(build)
    first_conversations, first_targets = _ids(run(build.write_json(tmp_path / "old" / "MyActivity.json", old)))
    newer = [
        build.prompt("a month later", "2026-03-05T10:00:00.000Z"),
        build.prompt("linked, continued later", "2026-03-01T10:00:00.000Z", details=build.link("abc123")),
        # within the gap of the newest session of the old export: it joins that session, whose id stays
        build.prompt("second session, turn 3", "2026-01-20T09:25:00.000Z"),
    ]
    # Takeout prepends: every old record sits at a new position, and some answers were re-rendered.
    rerendered = [dict(r, safeHtmlItem=[{"html": "<p>re-rendered</p>"}]) if "turn 1" in r["title"] else r for r in old]
    later_conversations, later_targets = _ids(run(build.write_json(tmp_path / "new" / "MyActivity.json",
                                                                   newer + rerendered)))
    for cid, message_ids in first_conversations.items():
        assert cid in later_conversations
        assert later_conversations[cid][: len(message_ids)] == message_ids
    assert later_targets == first_targets
    assert len(later_conversations) == len(first_conversations) + 1   # "a month later" is a new session


def test_ids_do_not_depend_on_the_answer(run, build, tmp_path):
    one = run(build.write_json(tmp_path / "a.json", [build.prompt("q", "2026-01-01T00:00:00.000Z", "<p>a</p>")]))
    two = run(build.write_json(tmp_path / "b.json", [build.prompt("q", "2026-01-01T00:00:00Z", "<b>other</b>")]))
    assert _ids(one) == _ids(two)   # the same instant with and without milliseconds, another rendering


def test_a_pause_longer_than_the_gap_starts_a_new_session(run, build, tmp_path):
    records = [build.prompt("a", "2026-01-01T10:00:00Z"),
               build.prompt("b", f"2026-01-01T10:{GAP_SECONDS // 60:02d}:00Z"),        # exactly the gap: same
               build.prompt("c", f"2026-01-01T11:{GAP_SECONDS // 60 + 1:02d}:00Z")]    # 31 minutes later: new
    result = run(build.write_json(tmp_path / "MyActivity.json", records))
    assert sorted(len(c.messages) for c in result.conversations) == [2, 4]


def test_a_new_gem_starts_a_new_session(run, build, tmp_path):
    def gem(name):
        return [{"name": f"{name} was used in this chat. Manage your Gems.",
                 "url": "https://gemini.google.com/gems/view"}]

    records = [build.prompt("plain", "2026-01-01T10:00:00Z"),
               build.prompt("tutor 1", "2026-01-01T10:01:00Z", subtitles=gem("Tutor")),
               build.prompt("tutor 2", "2026-01-01T10:02:00Z", subtitles=gem("Tutor")),
               build.prompt("coach", "2026-01-01T10:03:00Z", subtitles=gem("Coach")),
               build.prompt("after the gem, no subtitle", "2026-01-01T10:04:00Z")]
    result = run(build.write_json(tmp_path / "MyActivity.json", records))
    groups = sorted([m.text for m in c.messages if m.role == "user"] for c in result.conversations)
    assert groups == [["coach", "after the gem, no subtitle"], ["plain"], ["tutor 1", "tutor 2"]]
    assert {tuple(c.metadata.get("gems", [])) for c in result.conversations} == {(), ("Tutor",), ("Coach",)}


def test_identical_records_and_shared_identities_get_distinct_stable_ids(run, build, tmp_path):
    same = build.prompt("twice", "2026-01-01T10:00:00.000Z", "<p>x</p>")
    differs = build.prompt("twice", "2026-01-01T10:00:00.000Z", "<p>y</p>")
    result = run(build.write_json(tmp_path / "a.json", [same, differs, dict(same)]))
    (conversation,) = result.conversations
    ids = [m.message_id for m in conversation.messages]
    assert len(ids) == len(set(ids)) == 6
    assert sum(1 for i in ids if "~" in i) == 4
    again = run(build.write_json(tmp_path / "b.json", [differs, dict(same), same]))
    assert _ids(again) == _ids(result)


def test_a_record_without_a_time_is_a_conversation_of_its_own(run, build, tmp_path):
    result = run(build.write_json(tmp_path / "a.json", [build.prompt("timed", "2026-01-01T10:00:00Z"),
                                                         build.prompt("untimed", None),
                                                         build.prompt("bad time", "yesterday")]))
    rules = sorted(c.metadata["grouping"] for c in result.conversations)
    assert rules == ["time_gap", "untimed", "untimed"]
    bad = next(c for c in result.conversations if c.title == "bad time")
    assert "time_unreadable" in bad.unknown_shapes and bad.conversation_id.startswith("record:sha256:")


def test_a_record_naming_several_chats_goes_to_the_first(run, build, tmp_path):
    both = build.link("first") + build.link("second")
    result = run(build.write_json(tmp_path / "a.json", [build.prompt("q", "2026-01-01T10:00:00Z", details=both)]))
    (conversation,) = result.conversations
    assert conversation.conversation_id == "first"
    assert "details_several_conversations" in conversation.unknown_shapes
    assert conversation.messages[0].metadata["other_conversations"] == ["second"]


@pytest.mark.parametrize("url, chat", [
    ("https://gemini.google.com/app/0a1b2c3d", "0a1b2c3d"),
    ("https://gemini.google.com/u/1/app/0a1b2c3d?hl=de", "0a1b2c3d"),
    ("https://gemini.google.com/gems/view", None),
    ("https://example.com/app/0a1b2c3d", None),
    ("not a url", None),
])
def test_chat_links(url, chat):
    from moonshine_gemini.activity import chat_id

    assert chat_id(url) == chat


def test_the_limit_an_expired_session_head_renames_that_session_only(run, build, tmp_path):
    """Documented limit: when auto-delete removes a session's earliest record, that session gets a new id."""
    records = _history(build)
    before = {c.title: c.conversation_id for c in run(build.write_json(tmp_path / "a.json", records)).conversations}
    trimmed = [r for r in records if r["title"] != "Prompted first session, turn 1"]
    after = {c.title: c.conversation_id for c in run(build.write_json(tmp_path / "b.json", trimmed)).conversations}
    assert after["second session, turn 1"] == before["second session, turn 1"]
    assert after["linked start"] == before["linked start"]
    assert after["first session, turn 2"] != before["first session, turn 1"]
