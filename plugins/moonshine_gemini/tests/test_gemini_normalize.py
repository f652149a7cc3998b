"""Normalising each record shape: turns, answers as Markdown, attachments, Gems, canvases, feedback, reports."""

from __future__ import annotations

import json

import pytest

from moonshine_core.errors import NormalizeError
from moonshine_core.records import RawRecord
from moonshine_gemini.html import html_to_markdown
from moonshine_gemini.normalize import normalize


def _one(run, build, tmp_path, records):
    result = run(build.write_json(tmp_path / "MyActivity.json", records))
    assert not result.failures
    return result


def test_message_counts_equal_the_raw_count(run, build, tmp_path):
    """raw_message_count, len(messages) and the test's own count from the raw records all agree."""
    for sample in (build.takeout_json, build.samples / "MyActivity.json"):
        raw = json.loads(sample.read_text(encoding="utf-8"))
        result = run(sample)
        assert sum(len(c.messages) for c in result.conversations) == build.count_from_raw(raw)
        for conversation in result.conversations:
            assert conversation.raw_message_count == len(conversation.messages)
            assert conversation.raw_message_count == build.count_from_raw(conversation.raw)


def test_the_takeout_sample_in_numbers(run, build):
    result = run(build.samples / "gemini_takeout")
    assert len(result.conversations) == 6
    assert sum(len(c.messages) for c in result.conversations) == 21
    assert sorted(f.rating for f in result.feedback) == ["cleared", "thumbs_up"]
    assert sorted(s.kind for s in result.sides) == ["activity_report", "canvas", "gemini_activity",
                                                    "gemini_activity", "gemini_activity"]
    assert result.comparisons == []


def test_a_turn_is_a_prompt_and_an_answer(run, build, tmp_path):
    result = _one(run, build, tmp_path, [build.prompt("Why is the sky blue?", "2026-01-01T10:00:00.000Z",
                                                      "<p>Rayleigh <strong>scattering</strong>.</p>")])
    (conversation,) = result.conversations
    user, answer = conversation.messages
    assert (user.role, user.text, user.parent_id) == ("user", "Why is the sky blue?", None)
    assert (answer.role, answer.text, answer.parent_id) == ("assistant", "Rayleigh **scattering**.", user.message_id)
    assert user.message_id.endswith(":prompt") and answer.message_id.endswith(":answer")
    assert answer.content_kind == "html" and user.created_at == answer.created_at == 1767261600.0
    assert conversation.title == "Why is the sky blue?" and conversation.metadata["title_inferred"]
    assert conversation.current_leaf_id == answer.message_id and conversation.active_branch_inferred
    assert "safeHtmlItem" not in user.raw and answer.raw["safeHtmlItem"][0]["html"].startswith("<p>")
    assert conversation.raw[0]["title"] == "Prompted Why is the sky blue?"


def test_a_prompt_without_an_answer_and_an_image_only_prompt(run, build, tmp_path):
    records = [build.prompt("no answer", "2026-01-01T10:01:00Z", None),
               build.rec("Prompted ", "2026-01-01T10:00:00Z", "<p>A sparrow.</p>", imageFile="bird-1.jpg")]
    (conversation,) = _one(run, build, tmp_path, records).conversations
    roles = [(m.role, m.text) for m in conversation.messages]
    assert roles == [("user", ""), ("assistant", "A sparrow."), ("user", "no answer")]
    image = conversation.messages[0].attachments[0]
    assert (image.kind, image.name, image.pointer) == ("image", "bird-1.jpg", "bird-1.jpg")
    assert image.mime_type == "image/jpeg"
    assert conversation.title == "no answer"


def test_html_keeps_code_blocks_lists_and_tables():
    html = ("<h2>Plan</h2><p>Use <code>sorted()</code> &amp; keep <em>snake_case</em>:</p>"
            "<ol><li>one<ul><li>nested</li></ul></li><li>two</li></ol>"
            "<pre><code class=\"language-python\">def f(a_b):\n    return a_b * 2\n</code></pre>"
            "<pre class=\"lang-sql\">SELECT 1;</pre>"
            "<table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>"
            "<p><img src=\"https://lh3.example/image.png\" alt=\"chart\"></p>")
    text, images = html_to_markdown(html)
    assert text.startswith("## Plan\n\nUse `sorted()` & keep *snake_case*:")
    assert "1. one\n   - nested\n2. two" in text
    assert "```python\ndef f(a_b):\n    return a_b * 2\n```" in text
    assert "```sql\nSELECT 1;\n```" in text
    assert "| k | v |\n| --- | --- |\n| a | 1 |" in text
    assert images == ["https://lh3.example/image.png"]


