"""Stage B: ingest one export into its own provider-run DB, with token ledger and manifest.

Nothing is written to the mash. The run is built in the workspace's private
staging area and moved into ``reports/providers/<provider>/<run_id>/`` in one
rename when everything succeeded, so a run directory exists only for a
complete run. A failed ingest removes its staging folder; one killed outright
leaves it behind, and the next command that takes the workspace lock removes
it (no other writer can be using it then).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from . import __version__
from .errors import MoonshineError, PluginError
from .gates.raw import db_tree_problems, raw_gates
from .ingest_batches import BatchWork, Tally, WorkerPool, parallel_available, worker_count
from .jsonio import write_json_atomic
from .ledger import run_ledger
from .plugins import PluginManager, make_plugin_manager
from .preflight import PreflightResult, preflight
from .records import RawRecord
from .runs import raw_gates_passed
from .sources import ExportSource, file_sha256
from .store import SCHEMA_VERSION, Provenance, Store
from .store.schema import RECORD_TABLES
from .timeutil import utc_now_iso
from .tokencache import CacheMismatch, TokenCache, cache_path
from .tokens import ENCODING_NAME, ENCODING_SHA256, TokenCounter
from .workspace import Workspace

#: Raw records (conversations, mostly) per batch and per write transaction; with the few batches in
#: flight (:mod:`.ingest_batches`) this bounds memory, whatever the export's size.
BATCH_RECORDS = 100

Progress = Callable[[int, int, int], None]


@attrs.define(kw_only=True)
class IngestResult:
    """What an ingest produced (also the core of its manifest)."""

    run_id: str
    provider: str
    run_dir: str
    db_path: str
    ledger_path: str
    manifest_path: str
    manifest: dict[str, Any]

    @property
    def gates_passed(self) -> bool:
        return raw_gates_passed(self.manifest["gates_raw"])


def clean_staging(ws: Workspace) -> list[str]:
    """Remove run folders left in staging by a killed ingest; call while holding the lock."""
    removed = []
    if ws.staging_dir.is_dir():
        for leftover in ws.staging_dir.iterdir():
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()
            removed.append(leftover.name)
    return removed


def ingest(path: str | os.PathLike[str], provider: str | None = None, *, workspace: Workspace | None = None,
           pm: PluginManager | None = None, progress: Progress | None = None,
           source_kind: str = "provider_export", run_id: str | None = None) -> IngestResult:
    """Ingest the export at ``path`` into a new provider run of ``workspace``.

    ``provider`` overrides detection (checked against it). ``run_id`` uses the
    id a preflight proposed instead of a new one. ``progress`` is called now
    and then with ``(bytes_read, bytes_total, conversations)``. Raises a :class:`MoonshineError` (and leaves no run behind) on failure.
    """
    ws = workspace or Workspace.open()
    pm = pm or make_plugin_manager()
    with ws.lock():
        clean_staging(ws)
        pre = preflight(path, provider, pm=pm, run_id_taken=ws.run_id_taken, run_id=run_id)
        staging = ws.staging_dir / pre.run_id
        staging.mkdir(parents=True)
        try:
            try:
                result = _build_run(ws, pm, pre, staging, progress, source_kind)
            except CacheMismatch:
                # The token cache gave a wrong count: it is thrown away and the run built again without it.
                token_cache(ws).discard()
                shutil.rmtree(staging, ignore_errors=True)
                staging.mkdir(parents=True)
                result = _build_run(ws, pm, pre, staging, progress, source_kind)
            final = ws.provider_run_dir(pre.provider, pre.run_id)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return attrs.evolve(result, run_dir=str(final),
                        db_path=str(ws.run_db_path(pre.provider, pre.run_id)),
                        ledger_path=str(ws.run_ledger_path(pre.provider, pre.run_id)),
                        manifest_path=str(ws.run_manifest_path(pre.provider, pre.run_id)))


def token_cache(ws: Workspace) -> TokenCache:
    """The workspace's o200k_base token cache, opened for writing (see :mod:`moonshine_core.tokencache`)."""
    return TokenCache(cache_path(ws.cache_dir, ENCODING_NAME), ENCODING_SHA256, writable=True)


