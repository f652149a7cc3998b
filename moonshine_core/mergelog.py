"""What the mash holds and how it got there: the in-mash merge log and the merge manifest.

**The truth is inside the mash.** Every merge and bootstrap adds its entry to
the mash's own ``merge_log`` table (:mod:`moonshine_core.store.history`) in
the same transaction as the rows it brings, with the content hash of every
record row after it. A rollback restores a byte-exact snapshot, whose log is
the snapshot's. So the mash's log always lists exactly the changes in force,
whatever moment a process was killed at.

``reports/main/merge_manifest.main.json`` is the history a person reads: the
mash's entries plus what happened beside the mash (re-merges, which change
nothing, and rollbacks, which the restored mash cannot record), plus fields
learnt after the commit (the file's sha256 after it, the gate results). It is
*derived* (:func:`derive`): entries the mash holds take the mash's fields;
merges the manifest lacks are added from the mash; merges the manifest thinks
in force but the mash no longer holds get a rollback entry; a rollback
recorded as ``pending`` before its restore is resolved by whether the mash
still holds the merge. A missing or unreadable manifest is rebuilt from the
mash (an unreadable one is kept beside it as ``.corrupt``). Readers derive it
in memory; every command that takes the workspace lock writes it back
(:func:`reconcile`).

What the history means now is worked out in one place, :func:`replay`:
which merges are in force and, per run, whether it is merged or was rolled
back. Runs, status, merge and rollback all read it from there.

A mash written by an older moonshine-core (no ``merge_log``) is *legacy*: the
manifest is its only record and is trusted as before, until
:func:`upgrade_mash` (run by ``archive``) copies the manifest's changes in
force into the mash's log.

Every command that changes the workspace runs inside :func:`locked`: the
workspace lock, then :func:`recover`, which brings a workspace a killed
command left behind back to a recorded state; on the way out the mash is left
one self-contained file again.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from . import search as search_index
from .jsonio import read_json, write_json_atomic
from .ledger import refresh_main_ledger
from .mash import ensure_mash, mash_sha256, settle_mash
from .store import history, publications
from .store.db import close as close_db
from .store.db import connect, migrate_db, schema_version
from .store.schema import SCHEMA_VERSION
from .timeutil import utc_now_iso
from .workspace import Workspace

SCHEMA = "moonshine.merge_manifest/2"

#: Actions whose entries live in the mash's log (they change its records); the others live only in
#: the manifest.
IN_MASH = ("merge", "bootstrap")


def new_id() -> str:
    """A fresh entry id."""
    return uuid.uuid4().hex


# -- the two records ----------------------------------------------------------------------------
def read_manifest(ws: Workspace) -> tuple[list[dict[str, Any]], str]:
    """The manifest's entries and whether the file was ``ok``, ``missing`` or ``corrupt``.

    Entries an older core wrote without an ``id`` get ``legacy-<index>``.
    """
    path = ws.merge_manifest_path
    if not path.exists():
        return [], "missing"
    try:
        data = read_json(path)
        found = data["entries"]
        if not isinstance(found, list) or not all(isinstance(e, dict) and "action" in e for e in found):
            raise ValueError("entries is not a list of entries")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return [], "corrupt"
    return [e if e.get("id") else {**e, "id": f"legacy-{i}"} for i, e in enumerate(found)], "ok"


@attrs.frozen(kw_only=True)
class MashLog:
    """The mash's own log as read from it."""

    #: Its entries, oldest first; ``None`` when there is no mash or it predates the log (legacy).
    entries: list[dict[str, Any]] | None
    has_records: bool = False


def read_mash_log(ws: Workspace) -> MashLog:
    """The mash's log, read-only (a reader never changes the mash)."""
    if not ws.mash_path.exists():
        return MashLog(entries=None)
    conn = connect(ws.mash_path, readonly=True)
    try:
        return MashLog(entries=history.read_log(conn), has_records=history.has_records(conn))
    finally:
        conn.close()


def is_legacy(manifest: list[dict[str, Any]], mash: MashLog) -> bool:
    """Whether the manifest, not the mash, is the record: the mash has no log, or an empty one while it
    holds rows the manifest says merges brought (an older core wrote them; :func:`upgrade_mash` adopts)."""
    if mash.entries is None:
        return True
    return not mash.entries and mash.has_records and bool(replay(manifest).in_force)