def test_generated_images_and_several_html_fragments(run, build, tmp_path):
    records = [build.prompt("draw", "2026-01-01T10:00:00Z",
                            ["<p>Here it is:</p><img src=\"http://googleusercontent.com/image_generation_content/0\">",
                             "<p>Another take.</p>"])]
    (conversation,) = _one(run, build, tmp_path, records).conversations
    answer = conversation.messages[1]
    assert answer.text.startswith("Here it is:") and answer.text.endswith("Another take.")
    assert answer.metadata["html_fragments"] == 2
    assert [a.pointer for a in answer.attachments] == ["http://googleusercontent.com/image_generation_content/0"]


def test_attachments_from_subtitles_image_file_and_attached_files(run, build, tmp_path):
    record = build.prompt("look", "2026-01-01T10:00:00Z",
                          subtitles=[{"name": "Attached 2 files."}, {"name": "-  chart.png", "url": "chart-1a.png"},
                                     {"name": "-  notes.pdf", "url": "notes-2b.pdf"}],
                          imageFile="chart-1a.png",
                          attachedFiles=["notes-2b.pdf", {"name": "x.txt", "url": "x-3c.txt"}])
    member = "Takeout/My Activity/Gemini Apps"
    path = build.write_zip(tmp_path / "t.zip", {f"{member}/MyActivity.json": [record],
                                                f"{member}/chart-1a.png": b"\x89PNG"})
    (conversation,) = run(path).conversations
    user = conversation.messages[0]
    found = [(a.kind, a.name, a.pointer) for a in user.attachments]
    assert found == [("image", "chart.png", f"{member}/chart-1a.png"), ("file", "notes.pdf", "notes-2b.pdf"),
                     ("file", "x.txt", "x-3c.txt")]
    assert [a.raw["in_export"] for a in user.attachments] == [True, False, False]
    assert user.metadata["context_incomplete"] and "subtitles" not in user.metadata


def test_gem_and_other_subtitles(run, build, tmp_path):
    record = build.prompt("q", "2026-01-01T10:00:00Z", subtitles=[
        {"name": "Tutor was used in this chat. Manage your Gems.", "url": "https://gemini.google.com/gems/view"},
        {"name": "http://googleusercontent.com/youtube_content/3"}])
    (conversation,) = _one(run, build, tmp_path, [record]).conversations
    user, answer = conversation.messages
    assert user.metadata["gem"] == "Tutor" and answer.metadata["gem"] == "Tutor"
    assert user.metadata["subtitles"] == [{"name": "http://googleusercontent.com/youtube_content/3"}]
    assert conversation.metadata["gems"] == ["Tutor"]


def test_branched_and_unknown_verbs(run, build, tmp_path):
    records = [build.rec("Branched Try again, shorter", "2026-01-01T10:00:00Z", "<p>Short.</p>"),
               build.rec("Prompt eingegeben: Wie spät ist es?", "2026-01-01T10:01:00Z", "<p>Zwölf.</p>"),
               build.rec("Reviewed something", "2026-01-01T10:02:00Z")]
    result = _one(run, build, tmp_path, records)
    (conversation,) = result.conversations
    users = [m for m in conversation.messages if m.role == "user"]
    assert [u.text for u in users] == ["Try again, shorter", "Prompt eingegeben: Wie spät ist es?"]
    assert users[0].metadata["verb"] == "Branched" and users[1].metadata["title_verb_unknown"]
    assert "title_verb_unknown" in conversation.unknown_shapes
    assert [s.data["verb"] for s in result.sides if s.kind == "gemini_activity"] == ["Reviewed"]


