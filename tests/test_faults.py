"""Trust under faults: commands killed (or out of disk) at every fault point, and tampered inputs.

Each killed command runs in a subprocess with ``MOONSHINE_FAULT`` naming one of
:data:`moonshine_core.store.faults.POINTS` (the process ends there with
``os._exit``, as SIGKILL would end it), or with a test-only SQLite VFS that
kills it, or fails with a full disk, in the middle of the mash's checkpoint.
After each: the workspace is in a recorded state, ``status`` tells the truth
before anything repairs it, and the next command succeeds and leaves a
consistent history.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import apsw
import pytest

from moonshine_core.archive import archive_run
from moonshine_core.errors import RefusedError, StoreError
from moonshine_core.ingest import ingest
from moonshine_core.merge import merge_run, rollback_run
from moonshine_core.mergelog import entries, locked, needs_upgrade, read_manifest, read_mash_log, replay
from moonshine_core.plugins import make_plugin_manager
from moonshine_core.sources import file_sha256
from moonshine_core.status import describe, status
from moonshine_core.store import Store, faults
from moonshine_core.store.db import connect
from moonshine_core.store.files import integrity_check
from moonshine_core.workspace import Workspace

TESTS = Path(__file__).resolve().parent
KILLED = faults.KILLED


@pytest.fixture
def pm(toy_plugin):
    return make_plugin_manager(load_entrypoints=False, extra=[("toy", toy_plugin.plugin)])


@pytest.fixture
def ws(tmp_path):
    return Workspace.open(tmp_path / "ws")


def conv(cid, text="answer", at=1700000000):
    return {"id": cid, "title": cid, "turns": [
        {"id": "q", "parent": None, "who": "user", "said": f"question {cid}", "at": at},
        {"id": "a", "parent": "q", "who": "assistant", "said": text, "at": at + 1}]}


def staged(ws, pm, tmp_path, name, conversations):
    path = tmp_path / f"toy_export_{name}.json"
    path.write_text(json.dumps(conversations))
    return ingest(path, workspace=ws, pm=pm).run_id


@pytest.fixture
def runs(ws, pm, tmp_path):
    """Run ``a`` merged; run ``b`` (one updated, one new conversation: c3) archived, ready to merge."""
    a = staged(ws, pm, tmp_path, "a", [conv("c1"), conv("c2")])
    archive_run(ws, a)
    merge_run(ws, a)
    b = staged(ws, pm, tmp_path, "b", [conv("c2", "a better answer", at=1700000100), conv("c3")])
    archive_run(ws, b)
    return a, b


PRELUDE = """
import os, sys
sys.path[:0] = {paths!r}
"""

#: A test-only VFS: counts writes to the mash's main file (in WAL mode only checkpoints write it) and,
#: from the Nth, ends the process (kill) or fails as a full disk does (enospc).
VFS = """
import apsw
MODE, AT = {mode!r}, {at!r}
WRITES = [0]
BASE = apsw.vfs_names()[0]  # the default VFS before this one replaces it

class File(apsw.VFSFile):
    def __init__(self, vfs, name, flags):
        self.mash = bool(flags[0] & apsw.SQLITE_OPEN_MAIN_DB) and name is not None and \\
            str(name.filename() if hasattr(name, "filename") else name).endswith("moonshine_mash_active.db")
        super().__init__(vfs, name, flags)

    def xLock(self, level):
        # A read-only handle cannot take the exclusive lock a closing connection tries for: the unix VFS
        # says IOERR_LOCK, which SQLite ignores but apsw would raise from close(). BUSY means the same here.
        try:
            return super().xLock(level)
        except apsw.IOError:
            raise apsw.BusyError("lock not available on a read-only handle") from None

    def xWrite(self, data, offset):
        if self.mash:
            WRITES[0] += 1
            if MODE == "kill" and WRITES[0] == AT:
                os._exit(137)
            if MODE == "enospc" and WRITES[0] >= AT:
                raise apsw.FullError("disk full (test VFS)")
        super().xWrite(data, offset)

