"""The benchmark's generated ChatGPT export (bench/generate_export.py): deterministic, realistic, ingestible."""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import generate_export

SIZE_MB = 1.0


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> tuple[Path, generate_export.ExportStats]:
    path = tmp_path_factory.mktemp("gen") / "conversations.json"
    return path, generate_export.write_export(path, SIZE_MB, seed=3)


def _kinds(conversations: list[dict]) -> collections.Counter:
    kinds: collections.Counter = collections.Counter()
    for conv in conversations:
        for node in conv["mapping"].values():
            if len(node["children"]) > 1:
                kinds["branch"] += 1
            msg = node["message"]
            if msg is None:
                continue
            content = msg["content"]
            kinds[f"{msg['author']['role']}:{content['content_type']}"] += 1
            if msg["recipient"] != "all" and msg["author"]["role"] == "assistant":
                kinds[f"call:{msg['recipient']}"] += 1
            if msg["metadata"].get("rebase_system_message"):
                kinds["rebase_system_message"] += 1
            for part in content.get("parts") or ():
                if isinstance(part, dict):
                    kinds[f"part:{part['content_type']}"] += 1
                elif "```" in part:
                    kinds["code_block"] += 1
                if isinstance(part, str) and any(ord(ch) > 0x3000 for ch in part[:2000]):
                    kinds["cjk_text"] += 1
    return kinds


def test_same_seed_same_bytes_other_seed_other_bytes(export, tmp_path):
    path, stats = export
    again = tmp_path / "again.json"
    generate_export.write_export(again, SIZE_MB, seed=3)
    assert again.read_bytes() == path.read_bytes()
    other = tmp_path / "other.json"
    generate_export.write_export(other, SIZE_MB, seed=4)
    assert other.read_bytes() != path.read_bytes()
    assert stats.bytes == path.stat().st_size
    assert abs(stats.bytes - SIZE_MB * 1e6) < 0.2e6


def test_shape_is_the_official_export(export):
    path, stats = export
    text = path.read_text(encoding="ascii")  # non-ASCII is escaped, as json.dumps writes it
    assert "\n" not in text and text.startswith('[{"title": ')
    conversations = json.loads(text)
    assert len(conversations) == stats.conversations
    assert [tuple(c) for c in conversations] == [generate_export.CONVERSATION_KEYS] * len(conversations)
    created = [c["create_time"] for c in conversations]
    assert created == sorted(created, reverse=True)
    for conv in conversations:
        mapping = conv["mapping"]
        assert conv["current_node"] in mapping and not mapping[conv["current_node"]]["children"]
        for nid, node in mapping.items():
            assert all(mapping[c]["parent"] == nid for c in node["children"])
    kinds = _kinds(conversations)
    claimed = ["user:text", "assistant:text", "system:text", "user:user_editable_context", "user:multimodal_text",
               "part:image_asset_pointer", "part:audio_transcription", "assistant:code", "call:python",
               "call:web.run", "tool:execution_output", "tool:tether_browsing_display", "tool:tether_quote",
               "assistant:thoughts", "assistant:reasoning_recap", "branch", "rebase_system_message", "code_block",
               "cjk_text"]
    assert [k for k in claimed if not kinds[k]] == []
    # ~17 messages and ~38 KB per conversation, as in the 250 MB corpus.
    assert 10 <= stats.messages / stats.conversations <= 25
    assert 25_000 <= stats.bytes / stats.conversations <= 60_000


def test_chatgpt_plugin_ingests_it_cleanly(export, tmp_path):
    from moonshine_core.ingest import ingest
    from moonshine_core.workspace import Workspace

    path, stats = export
    result = ingest(path, "chatgpt", workspace=Workspace.open(tmp_path / "ws"))
    manifest = result.manifest
    assert {name: gate["passed"] for name, gate in manifest["gates_raw"].items()} == \
        {name: True for name in manifest["gates_raw"]}
    assert manifest["not_normalised"] == []
    assert manifest["unknown_shapes"] == {}
    assert manifest["counts"]["db_rows"]["conversations"] == stats.conversations
    assert manifest["counts"]["db_rows"]["messages"] == stats.messages


def test_changed_re_export_changes_only_the_chosen_fraction(export, tmp_path):
    path, stats = export
    changed_path = tmp_path / "changed.json"
    changed = generate_export.write_changed_export(path, changed_path, fraction=0.2, seed=3)
    before = {c["id"]: c for c in json.loads(path.read_text())}
    after = json.loads(changed_path.read_text())
    assert [c["id"] for c in after] == list(before)
    differing = [c["id"] for c in after if generate_export.dumps(c) != generate_export.dumps(before[c["id"]])]
    assert differing == changed.changed_ids
    assert abs(len(differing) - 0.2 * stats.conversations) <= 1
    for conv in after:
        old = before[conv["id"]]
        if conv["id"] in differing:
            assert conv["update_time"] > old["update_time"]
            assert set(old["mapping"]) < set(conv["mapping"])
    # Unchanged conversations keep their bytes: the file is the old one with the changed ones replaced.
    text = path.read_text()
    assert sum(generate_export.dumps(c) in text for c in after) == stats.conversations - len(differing)