def test_feedback_ratings_links_and_retraction(run, build, tmp_path):
    records = [build.prompt("a", "2026-01-01T10:00:00Z", "<p>first</p>"),
               build.rec("Gave feedback: Good response", "2026-01-01T10:00:30Z"),
               build.prompt("b", "2026-01-01T10:05:00Z", "<p>second</p>"),
               build.rec("Gave feedback: Bad response", "2026-01-01T10:06:00Z"),
               build.rec("Cleared previous feedback", "2026-01-01T10:06:30Z"),
               build.prompt("c", "2026-01-01T10:07:00Z", None),
               build.rec("Gave feedback: Good response", "2026-01-01T10:08:00Z"),  # b's answer: c has none
               build.rec("Gave feedback: Meh", "2026-01-01T12:00:00Z",                  # far from every answer
                         subtitles=[{"name": "Not factually correct"}])]
    result = _one(run, build, tmp_path, records)
    (conversation,) = result.conversations
    answers = {m.text: m.message_id for m in conversation.messages if m.role == "assistant"}
    got = sorted((f.created_at, f.rating, f.message_id) for f in result.feedback)
    assert got == [(1767261630.0, "thumbs_up", answers["first"]), (1767261960.0, "cleared", answers["second"]),
                   (1767262080.0, "thumbs_up", answers["second"]), (1767268800.0, "meh", None)]
    cleared = next(f for f in result.feedback if f.rating == "cleared")
    assert cleared.metadata["rating_before_clear"] == "thumbs_down"
    meh = next(f for f in result.feedback if f.rating == "meh")
    assert meh.text == "Not factually correct" and "feedback_rating:meh" in meh.unknown_shapes
    assert meh.conversation_id is None and not meh.metadata["message_inferred"]


def test_canvas_from_html_or_subtitles(run, build, tmp_path):
    records = [build.prompt("make a canvas", "2026-01-01T10:00:00Z"),
               build.rec("Created Gemini Canvas titled Trip plan", "2026-01-01T10:01:00Z",
                         "<h1>Trip</h1><ul><li>Day 1</li></ul>"),
               build.rec("Created Gemini Canvas titled Notes", "2026-01-01T10:02:00Z",
                         subtitles=[{"name": "# Notes\n\n- one"}])]
    result = _one(run, build, tmp_path, records)
    canvases = sorted((s.data["canvas_title"], s.data["text"]) for s in result.sides if s.kind == "canvas")
    assert canvases == [("Notes", "# Notes\n\n- one"), ("Trip plan", "# Trip\n\n- Day 1")]
    assert all(s.data["near"]["conversation_id"] == result.conversations[0].conversation_id
               for s in result.sides if s.kind == "canvas")
    assert sum(len(c.messages) for c in result.conversations) == 2   # a canvas is not a turn


def test_other_products_and_bad_items_are_counted_not_kept(run, build, tmp_path):
    records = [build.prompt("q", "2026-01-01T10:00:00Z"),
               build.other("Search", "Searched for q", "2026-01-01T10:00:01Z"),
               build.other("Search", "Searched for r", "2026-01-01T10:00:02Z"), {"title": "no product"}, "text", 7]
    result = _one(run, build, tmp_path, records)
    (report,) = [s for s in result.sides if s.kind == "activity_report"]
    member = report.data["members"]["MyActivity.json"]
    assert member["other_products"] == {"<no product>": 1, "Search": 2}
    assert member["not_objects"] == {"int": 1, "str": 1}
    assert report.unknown_shapes.count("other_product:Search") == 2
    assert [len(c.messages) for c in result.conversations] == [2]


def test_unknown_keys_are_reported_and_kept(run, build, tmp_path):
    record = build.rec("Prompted q", "2026-01-01T10:00:00Z", conversationMetadata={"x": 1},
                       safeHtmlItem=[{"html": "<p>a</p>"}, "junk"])
    (conversation,) = _one(run, build, tmp_path, [record]).conversations
    assert {"record_key:conversationMetadata", "safe_html_item:entry"} <= set(conversation.unknown_shapes)
    assert conversation.messages[0].raw["conversationMetadata"] == {"x": 1}


def test_normalize_rejects_what_the_plan_never_makes():
    with pytest.raises(NormalizeError):
        normalize(RawRecord(kind="conversation", data={"not": "a list"}, context={"conversation_id": "x"}))
    with pytest.raises(NormalizeError):
        normalize(RawRecord(kind="conversation", data=[{}], context={"conversation_id": "x", "record_ids": []}))
    with pytest.raises(NormalizeError):
        normalize(RawRecord(kind="feedback", data=[1]))
    with pytest.raises(NormalizeError):
        normalize(RawRecord(kind="mystery", data={}))