# -- deriving the manifest ----------------------------------------------------------------------
def derive(manifest: list[dict[str, Any]], mash: MashLog, *, mash_sha: Any = None,
           recovering: bool = True) -> list[dict[str, Any]]:
    """The manifest's entries made to agree with the mash's log (see the module docstring).

    ``mash_sha`` is a callable giving the mash file's sha256, needed only to
    resolve a pending rollback of a legacy mash. ``recovering`` marks entries
    this adds with ``recovered_at`` (a command that just wrote them passes False).
    """
    now = utc_now_iso()
    legacy = is_legacy(manifest, mash)
    in_mash = {e["id"]: e for e in (mash.entries or [])}
    out = []
    for entry in manifest:
        entry = dict(entry)
        if entry.get("action") == "rollback" and entry.get("pending"):
            if legacy:
                done = mash_sha is not None and mash_sha() == entry.get("snapshot_sha256")
            else:
                done = entry.get("undoes") not in in_mash
            entry.pop("pending")
            entry["completed"] = done
            if not done:
                entry["note"] = "interrupted before the snapshot was restored: the merge stayed in force"
        if entry.get("id") in in_mash:
            entry.update(in_mash[entry["id"]])
        out.append(entry)
    if legacy:
        return out
    stack = replay(out).in_force
    wanted = mash.entries or []
    common = 0
    while common < min(len(stack), len(wanted)) and stack[common].get("id") == wanted[common]["id"]:
        common += 1
    for undone in reversed(stack[common:]):
        out.append({"id": new_id(), "action": "rollback", "run_id": undone.get("run_id"),
                    "provider": undone.get("provider"), "at": now, "undoes": undone.get("id"),
                    "completed": True, "recovered_at": now,
                    "note": "the mash no longer holds this change (its premerge snapshot was restored); "
                            "recorded on recovery"})
    for entry in wanted[common:]:
        out.append({**entry, "recovered_at": now} if recovering else dict(entry))
    return out


def entries(ws: Workspace) -> list[dict[str, Any]]:
    """Every entry of the merge history, oldest first, derived from the mash and the manifest
    (nothing is written; see :func:`reconcile`)."""
    manifest, _ = read_manifest(ws)
    return derive(manifest, read_mash_log(ws), mash_sha=lambda: mash_sha256(ws))


def write_manifest(ws: Workspace, found: list[dict[str, Any]]) -> None:
    write_json_atomic(ws.merge_manifest_path, {"schema": SCHEMA, "entries": found})


def reconcile(ws: Workspace, extras: dict[str, dict[str, Any]] | None = None, *,
              recovering: bool = True) -> bool:
    """Rewrite the manifest from the mash and itself (call holding the workspace lock); ``extras``
    adds fields to entries by id. Returns whether the file changed."""
    manifest, state = read_manifest(ws)
    if state == "corrupt":
        os.replace(ws.merge_manifest_path, f"{ws.merge_manifest_path}.corrupt")
    found = derive(manifest, read_mash_log(ws), mash_sha=lambda: mash_sha256(ws), recovering=recovering)
    for entry in found:
        entry.update((extras or {}).get(entry["id"], {}))
    if state == "ok" and found == manifest:
        return False
    if state == "missing" and not found:
        return False
    write_manifest(ws, found)
    return True


def append_entry(ws: Workspace, entry: dict[str, Any]) -> None:
    """Add an entry that lives only in the manifest (a re-merge, a rollback) as the newest one."""
    manifest, _ = read_manifest(ws)
    found = derive(manifest, read_mash_log(ws), mash_sha=lambda: mash_sha256(ws))
    write_manifest(ws, found + [{"id": new_id(), **entry}])


def update_entry(ws: Workspace, entry_id: str, **fields: Any) -> None:
    """Add ``fields`` to the entry ``entry_id`` of the manifest (gate results arrive after the merge)."""
    manifest, _ = read_manifest(ws)
    found = derive(manifest, read_mash_log(ws), mash_sha=lambda: mash_sha256(ws))
    for entry in found:
        if entry["id"] == entry_id:
            entry.update(fields)
    write_manifest(ws, found)


# -- legacy mashes ------------------------------------------------------------------------------
def upgrade_mash(ws: Workspace) -> bool:
    """Bring the mash to this core's schema (with the search index and the records digest) and, for a
    legacy mash, copy the manifest's changes in force into its log, in one transaction (call holding
    the workspace lock, before snapshotting).

    The newest adopted entry records the records' content hash as they stand. Returns whether the
    mash changed.
    """
    ensure_mash(ws)
    manifest, _ = read_manifest(ws)
    conn = connect(ws.mash_path, migrate=False)
    try:
        log = history.read_log(conn)
        adopt = replay(manifest).in_force if log is None or (not log and history.has_records(conn)) else []
        if schema_version(conn) == SCHEMA_VERSION and not adopt and search_index.has_index(conn) \
                and history.has_digest(conn):
            return False
        with conn:
            migrate_db(conn)
            search_index.install(conn)
            history.install_digest(conn)
            for n, entry in enumerate(adopt):
                adopted = {**entry, "adopted_from_manifest": True}
                if n == len(adopt) - 1:
                    history.record_state(conn, adopted, history.stored_sums(conn))
                history.append(conn, adopted)
    finally:
        close_db(conn, optimize=False)
    reconcile(ws, recovering=False)
    return True


