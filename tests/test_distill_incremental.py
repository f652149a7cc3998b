"""The distill row cache: a distill after a small new run re-distils only what changed, and its
output is byte-identical to a full distill of the same mash."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import distill_fixtures as fx

from moonshine_core.distill import distill
from moonshine_core.distill.rowcache import CACHE_FILE
from moonshine_core.plugins import make_plugin_manager
from moonshine_core.records import Feedback
from moonshine_core.store import Store

LANES = ("dpo", "kto", "grpo", "agentic_code", "conversational")


def pm():
    return make_plugin_manager(load_entrypoints=False)


def lane_files(ws, run_id) -> dict[tuple[str, str], bytes]:
    out = {}
    for lane in LANES:
        folder = ws.distill_dir(lane, run_id)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            out[(lane, str(path.relative_to(folder)))] = path.read_bytes()
    return out


def add_run(ws) -> None:
    """A small second export: one new conversation and a thumbs-down on an existing answer."""
    new = fx.plain_conversation("c-new", text="How do I brew green tea without it turning bitter?")
    feedback = Feedback(feedback_id="late-fb", rating="thumbs_down", conversation_id="c-regen", message_id="r1",
                        created_at=9000.0)
    with Store(ws.mash_path) as store:
        store.write([*new, feedback], fx.provenance("chatgpt", "chatgpt_20260102_000000"))


def hits(result) -> dict[str, tuple[int, int]]:
    return {name: (lane.cache_hits, lane.cache_misses) for name, lane in result.lanes.items()}


def test_second_distill_after_a_new_run_is_identical_and_redistils_only_the_change(tmp_path):
    ws = fx.make_mash(tmp_path / "ws")
    first = distill(ws, pm=pm(), run_id="run_1", mix=True)
    total = first.conversations
    assert hits(first) == {lane: (0, total) for lane in LANES}
    add_run(ws)
    cached = distill(ws, pm=pm(), run_id="run_2", mix=True)
    full = distill(ws, pm=pm(), run_id="run_3", mix=True, use_cache=False)
    # Changed: the new conversation and the one that gained feedback; the rest came from the cache.
    assert cached.conversations == total + 1
    assert hits(cached) == {lane: (total - 1, 2) for lane in LANES}
    assert hits(full) == {lane: (0, total + 1) for lane in LANES}
    assert lane_files(ws, "run_2") == lane_files(ws, "run_3")
    assert lane_files(ws, "run_2") != lane_files(ws, "run_1")
    # A fresh copy of the workspace without the cache distils the same bytes.
    fresh = tmp_path / "fresh"
    shutil.copytree(ws.root, fresh, ignore=shutil.ignore_patterns("cache"))
    from moonshine_core.workspace import Workspace

    other = Workspace.open(fresh)
    assert not (other.cache_dir / CACHE_FILE).exists()
    again = distill(other, pm=pm(), run_id="run_4", mix=True)
    assert lane_files(other, "run_4") == lane_files(ws, "run_2")
    assert again.mash_content_sha256 == cached.mash_content_sha256


def test_a_lane_setting_invalidates_that_run(tmp_path):
    ws = fx.make_mash(tmp_path / "ws")
    first = distill(ws, pm=pm(), run_id="run_1")
    (ws.root / "moonshine.toml").write_text("[lanes]\nmax_tool_output_chars = 50\n")
    from moonshine_core.workspace import Workspace

    ws = Workspace.open(ws.root)
    changed = distill(ws, pm=pm(), run_id="run_2")
    assert hits(changed) == {lane: (0, first.conversations) for lane in LANES}
    again = distill(ws, pm=pm(), run_id="run_3")
    assert hits(again) == {lane: (first.conversations, 0) for lane in LANES}
    distill(ws, pm=pm(), run_id="run_4", use_cache=False)
    assert lane_files(ws, "run_3") == lane_files(ws, "run_4")


def test_profile_terms_invalidate_and_never_leak_into_another_profile(tmp_path):
    ws = fx.make_mash(tmp_path / "ws")
    distill(ws, pm=pm(), run_id="run_1")
    tea = [r for lane in LANES for r in fx.lane_rows(ws, lane, "run_1") if "England" in str(r)]
    assert tea, "the plain conversation mentions England"
    (ws.root / "moonshine.toml").write_text('[redact]\nterms = ["England"]\n')
    from moonshine_core.workspace import Workspace

    ws = Workspace.open(ws.root)
    redacted = distill(ws, pm=pm(), run_id="run_2")
    assert all(misses == redacted.conversations for _, misses in hits(redacted).values())
    rows = [r for lane in LANES for r in fx.lane_rows(ws, lane, "run_2")]
    assert rows and not any("England" in str(r) for r in rows)
    assert any("[REDACTED_PERSONAL]" in str(r) for r in rows)
    # Back to the first profile: the cached rows of the second never come back.
    (ws.root / "moonshine.toml").write_text("")
    ws = Workspace.open(ws.root)
    distill(ws, pm=pm(), run_id="run_3")
    assert lane_files(ws, "run_3") == lane_files(ws, "run_1")


def test_a_corrupt_or_foreign_cache_is_ignored(tmp_path):
    ws = fx.make_mash(tmp_path / "ws")
    distill(ws, pm=pm(), run_id="run_1", mix=True)
    cache = ws.cache_dir / CACHE_FILE
    assert cache.exists()
    cache.write_bytes(b"this is not an SQLite database" * 100)
    broken = distill(ws, pm=pm(), run_id="run_2", mix=True)
    assert all(h == 0 for h, _ in hits(broken).values())
    assert lane_files(ws, "run_2") == lane_files(ws, "run_1")
    # The run rebuilt it: the next distill takes every conversation from it.
    rebuilt = distill(ws, pm=pm(), run_id="run_3", mix=True)
    assert hits(rebuilt) == {lane: (rebuilt.conversations, 0) for lane in LANES}
    # Entries whose bodies cannot be read are misses, and the output stays the same.
    import sqlite3

    conn = sqlite3.connect(cache)
    with conn:
        conn.execute("UPDATE lane_rows SET body = x'00ff'")
    conn.close()
    unreadable = distill(ws, pm=pm(), run_id="run_4", mix=True)
    assert all(h == 0 for h, _ in hits(unreadable).values())
    assert lane_files(ws, "run_4") == lane_files(ws, "run_1")
    # A cache written by another format version is dropped, not read.
    conn = sqlite3.connect(cache)
    with conn:
        conn.execute("UPDATE meta SET value = 'another' WHERE key = 'format'")
    conn.close()
    foreign = distill(ws, pm=pm(), run_id="run_5", mix=True)
    assert all(h == 0 for h, _ in hits(foreign).values())
    assert lane_files(ws, "run_5") == lane_files(ws, "run_1")


def test_the_cli_no_cache_flag_distils_everything_afresh(tmp_path):
    import json

    from click.testing import CliRunner

    from moonshine_core.cli.main import cli

    ws = fx.make_mash(tmp_path / "ws")
    runner = CliRunner()
    first = runner.invoke(cli, ["distill", "--json", "-w", str(ws.root), "--run-id", "cli_1"])
    assert first.exit_code == 0, first.output
    cached = json.loads(runner.invoke(cli, ["distill", "--json", "-w", str(ws.root), "--run-id", "cli_2"]).output)
    fresh = runner.invoke(cli, ["distill", "--no-cache", "--json", "-w", str(ws.root), "--run-id", "cli_3"])
    assert fresh.exit_code == 0, fresh.output
    fresh = json.loads(fresh.output)
    assert all(lane["cache_hits"] > 0 and lane["cache_misses"] == 0 for lane in cached["lanes"].values())
    assert all(lane["cache_hits"] == 0 and lane["cache_misses"] > 0 for lane in fresh["lanes"].values())
    assert _data_files(ws, "cli_2") == _data_files(ws, "cli_3")


def _data_files(ws, run_id):
    return {key: body for key, body in lane_files(ws, run_id).items() if key[1].endswith(".jsonl")}
