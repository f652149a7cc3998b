"""Stages C, D, F and their invariants, on the toy provider (tests/toy)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import attrs
import pytest

from moonshine_core.archive import archive_run
from moonshine_core.docsync import docs_sync
from moonshine_core.errors import RefusedError
from moonshine_core.gates import evaluate_gates
from moonshine_core.ingest import ingest
from moonshine_core.merge import bootstrap, merge_history, merge_run, rollback_run
from moonshine_core.plugins import make_plugin_manager
from moonshine_core.sources import file_sha256
from moonshine_core.status import status
from moonshine_core.store import Store
from moonshine_core.workspace import Workspace

TOY = Path(__file__).resolve().parent / "toy"


@pytest.fixture
def pm(toy_plugin):
    return make_plugin_manager(load_entrypoints=False, extra=[("toy", toy_plugin.plugin)])


def export(tmp_path, name, conversations):
    path = tmp_path / f"toy_export_{name}.json"
    path.write_text(json.dumps(conversations))
    return path


def conv(cid, text="answer", at=1700000000):
    return {"id": cid, "title": cid, "turns": [
        {"id": "q", "parent": None, "who": "user", "said": f"question {cid}", "at": at},
        {"id": "a", "parent": "q", "who": "assistant", "said": text, "at": at + 1}]}


def tree_state(root: Path) -> dict[str, str]:
    """Every file under the workspace (but the lock) with its sha256: 'nothing changed' means equal."""
    return {str(p.relative_to(root)): file_sha256(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "lock"}


@pytest.fixture
def ws(tmp_path):
    return Workspace.open(tmp_path / "ws")


def staged(ws, pm, tmp_path, name, conversations):
    return ingest(export(tmp_path, name, conversations), workspace=ws, pm=pm).run_id


def test_archive_copies_and_snapshots_even_an_empty_mash(ws, pm, tmp_path):
    run = staged(ws, pm, tmp_path, "a", [conv("c1")])
    record = archive_run(ws, run)
    dest = ws.archive_run_dir("toy", run)
    assert sorted(record["files"]) == sorted(p.name for p in ws.provider_run_dir("toy", run).iterdir())
    assert (dest / "source" / "toy_export_a.json").read_bytes() == (tmp_path / "toy_export_a.json").read_bytes()
    snap = ws.premerge_snapshot_path(run)
    assert snap.exists() and file_sha256(snap) == record["premerge_snapshot"]["sha256"] == file_sha256(ws.mash_path)
    assert (snap.parent / "moonshine_mash_premerge.db.sha256").read_text().split()[0] == file_sha256(snap)


def test_merge_counts_remerge_and_reexport(ws, pm, tmp_path):
    run1 = staged(ws, pm, tmp_path, "a", [conv("c1"), conv("c2")])
    archive_run(ws, run1)
    first = merge_run(ws, run1)
    assert first.entry["counts"]["conversations"] == {"inserted": 2, "updated": 0, "skipped": 0}
    assert first.failed_gates == [], first.gates
    again = merge_run(ws, run1)
    assert again.entry["action"] == "remerge"
    assert all(c["inserted"] == 0 and c["updated"] == 0 for c in again.entry["counts"].values())
    run2 = staged(ws, pm, tmp_path, "b", [conv("c1"), conv("c2", "a better answer"), conv("c3")])
    archive_run(ws, run2)
    second = merge_run(ws, run2)
    assert second.entry["counts"]["conversations"] == {"inserted": 1, "updated": 1, "skipped": 1}
    assert second.entry["counts"]["messages"] == {"inserted": 2, "updated": 1, "skipped": 3}
    history = json.loads(ws.merge_manifest_path.read_text())["entries"]
    assert [e["action"] for e in history] == ["merge", "remerge", "merge"]
    assert history[-1]["mash_sha256_before"] == history[1]["mash_sha256_after"]
    ledger = json.loads(ws.main_ledger_path.read_text())
    store = Store(ws.mash_path, readonly=True)
    assert ledger["totals"]["tokens"] == store.conn.execute(
        "SELECT sum(tokens_text + tokens_reasoning + tokens_tool) FROM messages").get
    assert ledger["by_provider"]["toy"]["totals"]["conversations"] == 3
    store.close()


def test_older_export_never_overwrites_newer(ws, pm, tmp_path):
    new = staged(ws, pm, tmp_path, "new", [conv("c1", "new text", at=1800000000)])
    archive_run(ws, new)
    merge_run(ws, new)
    old = staged(ws, pm, tmp_path, "old", [conv("c1", "old text", at=1700000000)])
    archive_run(ws, old)
    result = merge_run(ws, old)
    assert result.entry["counts"]["messages"]["updated"] == 0
    store = Store(ws.mash_path, readonly=True)
    assert store.get_conversation("toy", "c1").messages[1].text == "new text"
    store.close()


def test_gates_record_evidence_in_the_manifest(ws, pm, tmp_path):
    run = staged(ws, pm, tmp_path, "a", [conv("c1")])
    pending = evaluate_gates(ws, run)
    assert pending["source_hash"]["status"] == "pending" and pending["merge_idempotence"]["status"] == "pending"
    assert pending["provider_tags"]["status"] == "pass"
    assert pending["provider_tags"]["evidence"]["coverage_percent"] == 100.0
    archive_run(ws, run)
    result = merge_run(ws, run)
    assert {n: g["status"] for n, g in result.gates.items()} == {
        "source_hash": "pass", "provider_tags": "pass", "merge_idempotence": "pass",
        "token_reconciliation": "pass", "no_contamination": "pass"}
    manifest = json.loads(ws.run_manifest_path("toy", run).read_text())
    assert manifest["gates"]["merge_idempotence"]["evidence"]["counts"]["messages"]["skipped"] == 2
    report = json.loads((ws.provider_run_dir("toy", run) / f"token_reconciliation.toy.{run}.json").read_text())
    assert report["reconciles"] and report["provider_ledger"]["tokens"] == report["messages_same_content"]["mash_tokens"]


def test_rollback_restores_the_mash_byte_for_byte(ws, pm, tmp_path):
    run1 = staged(ws, pm, tmp_path, "a", [conv("c1")])
    archive_run(ws, run1)
    merge_run(ws, run1)
    run2 = staged(ws, pm, tmp_path, "b", [conv("c2")])
    archive_run(ws, run2)
    before = file_sha256(ws.mash_path)
    merge_run(ws, run2)
    assert file_sha256(ws.mash_path) != before
    with pytest.raises(RefusedError, match=f"{run1} is not the latest merge: {run2} merged after it"):
        rollback_run(ws, run1)
    entry = rollback_run(ws, run2)
    assert file_sha256(ws.mash_path) == before == entry["mash_sha256_after"]
    assert merge_history(ws)[-1]["action"] == "rollback"
    assert json.loads(ws.main_ledger_path.read_text())["totals"]["conversations"] == 1
    rollback_run(ws, run1)
    with pytest.raises(RefusedError, match="no merge to roll back"):
        rollback_run(ws, run1)


def test_altered_snapshot_is_refused_by_rollback(ws, pm, tmp_path):
    run = staged(ws, pm, tmp_path, "a", [conv("c1")])
    archive_run(ws, run)
    merge_run(ws, run)
    with open(ws.premerge_snapshot_path(run), "ab") as handle:
        handle.write(b"tamper")
    state = tree_state(ws.root)
    with pytest.raises(Exception, match="altered"):
        rollback_run(ws, run)
    assert tree_state(ws.root) == state


# -- refusals: each says why and changes nothing ---------------------------------------------
def test_merge_refuses_an_unarchived_run(ws, pm, tmp_path):
    run = staged(ws, pm, tmp_path, "a", [conv("c1")])
    state = tree_state(ws.root)
    with pytest.raises(RefusedError, match=f"run {run} is not archived"):
        merge_run(ws, run)
    assert tree_state(ws.root) == state


def test_merge_refuses_when_the_snapshot_is_missing(ws, pm, tmp_path):
    run = staged(ws, pm, tmp_path, "a", [conv("c1")])
    archive_run(ws, run)
    ws.premerge_snapshot_path(run).unlink()
    state = tree_state(ws.root)
    with pytest.raises(RefusedError, match="premerge snapshot of .* is missing"):
        merge_run(ws, run)
    assert tree_state(ws.root) == state


def test_merge_refuses_a_stale_snapshot(ws, pm, tmp_path):
    run1 = staged(ws, pm, tmp_path, "a", [conv("c1")])
    run2 = staged(ws, pm, tmp_path, "b", [conv("c2")])
    archive_run(ws, run1)
    archive_run(ws, run2)
    merge_run(ws, run1)
    state = tree_state(ws.root)
    with pytest.raises(RefusedError, match="mash changed since the premerge snapshot"):
        merge_run(ws, run2)
    assert tree_state(ws.root) == state
    archive_run(ws, run2)
    assert merge_run(ws, run2).entry["counts"]["conversations"]["inserted"] == 1


def test_merge_refuses_a_run_whose_raw_gates_failed(ws, pm, tmp_path):
    broken = {"id": "c1", "turns": [{"id": "q", "who": "user", "said": "hi"}, {"who": "user", "said": "no id"}]}
    run = ingest(export(tmp_path, "bad", [broken]), workspace=ws, pm=pm)
    assert not run.gates_passed
    assert run.manifest["gates_raw"]["counts_match_raw"]["evidence"]["mismatch_count"] == 1
    archive_run(ws, run.run_id)
    state = tree_state(ws.root)
    with pytest.raises(RefusedError, match="failed its raw gates \\(counts_match_raw\\)"):
        merge_run(ws, run.run_id)
    assert tree_state(ws.root) == state


def test_merge_order_lock(tmp_path, pm, toy_plugin):
    from moonshine_core import hookimpl

    class Second:
        """A second provider that reuses the toy format under the name 'late'."""

        provider = "late"

        @hookimpl
        def moonshine_detect(self, source):
            found = toy_plugin.plugin.moonshine_detect(source)
            return attrs.evolve(found, provider="late", confidence=0.5) if found else None

        @hookimpl
        def moonshine_parse(self, provider, source):
            return toy_plugin.plugin.moonshine_parse("toy", source) if provider == "late" else None

        @hookimpl
        def moonshine_normalize(self, provider, raw):
            return toy_plugin.plugin.moonshine_normalize("toy", raw) if provider == "late" else None

    pm2 = make_plugin_manager(load_entrypoints=False, extra=[("toy", toy_plugin.plugin), ("late", Second())])
    root = tmp_path / "ws"
    root.mkdir()
    (root / "moonshine.toml").write_text('merge_order = ["toy", "late"]\n')
    ws = Workspace.open(root)
    late = ingest(export(tmp_path, "l", [conv("x")]), "late", workspace=ws, pm=pm2).run_id
    early = ingest(export(tmp_path, "e", [conv("y")]), "toy", workspace=ws, pm=pm2).run_id
    archive_run(ws, late)
    state = tree_state(ws.root)
    with pytest.raises(RefusedError, match=f"merge order lock \\(toy -> late\\): {early} must merge before"):
        merge_run(ws, late)
    assert tree_state(ws.root) == state
    archive_run(ws, early)
    merge_run(ws, early)
    archive_run(ws, late)
    assert merge_run(ws, late).entry["action"] == "merge"


def test_contaminated_run_is_refused(tmp_path, pm):
    ws = Workspace.open(tmp_path / "ws")
    result = ingest(export(tmp_path, "a", [conv("c1")]), workspace=ws, pm=pm, source_kind="web_crawl")
    archive_run(ws, result.run_id)
    state = tree_state(ws.root)
    with pytest.raises(RefusedError, match="contaminated or disallowed rows"):
        merge_run(ws, result.run_id)
    assert tree_state(ws.root) == state


def test_bootstrap_starts_a_workspace_from_a_db(ws, pm, tmp_path):
    run = staged(ws, pm, tmp_path, "a", [conv("c1"), conv("c2")])
    other = Workspace.open(tmp_path / "other")
    entry = bootstrap(other, ws.run_db_path("toy", run))
    assert entry["rows"]["conversations"] == 2 and entry["source_sha256"] == file_sha256(ws.run_db_path("toy", run))
    assert json.loads(other.main_ledger_path.read_text())["totals"]["conversations"] == 2
    state = tree_state(other.root)
    with pytest.raises(RefusedError, match="already has merge history"):
        bootstrap(other, ws.run_db_path("toy", run))
    assert tree_state(other.root) == state


def test_status_and_docs_sync_are_idempotent(ws, pm, tmp_path):
    run = staged(ws, pm, tmp_path, "a", [conv("c1")])
    waiting = status(ws)
    assert waiting["runs"][0]["merge_ready"] is False
    assert "not archived" in waiting["runs"][0]["not_ready_because"]
    archive_run(ws, run)
    assert status(ws)["runs"][0]["merge_ready"] is True
    merge_run(ws, run)
    data = status(ws)
    assert data["main"]["toy"]["conversations"] == 1 and data["runs"][0]["merged"]
    ws.overview_path.parent.mkdir(parents=True, exist_ok=True)
    ws.overview_path.write_text("# Overview\n\nWritten by a person.\n")
    first = docs_sync(ws)
    assert all(first.values())
    files = tree_state(ws.root)
    second = docs_sync(ws)
    assert not any(second.values())
    assert tree_state(ws.root) == files
    overview = ws.overview_path.read_text()
    assert overview.startswith("# Overview\n\nWritten by a person.\n") and "moonshine:lane-counts:start" in overview
    assert "| toy | 1 | 2 |" in ws.token_forensics_path.read_text()


MERGE_SCRIPT = """
import sys
from moonshine_core.merge import merge_run
from moonshine_core.workspace import Workspace
merge_run(Workspace.open({ws!r}), {run!r})
"""


@pytest.mark.slow
def test_killed_merge_leaves_the_mash_as_its_snapshot(ws, pm, tmp_path):
    sys.path.insert(0, str(TOY))
    from generate import write_export
    small = staged(ws, pm, tmp_path, "small", [conv("c0")])
    archive_run(ws, small)
    merge_run(ws, small)
    big = tmp_path / "toy_export_big.json"
    write_export(str(big), 8000)
    run = ingest(big, workspace=ws, pm=pm).run_id
    archive_run(ws, run)
    snapshot_sha = file_sha256(ws.premerge_snapshot_path(run))
    assert file_sha256(ws.mash_path) == snapshot_sha
    proc = subprocess.Popen([sys.executable, "-c", MERGE_SCRIPT.format(ws=str(ws.root), run=run)])
    wal = Path(f"{ws.mash_path}-wal")
    deadline = time.time() + 60
    while time.time() < deadline and not (wal.exists() and wal.stat().st_size > 2_000_000):
        time.sleep(0.01)
    assert proc.poll() is None, "merge finished before it could be killed; make the export bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert file_sha256(ws.mash_path) == snapshot_sha
    store = Store(ws.mash_path, readonly=True)
    assert store.count("conversations") == 1
    store.close()
    assert [e["run_id"] for e in merge_history(ws)] == [small]