class Vfs(apsw.VFS):
    def __init__(self):
        super().__init__("faulty", base="", makedefault=True)

    def xOpen(self, name, flags):
        return File(BASE, name, flags)

_vfs = Vfs()
import atexit
atexit.register(lambda: print("main-file writes", WRITES[0]))
"""

MERGE = "from moonshine_core.merge import merge_run\nmerge_run(__import__('moonshine_core.workspace').workspace.Workspace.open({root!r}), {run!r})\n"
ROLLBACK = "from moonshine_core.merge import rollback_run\nrollback_run(__import__('moonshine_core.workspace').workspace.Workspace.open({root!r}), {run!r})\n"
ARCHIVE = "from moonshine_core.archive import archive_run\narchive_run(__import__('moonshine_core.workspace').workspace.Workspace.open({root!r}), {run!r})\n"
CLI = "from moonshine_core.cli.main import cli\ncli({args!r}, prog_name='moonshine')\n"


def run_script(body: str, *, fault: str | None = None, vfs: tuple[str, int] | None = None, **fmt):
    env = {k: v for k, v in os.environ.items() if k != "MOONSHINE_FAULT"}
    if fault:
        env["MOONSHINE_FAULT"] = fault
    code = PRELUDE.format(paths=[str(TESTS), str(TESTS / "toy")])
    if vfs:
        code += VFS.format(mode=vfs[0], at=vfs[1])
    code += body.format(**fmt)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def killed(body: str, point: str, **fmt) -> None:
    out = run_script(body, fault=point, **fmt)
    assert out.returncode == KILLED, f"{point} was not reached: {out.returncode} {out.stderr[-2000:]}"


def mash_holds(ws, cid="c3") -> bool:
    store = Store(ws.mash_path, readonly=True)
    try:
        return store.get_conversation("toy", cid) is not None
    finally:
        store.close()


def run_status(ws, run_id):
    data = status(ws)
    describe(data)  # the text renders too
    return next(r for r in data["runs"] if r["run_id"] == run_id), data


def assert_consistent(ws):
    """After a locked command: the manifest file is what the mash's log says, nothing is left to repair,
    the records match their recorded hash and the main ledger matches the mash."""
    manifest, state = read_manifest(ws)
    derived = entries(ws)
    assert state in ("ok", "missing") and manifest == derived
    log = read_mash_log(ws).entries
    if log is not None:  # None: a legacy mash, whose record is the manifest
        assert [e["id"] for e in replay(derived).in_force] == [e["id"] for e in log]
    assert not any(e.get("pending") for e in derived)
    data = status(ws)
    assert data["recovery_pending"] == [], data["recovery_pending"]
    assert data["mash_records"]["status"] == "ok", data["mash_records"]
    ledger = json.loads(ws.main_ledger_path.read_text())
    store = Store(ws.mash_path, readonly=True)
    try:
        assert ledger["totals"]["conversations"] == store.count("conversations")
    finally:
        store.close()
    assert integrity_check(ws.mash_path) == "ok"


def assert_next_commands_work(ws, b, snapshot_sha, *, merged: bool):
    """From either recorded state, the next command succeeds: merged -> rollback then merge again;
    not merged -> merge then rollback. Both leave a consistent history."""
    if merged:
        rollback_run(ws, b)
        assert file_sha256(ws.mash_path) == snapshot_sha and not mash_holds(ws)
        assert_consistent(ws)
        assert merge_run(ws, b).failed_gates == []
    else:
        assert merge_run(ws, b).failed_gates == []
        assert_consistent(ws)
        rollback_run(ws, b)
        assert file_sha256(ws.mash_path) == snapshot_sha
    assert_consistent(ws)
    actions = [(e["action"], e.get("completed", True)) for e in entries(ws) if e.get("run_id") == b]
    assert actions[-1] in (("merge", True), ("rollback", True))


def test_fault_points_are_inert_unless_set():
    assert "MOONSHINE_FAULT" not in os.environ
    for point in faults.POINTS:
        faults.fault_point(point)  # nothing happens


# -- merge ---------------------------------------------------------------------------------------
MERGE_POINTS = [p for p in faults.POINTS if p.startswith("merge.")]


@pytest.mark.slow
@pytest.mark.parametrize("point", MERGE_POINTS)
def test_merge_killed_at_each_point(ws, runs, point):
    a, b = runs
    snapshot_sha = file_sha256(ws.premerge_snapshot_path(b))
    killed(MERGE, point, root=str(ws.root), run=b)
    merged = point != "merge.before_commit"
    # status tells the truth before anything repairs the workspace
    run, data = run_status(ws, b)
    assert run["merged"] is merged and mash_holds(ws) is merged
    assert data["mash_records"]["status"] == "ok"
    if point in ("merge.after_commit",):
        assert any("WAL" in p for p in data["recovery_pending"])
    if point in ("merge.after_commit", "merge.after_checkpoint", "merge.after_ledger"):
        assert any("lags behind" in p for p in data["recovery_pending"])
    if not merged:
        assert file_sha256(ws.mash_path) == snapshot_sha
    else:
        # the old trap: "archive again" must not overwrite the snapshot of a merge that happened
        with pytest.raises(RefusedError, match="is merged"):
            archive_run(ws, b)  # a locked command: it also records what the mash holds
        assert file_sha256(ws.premerge_snapshot_path(b)) == snapshot_sha
    with locked(ws):
        pass
    assert_consistent(ws)
    if merged:
        entry = next(e for e in entries(ws) if e.get("run_id") == b and e["action"] == "merge")
        assert entry["counts"]["conversations"] == {"inserted": 1, "updated": 1, "skipped": 0}
        again = merge_run(ws, b)  # retrying the merge: a re-merge that changes nothing
        assert again.entry["action"] == "remerge" and again.failed_gates == []
        assert all(c["inserted"] == c["updated"] == 0 for c in again.entry["counts"].values())
    assert_next_commands_work(ws, b, snapshot_sha, merged=merged)


def _checkpoint_writes(ws, b) -> int:
    """How many writes the merge's checkpoint makes to the mash file (measured on a copy of the workspace)."""
    probe = ws.root.with_name("probe")
    shutil.copytree(ws.root, probe)
    out = run_script(MERGE, vfs=("count", 0), root=str(probe), run=b)
    assert out.returncode == 0, out.stderr
    shutil.rmtree(probe)
    return int(out.stdout.strip().split()[-1])


