"""Detection: DeepSeek shapes are recognised; ChatGPT/Claude/Qwen exports never are."""

from __future__ import annotations

import json

import pytest

from moonshine_core.errors import ParseError
from moonshine_core.sources import ExportSource
from moonshine_core.testing import real_export_files
from moonshine_deepseek import layout
from moonshine_deepseek.plugin import detect as detect_export
from moonshine_deepseek.plugin import plugin as deepseek


def test_official_zip_with_user_json_is_most_confident(tmp_path, build, detect):
    folder = build.samples / "deepseek_export"
    path = build.write_zip(tmp_path / "deepseek_data-2025-10-01.zip", {
        "conversations.json": (folder / "conversations.json").read_bytes(),
        "user.json": (folder / "user.json").read_bytes(),
    })
    found = detect(path)
    assert (found.provider, found.variant) == ("deepseek", layout.OFFICIAL)
    assert found.confidence == 0.99
    assert "mobile" in found.evidence


def test_bare_conversations_json(tmp_path, build, detect):
    path = build.write_json(tmp_path / "conversations.json", [build.chain("c", [("u", [build.frag("REQUEST", "hi")])])])
    found = detect(path)
    assert (found.provider, found.variant, found.confidence) == ("deepseek", layout.OFFICIAL, 0.95)


def test_any_file_name_and_folder(tmp_path, build, detect):
    path = build.write_json(tmp_path / "my-chats.json", [build.chain("c", [("u", [build.frag("REQUEST", "hi")])])])
    assert detect(path).variant == layout.OFFICIAL
    assert detect(build.samples / "deepseek_export").variant == layout.OFFICIAL


@pytest.mark.parametrize("name,variant", [("deepseek_web_api_flat.json", layout.API_FLAT),
                                          ("deepseek_web_api_fragments.json", layout.API_FRAGMENTS)])
def test_web_api_shapes(build, detect, name, variant):
    found = detect(build.samples / name)
    assert (found.provider, found.variant) == ("deepseek", variant)


def test_bare_biz_data_and_array_of_responses(tmp_path, build, detect):
    response = json.loads((build.samples / "deepseek_web_api_fragments.json").read_text())
    biz = response["data"]["biz_data"]
    assert detect(build.write_json(tmp_path / "biz.json", biz)).variant == layout.API_FRAGMENTS
    assert detect(build.write_json(tmp_path / "many.json", [response, response])).variant == layout.API_FRAGMENTS
    assert detect(build.write_json(tmp_path / "sessions.json", [biz])).variant == layout.API_FRAGMENTS


def test_wrapped_conversation(tmp_path, build, detect):
    conv = build.chain("c", [("u", [build.frag("REQUEST", "hi")])])
    assert detect(build.write_json(tmp_path / "one.json", conv)).variant == layout.WRAPPED
    assert detect(build.write_json(tmp_path / "wrap.json", {"meta": {}, "conversations": [conv]})).variant == layout.WRAPPED


def _chatgpt_conversation(**extra):
    conv = {"title": "t", "create_time": 1700000000.0, "update_time": 1700000100.0,
            "mapping": {"a": {"id": "a", "parent": None, "children": ["b"], "message": None},
                        "b": {"id": "b", "parent": "a", "children": [],
                              "message": {"id": "b", "author": {"role": "user"}, "create_time": 1700000000.0,
                                          "content": {"content_type": "text", "parts": ["hi"]}}}},
            "current_node": "b", "id": "x"}
    conv.update(extra)
    return conv


def test_chatgpt_export_is_never_claimed(tmp_path, build, detect):
    chatgpt = _chatgpt_conversation()
    assert detect(build.write_json(tmp_path / "conversations.json", [chatgpt])) is None
    # Even with a ChatGPT user.json beside it, or with only node-level markers left.
    path = build.write_zip(tmp_path / "chatgpt.zip", {"conversations.json": [chatgpt],
                                                      "user.json": {"id": "user-1", "email": "a@example.com",
                                                                    "chatgpt_plus_user": False}})
    assert detect(path) is None
    stripped = _chatgpt_conversation()
    for key in ("current_node", "create_time", "update_time", "id"):
        stripped.pop(key)
    assert detect(build.write_json(tmp_path / "c2.json", [stripped])) is None


