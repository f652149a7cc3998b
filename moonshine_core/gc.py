"""Keeping a workspace lean (``moonshine gc``): old distill runs and what killed commands left behind.

Two kinds of things go:

- **Old distill runs.** Per lane, ``reports/distillations/<lane>/<run_id>/``
  folders beyond the newest ``keep`` (default 3), newest by the time the mash
  recorded the run (``distill_publications``; a folder the mash does not
  record counts by its modification time). Never removed: the folders of the
  latest distill run the mash records as published, and those of a run still
  ``pending`` (the recovery every locked command runs settles it).
- **Leftovers of killed commands**, which nothing reads and which the command
  that made them removes on its next run anyway: run folders in the staging
  area (``.moonshine/staging/*``: ingests and distills being built); an
  archive's ``archive/<provider>/<run_id>.partial/``; a snapshot copy
  ``archive/main/<run_id>/moonshine_mash_premerge.db.partial``; beside the
  mash, a rollback's ``….db.restoring`` and a bootstrap's ``….db.bootstrap``
  (and its ``.partial``). Copies that are databases are removed through
  :func:`moonshine_core.store.files.discard`, which folds a leftover WAL in
  through SQLite instead of deleting it by hand.

Nothing else is touched: no archive, premerge snapshot or its records, no
provider-run DB or manifest, no ledger, no report. The mash itself is not
written either: it keeps its record of the removed distill runs (``moonshine
status`` counts distilled conversations from it), and an unchanged mash file
keeps a premerge snapshot taken for a run not merged yet valid. All of it
happens under the workspace lock, so no command is building what gc would
remove (a dry run takes the lock too, for the same reason); afterwards gc runs
the recovery every locked command runs (:func:`moonshine_core.mergelog.recover`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import attrs

from .errors import MoonshineError
from .mash import settle_mash
from .mergelog import recover
from .store import publications
from .store.db import connect
from .store.files import discard, sidecars
from .timeutil import to_epoch
from .workspace import RUN_ID_RE, Workspace

DEFAULT_KEEP = 3

#: Leftovers beside the mash: a killed rollback's restore copy, a killed bootstrap's copies.
MASH_LEFTOVER_SUFFIXES = (".restoring", ".bootstrap", ".bootstrap.partial")


@attrs.frozen
class Removal:
    """One thing gc removes (or, in a dry run, would remove).

    ``path`` is relative to the workspace root; ``kind`` is ``distill_run``,
    ``staging``, ``archive_partial``, ``snapshot_partial`` or ``mash_leftover``;
    ``bytes`` is the size of its files.
    """

    path: str
    kind: str
    bytes: int
    reason: str


@attrs.frozen
class Kept:
    """A distill run folder gc leaves, and why."""

    path: str
    reason: str


@attrs.define
class GcResult:
    """What :func:`gc` did (or, with ``dry_run``, would do)."""

    dry_run: bool
    keep: int
    removed: list[Removal] = attrs.field(factory=list)
    kept: list[Kept] = attrs.field(factory=list)
    recovered: dict[str, Any] = attrs.field(factory=dict)

    @property
    def freed_bytes(self) -> int:
        return sum(r.bytes for r in self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "keep": self.keep, "freed_bytes": self.freed_bytes,
                "removed": [attrs.asdict(r) for r in self.removed],
                "kept": [attrs.asdict(k) for k in self.kept], "recovered": self.recovered}


def gc(ws: Workspace, keep: int = DEFAULT_KEEP, *, dry_run: bool = False) -> GcResult:
    """Remove old distill runs (all but the newest ``keep`` per lane) and leftovers of killed commands.

    ``dry_run`` only says what would go. Takes the workspace lock (a writer
    holding it makes this fail at once). Raises a
    :class:`~moonshine_core.errors.WorkspaceError` when ``ws`` is not a workspace.
    """
    if keep < 1:
        raise MoonshineError(f"keep must be at least 1 (the newest run of each lane stays), not {keep}")
    ws.require_existing()
    with ws.lock():
        removals, kept = plan(ws, keep)
        result = GcResult(dry_run=dry_run, keep=keep, removed=removals, kept=kept)
        if dry_run:
            return result
        for removal in removals:
            _remove(ws.root / removal.path)
        result.recovered = recover(ws)
        settle_mash(ws)
    return result


def plan(ws: Workspace, keep: int = DEFAULT_KEEP) -> tuple[list[Removal], list[Kept]]:
    """What :func:`gc` would remove and which distill runs it keeps; reads only (call holding the lock)."""
    removals = _leftovers(ws)
    runs, kept = _distill_runs(ws, keep)
    return removals + runs, kept


# -- distill runs -----------------------------------------------------------------------------------
@attrs.frozen
class _Publication:
    run_id: str
    state: str
    folders: tuple[str, ...]
    recorded_at: float


def _publications(ws: Workspace) -> list[_Publication]:
    """The distill runs the mash records (empty without a mash or before the first distill)."""
    if not ws.mash_path.exists():
        return []
    # Under the lock no writer runs, so without a WAL the file is the whole database: reading it
    # immutable leaves no -wal/-shm behind (a dry run changes no file).
    conn = connect(ws.mash_path, readonly=True, immutable=not sidecars(ws.mash_path))
    try:
        if not conn.execute("SELECT count(*) FROM sqlite_schema WHERE name = ?", (publications.TABLE,)).get:
            return []
        rows = list(conn.execute(f"SELECT run_id, state, folders_json, recorded_at FROM {publications.TABLE}"))
    finally:
        conn.close()
    return [_Publication(run_id, state, tuple(json.loads(folders).values()), to_epoch(recorded) or 0.0)
            for run_id, state, folders, recorded in rows]


def _distill_runs(ws: Workspace, keep: int) -> tuple[list[Removal], list[Kept]]:
    base = ws.reports_dir / "distillations"
    if not base.is_dir():
        return [], []
    records = _publications(ws)
    by_folder = {Path(folder).as_posix(): pub for pub in records for folder in pub.folders}
    published = [p for p in records if p.state == "published"]
    latest = max(published, key=lambda p: (p.recorded_at, p.run_id), default=None)
    protected = {Path(f).as_posix(): f"published by the latest distill run {latest.run_id}"
                 for f in (latest.folders if latest else ())}
    protected.update({Path(f).as_posix(): f"distill run {p.run_id} is pending (recovery settles it)"
                      for p in records if p.state == "pending" for f in p.folders})

    def age(path: Path) -> tuple[float, str]:
        pub = by_folder.get(_rel(ws, path))
        return (pub.recorded_at if pub else path.stat().st_mtime, path.name)

    removals: list[Removal] = []
    kept: list[Kept] = []
    for lane_dir in sorted(p for p in base.iterdir() if _real_dir(p)):
        runs = sorted((p for p in lane_dir.iterdir() if _real_dir(p)), key=age, reverse=True)
        for n, run in enumerate(runs):
            rel = _rel(ws, run)
            if rel in protected:
                kept.append(Kept(rel, protected[rel]))
            elif n < keep:
                kept.append(Kept(rel, f"one of the newest {keep} of lane {lane_dir.name}"))
            else:
                removals.append(Removal(rel, "distill_run", _size(run),
                                        f"older than the newest {keep} of lane {lane_dir.name}"))
    return removals, kept


# -- leftovers --------------------------------------------------------------------------------------
def _leftovers(ws: Workspace) -> list[Removal]:
    found: list[Removal] = []

    def add(path: Path, kind: str, reason: str) -> None:
        found.append(Removal(_rel(ws, path), kind, _size(path), reason))

    if ws.staging_dir.is_dir():
        for item in sorted(ws.staging_dir.iterdir()):
            add(item, "staging", "left in staging by a killed ingest or distill")
    if ws.archive_dir.is_dir():
        for provider_dir in sorted(p for p in ws.archive_dir.iterdir() if _real_dir(p)):
            if provider_dir.name == "main":
                for snap_dir in sorted(p for p in provider_dir.iterdir() if _real_dir(p)):
                    snapshot = ws.premerge_snapshot_path(snap_dir.name)
                    partial = snapshot.with_name(snapshot.name + ".partial")
                    if _real_file(partial):
                        add(partial, "snapshot_partial", "snapshot copy left by a killed archive")
                continue
            for item in sorted(provider_dir.iterdir()):
                name = item.name.removesuffix(".partial")
                if item.name.endswith(".partial") and RUN_ID_RE.match(name) and _real_dir(item):
                    add(item, "archive_partial", "archive folder left half-built by a killed archive")
    for suffix in MASH_LEFTOVER_SUFFIXES:
        leftover = ws.mash_path.with_name(ws.mash_path.name + suffix)
        if _real_file(leftover):
            command = "rollback" if suffix == ".restoring" else "bootstrap"
            add(leftover, "mash_leftover", f"copy of the mash left by a killed {command}")
    return found


# -- files ------------------------------------------------------------------------------------------
def _rel(ws: Workspace, path: Path) -> str:
    return path.relative_to(ws.root).as_posix()


def _real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _real_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _size(path: Path) -> int:
    """Bytes of the files at or under ``path`` (links are counted as links, never followed)."""
    if not _real_dir(path):
        return path.lstat().st_size
    total = 0
    for folder, _dirs, files in os.walk(path):
        total += sum(os.lstat(os.path.join(folder, f)).st_size for f in files)
    return total


def _remove(path: Path) -> None:
    if _real_dir(path):
        shutil.rmtree(path)
    elif path.name.endswith(".partial") or path.name.endswith(MASH_LEFTOVER_SUFFIXES):
        discard(path)  # a database copy: its WAL, if any, is folded in by SQLite, never deleted by hand
    else:
        path.unlink(missing_ok=True)
