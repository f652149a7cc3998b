"""Stage C: archive a provider run and snapshot the mash before it merges.

``archive/<provider>/<run_id>/`` receives copies of the run's DB, ledger and
manifest and of the source export (a zip or file as is, a folder as a folder
under ``source/``); every copy is hashed after copying and checked against the
original. ``archive.json`` there records the hashes. The mash (an empty one is
created first if the workspace has none, so the first merge can be rolled
back too) is snapshotted to ``archive/main/<run_id>/moonshine_mash_premerge.db``
with its sha256 beside it.

Archiving an already archived, unmerged run refreshes only the mash snapshot
(the mash may have changed since); archiving a merged run is refused.

All or nothing: the copies and ``archive.json`` are built in
``<run_id>.partial`` and renamed into place together, so an archive folder
always has its record; a killed archive leaves only the ``.partial`` folder,
which the next archive removes. An archive folder without a record (left by an
older core) is incomplete by definition and is rebuilt. A run DB whose sha256
is no longer the one ingest sealed is refused (gate 1 would fail). The mash is
upgraded to this core's schema (:func:`moonshine_core.mergelog.upgrade_mash`)
before it is snapshotted, so a merge never has to migrate it.

The run DB is immutable once ingest sealed it, so its archived copy is a hard
link to it when both are on one file system (checked by hash against the
sealed sha256 once, and made read-only: the write bits are removed from the
one inode both names share), else a copy checked by hash. Either way gate 1
checks the archived name against the sealed hash before every merge. Each
file is read once per command (:class:`moonshine_core.file_hashes.FileHashes`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from .errors import RefusedError
from .file_hashes import FileHashes
from .jsonio import read_json, write_json_atomic, write_text_atomic
from .mash import snapshot
from .mergelog import locked, upgrade_mash
from .runs import ARCHIVE_RECORD, run_state
from .sources import folder_sha256, ignore_unread
from .store.faults import fault_point
from .timeutil import utc_now_iso
from .workspace import Workspace

SNAPSHOT_HASH_SUFFIX = ".sha256"


def snapshot_record(ws: Workspace, run_id: str) -> dict[str, Any] | None:
    """The recorded premerge snapshot of ``run_id`` (path, sha256, mash sha256 it was taken from)."""
    return read_json(ws.premerge_snapshot_path(run_id).parent / "snapshot.json")


def archive_run(ws: Workspace, run_id: str) -> dict[str, Any]:
    """Archive ``run_id`` and snapshot the mash; returns the archive record."""
    provider = ws.find_run(run_id)
    with locked(ws), FileHashes() as hashes:
        state = run_state(ws, provider, run_id)
        if state.merged:
            raise RefusedError(f"run {run_id} is merged; its archive and snapshot are immutable")
        if not state.manifest:
            raise RefusedError(f"run {run_id} has no manifest.json; it is not a complete run")
        sealed = (state.manifest.get("files") or {}).get("db_sha256")
        live_db = ws.run_db_path(provider, run_id)
        if sealed and not state.archive and (not live_db.exists() or hashes(live_db) != sealed):
            raise RefusedError(f"gate 1 (source_hash) fails: run DB {live_db.relative_to(ws.root)} is altered since "
                               f"ingest sealed it; it cannot be archived")
        record = state.archive or _copy_artifacts(ws, provider, run_id, state.manifest, hashes)
        upgrade_mash(ws)
        snap = _snapshot_mash(ws, run_id)
        record = {**record, "premerge_snapshot": snap}
        write_json_atomic(ws.archive_run_dir(provider, run_id) / ARCHIVE_RECORD, record)
        return record


def _copy_artifacts(ws: Workspace, provider: str, run_id: str, manifest: dict[str, Any],
                    hashes: FileHashes) -> dict[str, Any]:
    src_dir = ws.provider_run_dir(provider, run_id)
    dest = ws.archive_run_dir(provider, run_id)
    building = dest.with_name(dest.name + ".partial")
    shutil.rmtree(building, ignore_errors=True)  # what a killed archive left
    if dest.exists() and not (dest / ARCHIVE_RECORD).exists():
        shutil.rmtree(dest)  # unrecorded copies (an older core's killed archive): nothing refers to them
    building.mkdir(parents=True)
    files: dict[str, str] = {}
    sealed = (manifest.get("files") or {}).get("db_sha256")
    db_name = ws.run_db_path(provider, run_id).name
    try:
        for item in sorted(src_dir.iterdir()):
            if item.is_file():
                if item.name == db_name and sealed:
                    files[item.name] = _link_sealed(item, building / item.name, sealed, hashes)
                else:
                    files[item.name] = _copy_checked(item, building / item.name, hashes)
        fault_point("archive.mid_copy")
        source = Path(manifest["source"]["path"])
        if not source.exists():
            raise RefusedError(f"the source export {source} of run {run_id} is gone; cannot archive it")
        kind = "dir" if source.is_dir() else "file"
        if kind == "dir":
            target = building / "source" / source.name
            shutil.copytree(source, target, ignore=ignore_unread)   # exactly the files hashed and read
            copied = folder_sha256(target)
        else:
            target = building / "source" / source.name
            target.parent.mkdir()
            shutil.copyfile(source, target)
            copied = hashes(target)
        if copied != manifest["source"]["sha256"]:
            raise RefusedError(f"the source export {source} changed since run {run_id} ingested it "
                               f"(sha256 {copied}, ingested {manifest['source']['sha256']})")
        record = {"schema": "moonshine.archive/1", "run_id": run_id, "provider": provider,
                  "archived_at": utc_now_iso(), "files": files,
                  "source": {"name": source.name, "kind": kind, "path": f"source/{source.name}",
                             "sha256": copied, "original_path": str(source)}}
        if sealed and files.get(db_name) != sealed:
            raise RefusedError(f"gate 1 (source_hash) fails: the copy of {db_name} is not the DB ingest sealed")
        write_json_atomic(building / ARCHIVE_RECORD, record)
        os.replace(building, dest)
        fault_point("archive.before_snapshot")
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return record


def _copy_checked(src: Path, dest: Path, hashes: FileHashes) -> str:
    shutil.copyfile(src, dest)
    original, copy = hashes(src), hashes(dest)
    if original != copy:
        raise RefusedError(f"copy of {src} does not match the original (sha256 {copy} != {original})")
    return copy


def _link_sealed(src: Path, dest: Path, sealed: str, hashes: FileHashes) -> str:
    """Archive the sealed run DB ``src`` as ``dest``: a hard link where the file system allows (else a
    checked copy), its write bits removed; refused unless it has the ``sealed`` sha256."""
    try:
        os.link(src, dest)
    except OSError:  # another file system, or links not supported: copy
        return _copy_checked(src, dest, hashes)
    digest = hashes(dest)
    if digest != sealed:
        raise RefusedError(f"gate 1 (source_hash) fails: run DB {src.name} is altered since ingest sealed it")
    mode = dest.stat().st_mode
    os.chmod(dest, mode & ~0o222)  # one inode: the live name is read-only too
    return digest


def _snapshot_mash(ws: Workspace, run_id: str, hashes: FileHashes | None = None) -> dict[str, Any]:
    target = ws.premerge_snapshot_path(run_id)
    digest = snapshot(ws.mash_path, target)
    write_text_atomic(str(target) + SNAPSHOT_HASH_SUFFIX, f"{digest}  {target.name}\n")
    # The snapshot is byte-identical to the mash, so its sha256 is also the mash's at that moment.
    record = {"path": str(target.relative_to(ws.root)), "sha256": digest, "taken_at": utc_now_iso()}
    write_json_atomic(target.parent / "snapshot.json", record)
    return record


def verify_archive(ws: Workspace, provider: str, run_id: str, hashes: FileHashes | None = None) -> list[str]:
    """Problems with a run's archive (empty when every archived file still has its recorded hash)."""
    hashes = hashes or FileHashes()
    dest = ws.archive_run_dir(provider, run_id)
    record = read_json(dest / ARCHIVE_RECORD)
    if record is None:
        return [f"run {run_id} is not archived (run `moonshine archive {run_id}`)"]
    problems = []
    for name, digest in record["files"].items():
        path = dest / name
        if not path.exists() or hashes(path) != digest:
            problems.append(f"archived {name} is missing or altered")
    source = dest / record["source"]["path"]
    actual = (folder_sha256(source) if record["source"]["kind"] == "dir" else hashes(source)) \
        if source.exists() else None
    if actual != record["source"]["sha256"]:
        problems.append("archived source export is missing or altered")
    return problems
