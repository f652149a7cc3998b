"""``moonshine gc``: old distill runs and leftovers of killed commands go; archives, snapshots, run DBs and
the runs the latest distill published stay (moonshine_core.gc)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from moonshine_core.archive import archive_run
from moonshine_core.cli.main import cli
from moonshine_core.distill import distill
from moonshine_core.errors import WorkspaceError
from moonshine_core.gc import gc
from moonshine_core.ingest import ingest
from moonshine_core.merge import merge_run
from moonshine_core.plugins import make_plugin_manager
from moonshine_core.sources import file_sha256
from moonshine_core.store.db import connect
from moonshine_core.workspace import Workspace

RUNS = ("d1", "d2", "d3", "d4")  # distilled in this order (ids sort like their times: ties go by id)


def _conversation(cid):
    return {"id": cid, "title": cid, "turns": [
        {"id": "q", "parent": None, "who": "user", "said": f"Please explain topic {cid} in a few words.",
         "at": 1700000000},
        {"id": "a", "parent": "q", "who": "assistant", "said": f"Topic {cid} is explained here at length.",
         "at": 1700000001}]}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A workspace with one toy run ingested, archived and merged, then distilled four times:
    d1 writes the conversational and dpo lanes, d2 to d4 only conversational."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "toy"))
    try:
        import toy_provider
    finally:
        sys.path.remove(str(Path(__file__).parent / "toy"))
    pm = make_plugin_manager(load_entrypoints=False, extra=[("toy", toy_provider.plugin)])
    base = tmp_path_factory.mktemp("gc")
    export = base / "toy_export_a.json"
    export.write_text(json.dumps([_conversation("c1"), _conversation("c2")]))
    ws = Workspace.open(base / "ws")
    run = ingest(export, workspace=ws, pm=pm).run_id
    archive_run(ws, run)
    merge_run(ws, run)
    for run_id in RUNS:
        distill(ws, lanes=["conversational", "dpo"] if run_id == "d1" else ["conversational"], pm=pm, run_id=run_id)
    return ws.root


@pytest.fixture
def ws(template, tmp_path):
    shutil.copytree(template, tmp_path / "ws", symlinks=True)
    return Workspace.open(tmp_path / "ws")


def files(root: Path, under: str = "") -> dict[str, str]:
    """Every file below ``root / under`` (but the lock) with its sha256."""
    return {str(p.relative_to(root)): file_sha256(p) for p in sorted((root / under).rglob("*"))
            if p.is_file() and not p.is_symlink() and p.name != "lock"}


def lane_runs(ws: Workspace, lane: str) -> list[str]:
    return sorted(p.name for p in (ws.reports_dir / "distillations" / lane).iterdir())


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def test_keeps_the_newest_n_per_lane_and_says_what_it_freed(ws):
    old = {r: size_of(ws.distill_dir("conversational", r)) for r in ("d1", "d2")}
    result = gc(ws, keep=2)
    assert lane_runs(ws, "conversational") == ["d3", "d4"]
    assert lane_runs(ws, "dpo") == ["d1"]  # its lane's only run: one of the newest two
    removed = {r.path: r for r in result.removed}
    assert set(removed) == {f"reports/distillations/conversational/{r}" for r in ("d1", "d2")}
    assert {Path(p).name: r.bytes for p, r in removed.items()} == old
    assert result.freed_bytes == sum(old.values()) > 0
    assert all(r.kind == "distill_run" for r in result.removed)


def test_the_default_keeps_three(ws):
    gc(ws)
    assert lane_runs(ws, "conversational") == ["d2", "d3", "d4"]


def test_order_is_the_recorded_time_not_the_name(ws):
    # d1 recorded last: it is the newest run (and the latest distill), whatever its name.
    conn = connect(ws.mash_path)
    with conn:
        conn.execute("UPDATE distill_publications SET recorded_at = '2099-01-01T00:00:00Z' WHERE run_id = 'd1'")
    conn.close()
    gc(ws, keep=1)
    assert lane_runs(ws, "conversational") == ["d1"]


def test_never_removes_what_the_latest_distill_published(ws):
    # A folder copied in by hand, newer than any run: with --keep 1 it is the newest, yet d4 stays.
    manual = ws.reports_dir / "distillations" / "conversational" / "copied_by_hand"
    shutil.copytree(ws.distill_dir("conversational", "d3"), manual)
    later = time.time() + 3600
    os.utime(manual, (later, later))
    result = gc(ws, keep=1)
    assert lane_runs(ws, "conversational") == ["copied_by_hand", "d4"]
    kept = {k.path: k.reason for k in result.kept}
    assert "latest distill run d4" in kept["reports/distillations/conversational/d4"]


def test_a_pending_run_is_kept_and_left_to_recovery(ws):
    conn = connect(ws.mash_path)
    with conn:
        conn.execute("UPDATE distill_publications SET state = 'pending' WHERE run_id = 'd1'")
    conn.close()
    planned = gc(ws, keep=1, dry_run=True)
    assert "pending" in {k.path: k.reason for k in planned.kept}["reports/distillations/conversational/d1"]
    result = gc(ws, keep=1)
    assert "reports/distillations/conversational/d1" not in {r.path for r in result.removed}
    assert result.recovered["distill"] == {"d1": "published"}  # every folder was in place


def test_leftovers_of_killed_commands_go_and_archives_stay(ws):
    archive_before = files(ws.root, "archive")
    providers_before = files(ws.root, "reports/providers")
    mash_before = file_sha256(ws.mash_path)
    run_dir = next(p for p in (ws.archive_dir / "toy").iterdir())
    leftovers = {
        ".moonshine/staging/toy_20990101_000000": "dir",
        f"archive/toy/{run_dir.name[:-6]}999999.partial": "dir",
        f"archive/main/{run_dir.name}/moonshine_mash_premerge.db.partial": "file",
        "reports/main/moonshine_mash_active.db.restoring": "file",
    }
    for rel, kind in leftovers.items():
        path = ws.root / rel
        if kind == "dir":
            path.mkdir(parents=True)
            (path / "manifest.json").write_text("{}" * 100)
        else:
            path.write_bytes(b"x" * 300)
    result = gc(ws, dry_run=True)
    found = [r for r in result.removed if r.kind != "distill_run"]
    assert {r.path: r.bytes for r in found} == {rel: 200 if kind == "dir" else 300 for rel, kind in leftovers.items()}
    assert {r.kind for r in found} == {"staging", "archive_partial", "snapshot_partial", "mash_leftover"}
    gc(ws)
    assert not any((ws.root / rel).exists() for rel in leftovers)
    assert files(ws.root, "archive") == archive_before
    assert files(ws.root, "reports/providers") == providers_before
    assert file_sha256(ws.mash_path) == mash_before
    assert ws.premerge_snapshot_path(run_dir.name).exists()


def test_links_are_removed_as_links_never_followed(ws, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    ws.staging_dir.mkdir(parents=True, exist_ok=True)
    (ws.staging_dir / "link").symlink_to(outside, target_is_directory=True)
    (ws.reports_dir / "distillations" / "conversational" / "linked").symlink_to(outside, target_is_directory=True)
    result = gc(ws, keep=1)
    assert [r.path for r in result.removed if r.kind == "staging"] == [".moonshine/staging/link"]
    assert not (ws.staging_dir / "link").exists()
    assert (outside / "precious.txt").read_text() == "keep me"
    assert (ws.reports_dir / "distillations" / "conversational" / "linked").is_symlink()  # not a run folder


def test_a_dry_run_changes_nothing_and_predicts_the_real_run(ws):
    ws.staging_dir.mkdir(parents=True, exist_ok=True)
    (ws.staging_dir / "toy_20990101_000000").mkdir()
    before = files(ws.root)
    planned = gc(ws, keep=1, dry_run=True)
    assert files(ws.root) == before
    assert planned.dry_run and planned.removed
    done = gc(ws, keep=1)
    assert [attr.path for attr in done.removed] == [attr.path for attr in planned.removed]
    assert done.freed_bytes == planned.freed_bytes


def test_a_second_gc_frees_nothing(ws):
    assert gc(ws, keep=1).removed
    again = gc(ws, keep=1)
    assert again.removed == [] and again.freed_bytes == 0
    assert again.recovered == {}


def test_it_takes_the_workspace_lock(ws):
    before = files(ws.root)
    with ws.lock():
        with pytest.raises(WorkspaceError, match="locked"):
            gc(ws, keep=1)
    assert files(ws.root) == before


def test_not_a_workspace(tmp_path):
    with pytest.raises(WorkspaceError):
        gc(Workspace.open(tmp_path / "missing"))


def test_cli(ws):
    runner = CliRunner()
    dry = runner.invoke(cli, ["gc", "--dry-run", "--keep", "1", "-w", str(ws.root)])
    assert dry.exit_code == 0, dry.output
    assert "would remove reports/distillations/conversational/d1" in dry.output and "would free" in dry.output
    assert lane_runs(ws, "conversational") == list(RUNS)
    real = runner.invoke(cli, ["--json", "-w", str(ws.root), "gc", "--keep", "1"])
    assert real.exit_code == 0, real.output
    data = json.loads(real.output)
    assert data["dry_run"] is False and data["freed_bytes"] == sum(r["bytes"] for r in data["removed"]) > 0
    assert lane_runs(ws, "conversational") == ["d4"]
    assert runner.invoke(cli, ["gc", "--keep", "0", "-w", str(ws.root)]).exit_code == 2


def test_a_run_id_gc_removed_cannot_be_reused(ws):
    from moonshine_core.distill.request import DistillError

    gc(ws, keep=1)
    assert "d1" not in lane_runs(ws, "conversational")
    with pytest.raises(DistillError, match="was used before"):
        distill(ws, lanes=["conversational"], run_id="d1")