def needs_upgrade(ws: Workspace) -> str | None:
    """Why the mash must go through :func:`upgrade_mash` before a merge may write it, or ``None``."""
    if not ws.mash_path.exists():
        return None
    conn = connect(ws.mash_path, readonly=True)
    try:
        version = schema_version(conn)
        if version < SCHEMA_VERSION:
            return f"the mash has schema version {version}, older than this moonshine-core's ({SCHEMA_VERSION})"
        if not search_index.has_index(conn):
            return "the mash has no search index yet (an older moonshine-core made it)"
    finally:
        conn.close()
    manifest, _ = read_manifest(ws)
    if is_legacy(manifest, read_mash_log(ws)):
        return "the mash's own merge log does not yet hold the merges an older moonshine-core recorded"
    return None


# -- what the history means -----------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class MergeLog:
    """The merge history replayed: what is in force now."""

    #: Merge and bootstrap entries not undone by a later rollback, oldest first.
    in_force: list[dict[str, Any]]
    #: Run id -> True while a merge of it is in force, False once that merge was rolled back
    #: (runs never merged are absent).
    merged: dict[str, bool]


def replay(log: Iterable[dict[str, Any]]) -> MergeLog:
    """Replay history entries, oldest first.

    A merge or bootstrap goes on top of the stack of changes in force; a
    rollback takes the top one off when it is that run's (rollback refuses any
    other, so a log it wrote never holds one), unless it is recorded as not
    completed (killed before its restore). Re-merges change nothing.
    """
    stack: list[dict[str, Any]] = []
    ever_merged: list[str] = []
    for entry in log:
        action = entry.get("action")
        if action in IN_MASH:
            stack.append(entry)
            if action == "merge":
                ever_merged.append(entry["run_id"])
        elif action == "rollback" and entry.get("completed", True) and not entry.get("pending") \
                and stack and stack[-1].get("run_id") == entry.get("run_id"):
            stack.pop()
    in_force = {e["run_id"] for e in stack if e["action"] == "merge"}
    return MergeLog(in_force=stack, merged={run_id: run_id in in_force for run_id in ever_merged})


def merge_log(ws: Workspace) -> MergeLog:
    """The workspace's merge history, replayed (see :func:`replay`)."""
    return replay(entries(ws))


# -- recovery -------------------------------------------------------------------------------------
def recover(ws: Workspace) -> dict[str, Any]:
    """Bring the workspace back to a recorded state after a killed command (call holding the lock).

    1. removes the mash copy a killed rollback left half written (``….db.restoring``; the mash
       itself is only ever replaced by one rename);
    2. folds a leftover WAL into the mash through SQLite (committed work stays, uncommitted is gone);
    3. settles distill runs left ``pending`` (:func:`moonshine_core.store.publications.recover`);
    4. rewrites the merge manifest from the mash's own log (:func:`reconcile`) and, when anything
       changed, the main ledger.

    Each step is idempotent, so a recovery that is itself killed is finished by the next one.
    Returns what was done (empty when the workspace was already consistent).
    """
    done: dict[str, Any] = {}
    partial = ws.mash_path.with_name(ws.mash_path.name + ".restoring")
    if partial.exists():
        partial.unlink()
        done["removed"] = partial.name
    if ws.mash_path.exists():
        settle_mash(ws)
        reader = connect(ws.mash_path, readonly=True)
        try:
            pending = publications.pending_runs(reader)
        finally:
            reader.close()
        if pending:
            conn = connect(ws.mash_path, migrate=False)
            try:
                done["distill"] = publications.recover(conn, ws.root)
            finally:
                close_db(conn, optimize=False)
    if reconcile(ws):
        done["manifest"] = "rewritten"
    if done.keys() & {"manifest", "distill"} and ws.mash_path.exists():
        refresh_main_ledger(ws)
        done["ledger"] = "rewritten"
    return done


@contextlib.contextmanager
def locked(ws: Workspace) -> Iterator[dict[str, Any]]:
    """Hold the workspace lock, :func:`recover` first, and settle the mash on the way out (so the
    readers' ``-wal``/``-shm`` files go, through SQLite). Yields what recovery did."""
    with ws.lock():
        done = recover(ws)
        try:
            yield done
        except BaseException:
            with contextlib.suppress(Exception):  # the command's own error is the one to report
                settle_mash(ws)
            raise
        settle_mash(ws)