@pytest.mark.slow
def test_merge_killed_during_the_checkpoint(ws, runs):
    """SIGKILL at the first, a middle and the last write of the checkpoint that follows the commit:
    the WAL still holds the commit, so the next command finishes the checkpoint."""
    a, b = runs
    snapshot_sha = file_sha256(ws.premerge_snapshot_path(b))
    writes = _checkpoint_writes(ws, b)
    assert writes >= 1
    for at in sorted({1, max(1, writes // 2), writes}):
        out = run_script(MERGE, vfs=("kill", at), root=str(ws.root), run=b)
        assert out.returncode == KILLED, out.stderr
        run, data = run_status(ws, b)
        assert run["merged"] and mash_holds(ws) and data["mash_records"]["status"] == "ok"
        with locked(ws):
            pass
        assert_consistent(ws)
        rollback_run(ws, b)  # back to the premerge state, so the next kill starts from it
        assert file_sha256(ws.mash_path) == snapshot_sha
        assert_consistent(ws)
    assert_next_commands_work(ws, b, snapshot_sha, merged=False)


@pytest.mark.slow
def test_merge_out_of_disk_during_the_checkpoint(ws, runs):
    """ENOSPC on the mash file once the merge has committed: the command fails with one line saying the
    run is merged, the WAL keeps the commit, and the next command records it."""
    a, b = runs
    snapshot_sha = file_sha256(ws.premerge_snapshot_path(b))
    out = run_script(CLI, vfs=("enospc", 1), args=["--workspace", str(ws.root), "merge", b])
    assert out.returncode == 1
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "is merged (committed to the mash), but recording it failed" in errors[0]
    run, data = run_status(ws, b)
    assert run["merged"] and mash_holds(ws)
    assert any("WAL" in p for p in data["recovery_pending"])
    with locked(ws):
        pass
    assert_consistent(ws)
    assert_next_commands_work(ws, b, snapshot_sha, merged=True)


@pytest.mark.parametrize("point", ["merge.before_commit", "merge.after_commit", "merge.after_checkpoint",
                                   "merge.after_ledger"])
def test_merge_out_of_disk_at_a_fault_point(ws, runs, point, monkeypatch):
    """The same, in process, with the fault point raising ENOSPC: before the commit the merge is rolled
    back; after it the merge stands and is recorded by the next command."""
    a, b = runs
    snapshot_sha = file_sha256(ws.premerge_snapshot_path(b))
    monkeypatch.setattr(faults, "_POINT", point)
    monkeypatch.setattr(faults, "_MODE", "enospc")
    merged = point != "merge.before_commit"
    with pytest.raises(StoreError, match="is merged \\(committed" if merged else "rolled back, the mash is unchanged"):
        merge_run(ws, b)
    monkeypatch.setattr(faults, "_POINT", "")
    run, _ = run_status(ws, b)
    assert run["merged"] is merged and mash_holds(ws) is merged
    with locked(ws):
        pass
    assert_consistent(ws)
    assert_next_commands_work(ws, b, snapshot_sha, merged=merged)


@pytest.mark.slow
def test_a_lost_or_truncated_manifest_is_rebuilt_from_the_mash(ws, runs):
    a, b = runs
    merge_run(ws, b)
    whole = read_manifest(ws)[0]
    ws.merge_manifest_path.write_text(ws.merge_manifest_path.read_text()[:200])  # truncated
    assert status(ws)["runs"][1]["merged"]
    with locked(ws):
        pass
    assert Path(f"{ws.merge_manifest_path}.corrupt").exists()
    rebuilt = read_manifest(ws)[0]
    assert [e["id"] for e in rebuilt] == [e["id"] for e in whole if e["action"] == "merge"]
    assert_consistent(ws)
    ws.merge_manifest_path.unlink()
    with locked(ws):
        pass
    assert [e["run_id"] for e in read_manifest(ws)[0]] == [a, b]
    rollback_run(ws, b)
    assert_consistent(ws)


# -- archive -------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("point", ["archive.mid_copy", "archive.before_snapshot", "archive.after_snapshot"])
def test_archive_killed_at_each_point(ws, pm, tmp_path, point):
    a = staged(ws, pm, tmp_path, "a", [conv("c1")])
    archive_run(ws, a)
    merge_run(ws, a)
    b = staged(ws, pm, tmp_path, "b", [conv("c3")])
    killed(ARCHIVE, point, root=str(ws.root), run=b)
    run, _ = run_status(ws, b)
    assert not run["merged"] and not run["merge_ready"]
    reason = {"archive.mid_copy": "is not archived", "archive.before_snapshot": "premerge snapshot of .* is missing",
              "archive.after_snapshot": "premerge snapshot of .* is missing"}[point]
    assert re.search(reason, run["not_ready_because"]), run["not_ready_because"]
    with pytest.raises(RefusedError):
        merge_run(ws, b)
    archive_run(ws, b)  # archiving again completes it
    assert not ws.archive_run_dir("toy", b).with_name(b + ".partial").exists()
    snapshot_sha = file_sha256(ws.premerge_snapshot_path(b))
    assert_next_commands_work(ws, b, snapshot_sha, merged=False)


@pytest.mark.slow
def test_archive_killed_while_refreshing_a_snapshot(ws, pm, tmp_path):
    """A second archive (fresh snapshot after the mash changed) killed after the new snapshot file
    replaced the old one: the recorded sha256 no longer matches, status says so, archiving again fixes it."""
    a = staged(ws, pm, tmp_path, "a", [conv("c1")])
    b = staged(ws, pm, tmp_path, "b", [conv("c3")])
    archive_run(ws, a)
    archive_run(ws, b)
    merge_run(ws, a)
    killed(ARCHIVE, "archive.after_snapshot", root=str(ws.root), run=b)
    run, _ = run_status(ws, b)
    assert "premerge snapshot" in run["not_ready_because"] and "altered" in run["not_ready_because"]
    archive_run(ws, b)
    assert_next_commands_work(ws, b, file_sha256(ws.premerge_snapshot_path(b)), merged=False)


def test_an_unrecorded_archive_folder_is_rebuilt(ws, pm, tmp_path):
    """An archive folder without archive.json (an older core's killed archive) no longer blocks the run."""
    b = staged(ws, pm, tmp_path, "b", [conv("c3")])
    dest = ws.archive_run_dir("toy", b)
    dest.mkdir(parents=True)
    (dest / "manifest.json").write_text("{}")
    assert "is not archived" in run_status(ws, b)[0]["not_ready_because"]
    archive_run(ws, b)
    assert (dest / "archive.json").exists()
    assert merge_run(ws, b).failed_gates == []


# -- rollback ------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("point", [p for p in faults.POINTS if p.startswith("rollback.")])
def test_rollback_killed_at_each_point(ws, runs, point):
    a, b = runs
    snapshot_sha = file_sha256(ws.premerge_snapshot_path(b))
    merge_run(ws, b)
    killed(ROLLBACK, point, root=str(ws.root), run=b)
    restored = point != "rollback.after_intent"
    run, data = run_status(ws, b)
    assert run["merged"] is not restored and mash_holds(ws) is not restored
    assert run["rolled_back"] is restored
    assert data["mash_records"]["status"] == "ok"
    if restored:
        assert file_sha256(ws.mash_path) == snapshot_sha
    with locked(ws):
        pass
    assert_consistent(ws)
    rollbacks = [e for e in entries(ws) if e["action"] == "rollback"]
    assert len(rollbacks) == 1 and rollbacks[0]["completed"] is restored and "pending" not in rollbacks[0]
    assert_next_commands_work(ws, b, snapshot_sha, merged=not restored)


def test_rollback_refuses_while_another_process_has_the_mash_open(ws, runs):
    a, b = runs
    merge_run(ws, b)
    reader = subprocess.Popen([sys.executable, "-c", PRELUDE.format(paths=[]) + f"""
from moonshine_core.store.db import connect
conn = connect({str(ws.mash_path)!r}, readonly=True)
print(conn.execute("select count(*) from conversations").get, flush=True)
sys.stdin.readline()
print(conn.execute("select count(*) from conversations").get, flush=True)
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "3"
        before = file_sha256(ws.mash_path)
        with pytest.raises(RefusedError, match="open in another process"):
            rollback_run(ws, b)
        assert file_sha256(ws.mash_path) == before
        assert Path(f"{ws.mash_path}-shm").exists()  # never removed under the reader
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "3"  # the reader still reads a sound database
    finally:
        reader.kill()
        reader.wait()
    rollback_run(ws, b)
    assert_consistent(ws)


def test_readers_keep_their_wal_files_while_a_merge_settles(ws, pm, tmp_path, runs):
    """A merge (and archive) next to an open reader folds the WAL in through SQLite and leaves the
    reader's -wal/-shm alone; the reader then sees the merged rows, not a corrupt database."""
    a, b = runs
    reader = subprocess.Popen([sys.executable, "-c", PRELUDE.format(paths=[]) + f"""
from moonshine_core.store.db import connect
conn = connect({str(ws.mash_path)!r}, readonly=True)
print(conn.execute("select count(*) from conversations").get, flush=True)
sys.stdin.readline()
print(conn.execute("pragma integrity_check").get, conn.execute("select count(*) from conversations").get,
      flush=True)
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "2"
        assert merge_run(ws, b).failed_gates == []
        assert Path(f"{ws.mash_path}-shm").exists() and Path(f"{ws.mash_path}-wal").exists()
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().split() == ["ok", "3"]
    finally:
        reader.kill()
        reader.wait()


# -- distill -------------------------------------------------------------------------------------
DISTILL = """
from moonshine_core.distill import distill
from moonshine_core.plugins import make_plugin_manager
from moonshine_core.workspace import Workspace
distill(Workspace.open({root!r}), pm=make_plugin_manager(load_entrypoints=False), run_id={run!r})
"""


def published(ws, run_id):
    """(lane folders of run_id on disk, lanes the mash records as published for it, its distilled rows)."""
    folders = {p.parent.name for p in (ws.reports_dir / "distillations").glob(f"*/{run_id}")}
    conn = connect(ws.mash_path, readonly=True)
    try:
        recorded = conn.execute("SELECT state, folders_json FROM distill_publications WHERE run_id = ?",
                                (run_id,)).fetchall()
        rows = conn.execute("SELECT count(*) FROM distilled_conversations WHERE run_id = ?", (run_id,)).get
    finally:
        conn.close()
    lanes = {lane for state, text in recorded if state == "published" for lane in json.loads(text)}
    return folders, lanes, rows


@pytest.mark.slow
@pytest.mark.parametrize("point", [p for p in faults.POINTS if p.startswith("distill.")])
def test_distill_killed_while_publishing(tmp_path, point):
    sys.path.insert(0, str(TESTS))
    import distill_fixtures as fx
    ws = fx.make_mash(tmp_path)
    killed(DISTILL, point, root=str(ws.root), run="r1")
    with locked(ws):  # the next locked command settles the pending run
        pass
    folders, lanes, rows = published(ws, "r1")
    assert folders == lanes
    if point == "distill.after_publish":
        assert folders and rows  # every folder made it: published
    else:
        assert not folders and not rows  # withdrawn
    assert status(ws)["recovery_pending"] == []
    out = run_script(DISTILL, root=str(ws.root), run="r2")
    assert out.returncode == 0, out.stderr
    folders, lanes, rows = published(ws, "r2")
    assert folders and folders == lanes and rows


# -- tampering -----------------------------------------------------------------------------------
def moonshine(ws, *args):
    out = run_script(CLI, args=["--workspace", str(ws.root), *args])
    return out.returncode, out.stdout, out.stderr.strip()


def edit_row(path: Path) -> None:
    conn = apsw.Connection(str(path))
    with conn:
        conn.execute("UPDATE messages SET text = 'an edit after ingest' WHERE role = 'assistant'")
    conn.close()


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) - 100] ^= 0x01  # in the last page: row data, not the header
    path.write_bytes(bytes(data))


@pytest.mark.slow
@pytest.mark.parametrize("tamper", [edit_row, flip_byte], ids=["sql-edit", "flipped-byte"])
def test_a_run_db_changed_after_ingest_never_merges(ws, pm, tmp_path, tamper):
    b = staged(ws, pm, tmp_path, "b", [conv("c3")])
    archive_run(ws, b)
    live = ws.run_db_path("toy", b)
    tamper(live)
    before = file_sha256(ws.mash_path)
    code, _, err = moonshine(ws, "merge", b)
    assert code == 1 and len(err.splitlines()) == 1 and "gate 1 (source_hash)" in err, err
    assert file_sha256(ws.mash_path) == before
    code, out, err = moonshine(ws, "--json", "gates", b)
    assert code == 1 and json.loads(out)["source_hash"]["status"] == "fail"
    # the same edit before archiving: archive refuses it
    c = staged(ws, pm, tmp_path, "c", [conv("c4")])
    tamper(ws.run_db_path("toy", c))
    with pytest.raises(RefusedError, match="gate 1 \\(source_hash\\)"):
        archive_run(ws, c)


def test_an_archived_run_db_changed_after_archiving_never_merges(ws, pm, tmp_path):
    b = staged(ws, pm, tmp_path, "b", [conv("c3")])
    archive_run(ws, b)
    flip_byte(ws.archive_run_dir("toy", b) / ws.run_db_path("toy", b).name)
    with pytest.raises(RefusedError, match="^gate 1 \\(source_hash\\) fails: archived .* altered"):
        merge_run(ws, b)


@pytest.mark.slow
def test_an_sql_edit_of_the_mash_is_reported(ws, runs):
    a, b = runs
    conn = apsw.Connection(str(ws.mash_path))
    with conn:
        conn.execute("UPDATE messages SET text = 'rewritten by hand' WHERE conversation_id = 'c1' AND role = 'user'")
    conn.close()
    data = status(ws)
    assert data["mash_records"]["status"] == "mismatch"
    assert "MISMATCH: the mash's records were changed outside moonshine" in describe(data)
    assert "changed outside moonshine" in next(r for r in data["runs"] if r["run_id"] == b)["not_ready_because"]
    code, out, err = moonshine(ws, "gates", a)
    assert code == 1 and "mash        FAIL" in out and "mash records changed outside moonshine" in err
    code, out, err = moonshine(ws, "status")
    assert code == 0 and "MISMATCH" in out
    with pytest.raises(RefusedError, match="changed outside moonshine"):
        merge_run(ws, b)
    rollback_run(ws, a)  # restores the verified snapshot: the edit is gone
    assert status(ws)["mash_records"]["status"] == "ok"


def test_gates_takes_the_workspace_lock(ws, runs):
    a, b = runs
    with ws.lock():
        code, _, err = moonshine(ws, "gates", a)
    assert code == 1 and "is locked by" in err


# -- a workspace an older core wrote -----------------------------------------------------------------
def _downgrade(path: Path) -> None:
    """Make ``path`` a schema-2 DB, as moonshine-core before the in-mash log wrote it."""
    conn = apsw.Connection(str(path))
    conn.execute("DROP TABLE merge_log; DROP TABLE distill_publications; pragma user_version = 2")
    conn.execute("pragma wal_checkpoint(TRUNCATE)")
    conn.close()


def test_a_legacy_workspace_is_adopted_and_rolls_back(ws, pm, tmp_path):
    a = staged(ws, pm, tmp_path, "a", [conv("c1")])
    archive_run(ws, a)
    merge_run(ws, a)
    # what an older core left: schema-2 mash and snapshot, a manifest without ids, no sealed DB hash
    snap = ws.premerge_snapshot_path(a)
    for path in (ws.mash_path, snap):
        _downgrade(path)
    record = json.loads((snap.parent / "snapshot.json").read_text())
    record["sha256"] = file_sha256(snap)
    (snap.parent / "snapshot.json").write_text(json.dumps(record))
    old = [{k: v for k, v in e.items() if k not in ("id", "records_sha256", "snapshot_sha256", "run_db",
                                                    "run_db_sha256")} for e in read_manifest(ws)[0]]
    ws.merge_manifest_path.write_text(json.dumps({"schema": "moonshine.merge_manifest/1", "entries": old}))
    manifest = json.loads(ws.run_manifest_path("toy", a).read_text())
    del manifest["files"]["db_sha256"]
    ws.run_manifest_path("toy", a).write_text(json.dumps(manifest))

    run, data = run_status(ws, a)
    assert run["merged"] and data["mash_records"]["status"] == "unrecorded"
    b = staged(ws, pm, tmp_path, "b", [conv("c3")])
    assert "older than this moonshine-core" in needs_upgrade(ws)  # what a merge would be refused with
    archive_run(ws, b)  # upgrades the mash and adopts the manifest's merge into its log
    assert [e["id"] for e in read_mash_log(ws).entries] == ["legacy-0"]
    assert status(ws)["mash_records"]["status"] == "ok"
    assert merge_run(ws, b).failed_gates == []
    assert_consistent(ws)
    rollback_run(ws, b)
    assert_consistent(ws)
    rollback_run(ws, a)  # restores a schema-2 snapshot: the manifest is the record again
    assert read_mash_log(ws).entries is None
    run, _ = run_status(ws, a)
    assert run["rolled_back"] and not mash_holds(ws, "c1")
    assert_consistent(ws)
