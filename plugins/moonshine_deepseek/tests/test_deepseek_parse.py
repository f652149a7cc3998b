"""Parsing: streaming, containers, side files and refusals."""

from __future__ import annotations

import inspect

import pytest

from moonshine_core.errors import ParseError
from moonshine_core.sources import ExportSource
from moonshine_deepseek.parse import plan, stream
from moonshine_deepseek.plugin import plugin as deepseek


def _conversations_zip(tmp_path, build, user=True):
    folder = build.samples / "deepseek_export"
    members = {"conversations.json": (folder / "conversations.json").read_bytes()}
    if user:
        members["user.json"] = (folder / "user.json").read_bytes()
    return build.write_zip(tmp_path / "deepseek_data-2025-10-01.zip", members)


def test_parse_is_a_generator_of_conversations_then_user(tmp_path, build):
    with ExportSource(_conversations_zip(tmp_path, build)) as source:
        result = deepseek.moonshine_parse(provider="deepseek", source=source)
        assert inspect.isgenerator(result)
        raws = list(result)
    assert [r.kind for r in raws] == ["conversation"] * 3 + ["side"]
    assert [r.index for r in raws[:3]] == [0, 1, 2]
    assert raws[0].member == "conversations.json" and raws[-1].member == "user.json"
    assert raws[-1].context == {"side": "user"}
    assert all(r.variant == "official-export" for r in raws)


def test_other_providers_get_none(build):
    with ExportSource(build.samples / "deepseek_web_api_flat.json") as source:
        assert deepseek.moonshine_parse(provider="chatgpt", source=source) is None


def test_user_json_becomes_a_personal_side_record(tmp_path, build, run):
    conversations, comparisons, sides, failures = run(_conversations_zip(tmp_path, build))
    assert failures == []
    assert len(conversations) == 3 and len(comparisons) == 1
    (user,) = sides
    assert (user.kind, user.personal, user.record_id) == ("user", True, "user:00000000-0000-4000-8000-00000000abcd")
    assert user.data["email"] == "reader@example.com" and user.unknown_shapes == []


def test_bare_conversations_json_has_no_side_record(tmp_path, build, run):
    path = tmp_path / "conversations.json"
    path.write_bytes((build.samples / "deepseek_export" / "conversations.json").read_bytes())
    conversations, _, sides, failures = run(path)
    assert len(conversations) == 3 and sides == [] and failures == []


def test_nested_folder_in_zip(tmp_path, build, run):
    folder = build.samples / "deepseek_export"
    path = build.write_zip(tmp_path / "x.zip", {
        "deepseek_data-2025-10-01/conversations.json": (folder / "conversations.json").read_bytes(),
        "deepseek_data-2025-10-01/user.json": (folder / "user.json").read_bytes()})
    conversations, _, sides, failures = run(path)
    assert len(conversations) == 3 and len(sides) == 1 and failures == []


def test_unreadable_user_json_costs_only_that_record(tmp_path, build, run):
    path = build.write_zip(tmp_path / "x.zip", {
        "conversations.json": [build.chain("c", [("u", [build.frag("REQUEST", "hi")])])],
        "user.json": "{not json"})
    conversations, _, sides, failures = run(path)
    assert len(conversations) == 1 and sides == []
    assert len(failures) == 1 and "user.json unreadable" in failures[0]


def test_user_json_of_the_wrong_type(tmp_path, build, run):
    path = build.write_zip(tmp_path / "x.zip", {
        "conversations.json": [build.chain("c", [("u", [build.frag("REQUEST", "hi")])])],
        "user.json": ["not", "an", "object"]})
    _, _, sides, failures = run(path)
    assert sides == [] and failures == ["user.json#0: user.json is a list, not an object"]  # located by ProviderPlugin


def test_user_json_unknown_keys_are_listed(tmp_path, build, run):
    user = dict(build.user_json, new_field=1)
    path = build.write_zip(tmp_path / "x.zip", {"conversations.json": [], "user.json": user})
    conversations, _, (side,), failures = run(path)
    assert conversations == [] and failures == [] and side.unknown_shapes == ["user_key:new_field"]


def test_wrapped_template_streams_the_inner_conversation(tmp_path, build, run):
    conv = build.chain("c-1", [("u", [build.frag("REQUEST", "hi")]), ("a", [build.frag("RESPONSE", "yo")])])
    path = build.write_json(tmp_path / "template.json", {"_template_meta": {"provider": "deepseek"},
                                                         "example_conversation": conv})
    (conversation,), _, _, failures = run(path)
    assert failures == [] and conversation.format_variant == "wrapped-export"
    assert [m.role for m in conversation.messages] == ["user", "assistant"]


def test_folder_of_saved_api_responses(tmp_path, build, run):
    for name in ("deepseek_web_api_flat.json", "deepseek_web_api_fragments.json"):
        (tmp_path / name).write_bytes((build.samples / name).read_bytes())
    conversations, comparisons, _, failures = run(tmp_path)
    assert failures == [] and len(conversations) == 2 and len(comparisons) == 2
    assert sorted(c.format_variant for c in conversations) == ["web-api-flat", "web-api-fragments"]


def test_refusals_are_parse_errors_naming_what_is_missing(tmp_path, build):
    text = tmp_path / "debug_output.txt"
    text.write_text("ZIP holds user.json and conversations.json\nkeys: id, title, inserted_at, mapping\n")
    other = build.write_json(tmp_path / "other.json", {"hello": "world"})
    chatgpt_only = build.write_zip(tmp_path / "nozip.zip", {"user.json": build.user_json})
    for path, words in ((text, "text output"), (other, "not a DeepSeek export"),
                        (chatgpt_only, "not a DeepSeek export")):
        with ExportSource(path) as source, pytest.raises(ParseError) as info:
            plan(source)
        message = str(info.value)
        assert words in message and "conversations.json" in message and str(path.name) in message


def test_truncated_conversations_file_raises_parse_error_naming_it(tmp_path, build):
    good = (build.samples / "deepseek_export" / "conversations.json").read_bytes()
    path = tmp_path / "conversations.json"
    path.write_bytes(good[: len(good) * 2 // 3])
    with ExportSource(path) as source:
        found = plan(source)
        with pytest.raises(ParseError) as info:
            list(stream(source, found))
    assert "conversations.json" in str(info.value)


def test_conversations_stream_one_at_a_time(tmp_path, build, monkeypatch):
    """The first record arrives after reading a small part of the file, not the whole of it."""
    convs = [build.chain(f"c{i}", [("u", [build.frag("REQUEST", "x" * 2000)])]) for i in range(400)]
    path = build.write_json(tmp_path / "conversations.json", convs)
    handles = []
    original = ExportSource.open

    def tracking_open(self, name):
        handle = original(self, name)
        handles.append(handle)
        return handle

    monkeypatch.setattr(ExportSource, "open", tracking_open)
    with ExportSource(path) as source:
        records = stream(source, plan(source))
        first = next(records)
        assert first.data["id"] == "c0"
        assert handles[-1].tell() < path.stat().st_size / 4
        records.close()