def _build_run(ws: Workspace, pm: PluginManager, pre: PreflightResult, staging: Path,
               progress: Progress | None, source_kind: str) -> IngestResult:
    started = utc_now_iso()
    t0 = time.perf_counter()
    provider, run_id = pre.provider, pre.run_id
    encoding_file = ws.settings.tiktoken_file
    cache = token_cache(ws)
    counter = TokenCounter(encoding_file, cache=cache)
    prov = Provenance(provider=provider, provider_run_id=run_id, source_file_sha256=pre.source_sha256,
                      source_path=pre.source_path, ingested_at=started, source_kind=source_kind)
    db_path = staging / f"moonshine_{provider}_{run_id}.db"
    store = Store(db_path, staging=True)
    tally = Tally()
    try:
        store.record_run({"run_id": run_id, "provider": provider, "kind": "ingest", "source_path": pre.source_path,
                          "source_sha256": pre.source_sha256, "source_size": pre.source_size,
                          "adapter": pre.adapter_distribution or pre.adapter, "adapter_version": pre.adapter_version,
                          "format_variant": pre.variant, "core_version": __version__, "started_at": started,
                          "status": "building"})
        _stream_into(store, ws, pm, pre, prov, counter, tally, progress)
        db_problems = db_tree_problems(store.conn)
        ledger = run_ledger(store.conn, provider, run_id, str(counter.path))
        db_counts = {t: store.count(t) for t in RECORD_TABLES}
        finished = utc_now_iso()
        gates = raw_gates(tally.evidence, tally.raw.get("conversation", 0), tally.failures, db_counts, db_problems)
        store.record_run({"run_id": run_id, "provider": provider, "finished_at": finished,
                          "status": "ingested" if raw_gates_passed(gates) else "gates_failed"})
        store.seal()
    finally:
        store.close()
        cache.close()
    # Sealing left rollback-journal mode, and SQLite removed the -wal and -shm itself when the WAL
    # was folded in: nothing is deleted by hand. The sealed bytes' sha256 is what gate 1 holds the
    # run DB (live and archived) to from now on.
    leftovers = [p.name for p in (Path(f"{db_path}-wal"), Path(f"{db_path}-shm")) if p.exists()]
    if leftovers:
        raise MoonshineError(f"sealing {db_path.name} left {', '.join(leftovers)} beside it")
    db_sha256 = file_sha256(db_path)
    tally.seconds["total"] = time.perf_counter() - t0
    manifest = {
        "schema": "moonshine.run_manifest/1",
        "run_id": run_id, "provider": provider,
        "source": {"path": pre.source_path, "kind": pre.source_kind, "size": pre.source_size,
                   "sha256": pre.source_sha256, "source_kind": source_kind},
        "adapter": {"plugin": pre.adapter, "distribution": pre.adapter_distribution,
                    "version": pre.adapter_version},
        "format_variant": pre.variant,
        "detection": {"confidence": pre.confidence, "evidence": pre.evidence,
                      "provider_overridden": pre.provider_overridden, "all": pre.detections},
        "core_version": __version__, "schema_version": SCHEMA_VERSION,
        "timings": {"started_at": started, "finished_at": finished,
                    "seconds": {k: round(v, 3) for k, v in sorted(tally.seconds.items())}},
        "counts": {"raw_records": dict(sorted(tally.raw.items())), "records": dict(sorted(tally.records.items())),
                   "db_rows": db_counts, "written": {t: c.to_dict() for t, c in tally.written.items()}},
        "tokens": {"headline_non_system": ledger["headline"]["non_system_tokens"],
                   "texts_tokenised": tally.tokenised, "cache_hits": tally.cache_hits,
                   "cache_hits_verified": tally.verified},
        "unknown_shapes": dict(sorted(tally.unknown_shapes.items())),
        "not_normalised": tally.failures,
        "skipped_members": tally.skipped,
        "gates_raw": gates,
        "files": {"db": db_path.name, "db_sha256": db_sha256, "ledger": f"token_ledger.{provider}.{run_id}.json"},
    }
    write_json_atomic(staging / manifest["files"]["ledger"], ledger)
    write_json_atomic(staging / "manifest.json", manifest)
    return IngestResult(run_id=run_id, provider=provider, run_dir=str(staging), db_path=str(db_path),
                        ledger_path="", manifest_path="", manifest=manifest)


def _stream_into(store: Store, ws: Workspace, pm: PluginManager, pre: PreflightResult, prov: Provenance,
                 counter: TokenCounter, tally: Tally, progress: Progress | None) -> None:
    """Stream the export through :class:`BatchWork` (in-process or in workers) into ``store``."""
    with ExportSource(pre.source_path) as source:
        total_bytes = source.uncompressed_size()
        workers = worker_count(ws.settings.ingest_workers, total_bytes or 0) if parallel_available() else 0
        local = BatchWork(pm, pre.provider, prov, counter)
        pool = WorkerPool(workers, local) if workers else None
        last_progress = 0.0

        def collect(results: Any) -> None:
            nonlocal last_progress
            for result in results:
                t = time.perf_counter()
                for table, c in store.write_values(result.rows).items():
                    result.tally.written[table].add(c)
                if counter.cache is not None:
                    counter.cache.add(result.fresh_counts)
                result.tally.seconds["write"] += time.perf_counter() - t
                tally.merge(result.tally)
                if progress is not None and time.perf_counter() - last_progress > 0.2:
                    progress(min(source.bytes_read, total_bytes or source.bytes_read), total_bytes,
                             tally.conversations)
                    last_progress = time.perf_counter()

        try:
            for batch in _batches(pm.parse(pre.provider, source), pre.provider, tally):
                if pool is not None:
                    collect(pool.submit(batch))
                else:
                    collect([local.run(batch)])
            if pool is not None:
                collect(pool.drain())
        finally:
            if pool is not None:
                pool.close()
        tally.skipped = source.skipped()
        tally.seconds["workers"] = workers if pool is not None else 0
        if progress is not None:
            progress(total_bytes, total_bytes, tally.conversations)


def _batches(stream: Iterator[RawRecord], provider: str, tally: Tally) -> Iterator[list[RawRecord]]:
    """The parser's raw records in batches of :data:`BATCH_RECORDS`, timing the parser."""
    batch: list[RawRecord] = []
    while True:
        t = time.perf_counter()
        try:
            raw = next(stream)
        except StopIteration:
            break
        except MoonshineError:
            raise
        except Exception as exc:  # a plugin bug must fail the run with its name, not a traceback
            raise PluginError(f"{provider} parser failed: {type(exc).__name__}: {exc}") from exc
        finally:
            tally.seconds["parse"] += time.perf_counter() - t
        batch.append(raw)
        if len(batch) >= BATCH_RECORDS:
            yield batch
            batch = []
    if batch:
        yield batch
