"""Acceptance: real exports from ../shared/real-exports, ingested, archived, merged and distilled.

Every lane that has signal in these exports must produce rows that load with
``datasets`` and pass the lanes' TRL rules. Skips cleanly when the exports,
the provider plugins, the archive/merge stage or ``datasets`` are absent.
"""

from __future__ import annotations

import json

import pytest

from moonshine_core.testing import real_exports_dir

REAL = real_exports_dir(start=__file__)
#: A few exports per provider, chosen for signal: regenerate branches and feedback (chatgpt),
#: code-interpreter runs (realazthat), inline model comparisons (VRSEx), tool sessions (claude_code).
PICKS = {
    "chatgpt": ["chatgpt/MAX0240__filesxo__conversations.json",
                "chatgpt/realazthat__chatgpt2graph__examples__conversations.json",
                "chatgpt/VRSEx__ADHD__model_comparisons.json",
                "chatgpt/yoonchoonkoon__chatgpt-archive__DERIVED_selected_conversations.json"],
    "claude": ["claude/Superkikim__nexus-ai-chat-importer__local_resources__Claude.json",
               "claude/idanmashaal__Now2ai-Claude-Export-Processor__data__conversations.json",
               "claude_code/marot__spotter__test__fixtures__transcripts__tool_heavy.jsonl",
               "claude_code/marot__spotter__test__fixtures__transcripts__short.jsonl"],
    "deepseek": ["deepseek/ceyaima__deepseek-exporter__samples__DeepSeek_-_sample_2025-05-21T17-13-38__at_commit_179ac78.json",
                 "deepseek/tbdtechpro__KeroMDizer__tests__fixtures__sample_deepseek_conversations.SYNTHETIC.json"],
    "qwen": ["qwen/AfterThink__AfterChat-Converter__examples__small.json",
             "qwen/AfterThink__AfterChat-Converter__crates__afterchat-qwen__examples__single.json"],
}
LANES = ("dpo", "grpo", "agentic_code", "conversational")

pytestmark = pytest.mark.real_exports


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    if REAL is None:
        pytest.skip("no ../shared/real-exports")
    pytest.importorskip("datasets")
    archive = pytest.importorskip("moonshine_core.archive")
    merge = pytest.importorskip("moonshine_core.merge")
    if not hasattr(archive, "archive_run") or not hasattr(merge, "merge_run"):
        pytest.skip("archive/merge stage not available")
    from moonshine_core.distill import distill
    from moonshine_core.ingest import ingest
    from moonshine_core.plugins import make_plugin_manager
    from moonshine_core.workspace import Workspace

    pm = make_plugin_manager()
    missing = set(PICKS) - set(pm.providers())
    if missing:
        pytest.skip(f"provider plugins not installed: {sorted(missing)}")
    ws = Workspace.open(tmp_path_factory.mktemp("real-distill"))
    ingested = []
    for provider, names in PICKS.items():
        for name in names:
            path = REAL / name
            if not path.exists():
                continue
            result = ingest(path, provider=provider, workspace=ws, pm=pm)
            archive.archive_run(ws, result.run_id)
            merge.merge_run(ws, result.run_id)
            ingested.append(provider)
    if not ingested:
        pytest.skip("none of the picked real exports is present")
    result = distill(ws, pm=pm, run_id="distill_real", mix=True)
    return ws, result, sorted(set(ingested))


def test_every_lane_with_signal_has_rows_that_load(distilled):
    from moonshine_core.distill import load_lane
    from moonshine_core.plugins import make_plugin_manager

    lanes = make_plugin_manager(load_entrypoints=False).lanes()

    ws, result, providers = distilled
    counts = {lane: result.lanes[lane].by_provider for lane in LANES}
    print("real-export rows per lane and provider:", json.dumps(counts, sort_keys=True))
    # These exports hold regenerate branches, comparisons, code runs and tool sessions: every lane has signal.
    for lane in LANES:
        assert result.lanes[lane].rows > 0, (lane, result.lanes[lane].left_out)
    assert set(counts["conversational"]) == set(providers)
    for lane in LANES:
        folder = ws.distill_dir(lane, "distill_real")
        ds = load_lane(folder)
        assert sum(len(split) for split in ds.values()) == result.lanes[lane].rows
        for split in ds.values():
            for row in split:
                assert lanes[lane].validate(row) is None
        for name in sorted(folder.glob("converted/*/*.jsonl")):
            assert all(json.loads(line) for line in name.read_text().splitlines())


def test_real_rows_carry_provenance_and_no_invalid_rows(distilled):
    ws, result, _ = distilled
    for lane in LANES:
        manifest = json.loads((ws.distill_dir(lane, "distill_real") / "manifest.json").read_text())
        assert not [k for k in manifest["left_out"] if k.startswith(("invalid_row", "plugin_error"))], \
            manifest["left_out"]
        for name in manifest["files"]:
            if "/" in name:
                continue
            for line in (ws.distill_dir(lane, "distill_real") / name).read_text().splitlines():
                row = json.loads(line)
                assert row["provider_run_id"] and row["record_uid"] and row["source_message_ids"]
                assert row["lane"] == lane and row["split"] in ("train", "eval")