def test_chatgpt_markers_beat_deepseek_markers(tmp_path, build, detect):
    mixed = build.chain("c", [("u", [build.frag("REQUEST", "hi")])])
    mixed["current_node"] = "1"
    assert detect(build.write_json(tmp_path / "mixed.json", [mixed])) is None


def test_mapping_without_any_deepseek_marker_is_not_claimed(tmp_path, build, detect):
    bare = {"id": "c", "mapping": {"root": {"id": "root", "parent": None, "children": [], "message": None}}}
    assert detect(build.write_json(tmp_path / "bare.json", [bare])) is None


def test_empty_account_zip(tmp_path, build, detect):
    path = build.write_zip(tmp_path / "empty.zip", {"conversations.json": [], "user.json": build.user_json})
    assert detect(path).variant == layout.OFFICIAL
    assert detect(build.write_zip(tmp_path / "empty2.zip", {"conversations.json": [], "user.json": {"id": 1}})) is None


def test_text_quoting_an_export_is_flagged_with_low_confidence(tmp_path, detect):
    path = tmp_path / "debug.txt"
    path.write_text("Files in ZIP:\n - user.json\n - conversations.json\nKeys: ['id', 'title', 'inserted_at', "
                    "'updated_at', 'mapping']\n", encoding="utf-8")
    found = detect(path)
    assert (found.variant, found.confidence) == (layout.NOT_AN_EXPORT, 0.05)
    other = tmp_path / "notes.txt"
    other.write_text("nothing to see", encoding="utf-8")
    assert detect(other) is None


def test_detect_never_raises(tmp_path):
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    for path in (broken, tmp_path):
        with ExportSource(path) as source:
            assert deepseek.moonshine_detect(source) is None


def _encrypted_zip(path, build):
    """A zip whose members say they are encrypted (flag bit 0), as a password-protected export would."""
    build.write_zip(path, {"conversations.json": [build.chain("c", [("u", [build.frag("REQUEST", "hi")])])]})
    data = bytearray(path.read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        data[at + flag_at] |= 0x01
    path.write_bytes(bytes(data))
    return path


def test_unreadable_export_is_a_parse_error_not_a_detector_error(tmp_path, build, pm):
    """The detector raises only ParseError on what it cannot read: "not mine", not a detector error."""
    path = _encrypted_zip(tmp_path / "locked.zip", build)
    with ExportSource(path) as source:
        with pytest.raises(ParseError, match="encrypted"):
            detect_export(source)
        assert deepseek.moonshine_detect(source) is None
        assert pm.detect(source) == ([], [])
        with pytest.raises(ParseError, match="encrypted"):
            pm.parse("deepseek", source)


@pytest.mark.real_exports
def test_every_real_deepseek_file_names_deepseek(detect):
    files = real_export_files("deepseek", start=__file__)
    if not files:
        pytest.skip("no real DeepSeek exports here")
    for path in files:
        found = detect(path)
        assert found is not None and found.provider == "deepseek", path.name
        if "EXCERPT" in path.name:
            assert found.variant == layout.NOT_AN_EXPORT and found.confidence < 0.1, path.name
        else:
            assert found.confidence >= 0.5, path.name


@pytest.mark.real_exports
@pytest.mark.parametrize("folder", ["chatgpt", "claude", "claude_code", "qwen"])
def test_no_other_provider_real_file_is_deepseek(detect, folder):
    files = real_export_files(folder, start=__file__)
    if not files:
        pytest.skip(f"no real {folder} exports here")
    for path in files:
        assert detect(path) is None, path.name
