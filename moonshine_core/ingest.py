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
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from . import __version__
from .errors import MoonshineError, NormalizeError, PluginError
from .gates.raw import RawEvidence, db_tree_problems, raw_gates
from .jsonio import write_json_atomic
from .ledger import run_ledger
from .plugins import PluginManager, make_plugin_manager
from .preflight import PreflightResult, preflight
from .records import Comparison, Conversation, Feedback, SideRecord
from .runs import raw_gates_passed
from .sources import ExportSource, file_sha256
from .store import SCHEMA_VERSION, Counts, Provenance, Store
from .store.schema import RECORD_TABLES
from .timeutil import utc_now_iso
from .tokens import TokenCounter, TokenCounts
from .workspace import Workspace

#: Conversations per write transaction; also bounds memory (one batch of records in flight).
BATCH_CONVERSATIONS = 200
#: Messages per write transaction, whichever limit is reached first.
BATCH_MESSAGES = 20_000

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


@attrs.define
class _Tally:
    """Running counts while streaming."""

    raw: Counter = attrs.field(factory=Counter)
    conversations: int = 0
    records: Counter = attrs.field(factory=Counter)
    unknown_shapes: Counter = attrs.field(factory=Counter)
    failures: list[dict[str, Any]] = attrs.field(factory=list)
    evidence: RawEvidence = attrs.field(factory=RawEvidence)
    written: dict[str, Counts] = attrs.field(factory=lambda: {t: Counts() for t in RECORD_TABLES})
    seconds: Counter = attrs.field(factory=Counter)
    #: Export-folder entries that are not members (links, devices, FIFOs), with the reason.
    skipped: dict[str, str] = attrs.field(factory=dict)


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


def _build_run(ws: Workspace, pm: PluginManager, pre: PreflightResult, staging: Path,
               progress: Progress | None, source_kind: str) -> IngestResult:
    started = utc_now_iso()
    t0 = time.perf_counter()
    provider, run_id = pre.provider, pre.run_id
    encoding_file = ws.settings.tiktoken_file
    counter = TokenCounter(encoding_file)
    prov = Provenance(provider=provider, provider_run_id=run_id, source_file_sha256=pre.source_sha256,
                      source_path=pre.source_path, ingested_at=started, source_kind=source_kind)
    db_path = staging / f"moonshine_{provider}_{run_id}.db"
    store = Store(db_path, staging=True)
    tally = _Tally()
    try:
        store.record_run({"run_id": run_id, "provider": provider, "kind": "ingest", "source_path": pre.source_path,
                          "source_sha256": pre.source_sha256, "source_size": pre.source_size,
                          "adapter": pre.adapter_distribution or pre.adapter, "adapter_version": pre.adapter_version,
                          "format_variant": pre.variant, "core_version": __version__, "started_at": started,
                          "status": "building"})
        _stream_into(store, pm, pre, prov, counter, tally, progress)
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
                   "texts_tokenised": counter.tokenised, "cache_hits": counter.cache_hits},
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


def _stream_into(store: Store, pm: PluginManager, pre: PreflightResult, prov: Provenance,
                 counter: TokenCounter, tally: _Tally, progress: Progress | None) -> None:
    batch: list[Any] = []
    batch_conversations = batch_messages = 0
    last_progress = 0.0
    with ExportSource(pre.source_path) as source:
        total_bytes = source.uncompressed_size()
        stream = pm.parse(pre.provider, source)
        while True:
            t = time.perf_counter()
            try:
                raw = next(stream)
            except StopIteration:
                break
            except MoonshineError:
                raise
            except Exception as exc:  # a plugin bug must fail the run with its name, not a traceback
                raise PluginError(f"{pre.provider} parser failed: {type(exc).__name__}: {exc}") from exc
            tally.raw[raw.kind] += 1
            try:
                records = pm.normalize(pre.provider, raw)
            except NormalizeError as exc:
                tally.failures.append({"kind": raw.kind, "member": raw.member, "index": raw.index,
                                       "reason": str(exc)})
                records = []
                failed = True
            except MoonshineError:
                raise
            except Exception as exc:  # undocumented exception from a plugin: listed, never fatal
                tally.failures.append({"kind": raw.kind, "member": raw.member, "index": raw.index,
                                       "reason": f"plugin error {type(exc).__name__}: {exc}"})
                records = []
                failed = True
            else:
                failed = False
            tally.seconds["parse_normalize"] += time.perf_counter() - t
            if raw.kind == "conversation" and not failed:
                tally.evidence.raw_conversation(records)
            for record in records:
                _account(record, tally)
                if isinstance(record, Conversation):
                    batch_conversations += 1
                    batch_messages += len(record.messages)
            batch.extend(records)
            if batch_conversations >= BATCH_CONVERSATIONS or batch_messages >= BATCH_MESSAGES:
                _flush(store, batch, prov, counter, tally)
                batch, batch_conversations, batch_messages = [], 0, 0
            if progress is not None and time.perf_counter() - last_progress > 0.2:
                progress(source.bytes_read, total_bytes, tally.conversations)
                last_progress = time.perf_counter()
        _flush(store, batch, prov, counter, tally)
        tally.skipped = source.skipped()
        if progress is not None:
            progress(total_bytes, total_bytes, tally.conversations)


def _account(record: Any, tally: _Tally) -> None:
    kind = {Conversation: "conversations", Feedback: "feedback", Comparison: "comparisons",
            SideRecord: "side_records"}.get(type(record))
    if kind is None:
        raise PluginError(f"normalize returned {type(record).__name__}, not a record")
    tally.records[kind] += 1
    for shape in getattr(record, "unknown_shapes", []):
        tally.unknown_shapes[shape] += 1
    if isinstance(record, Conversation):
        tally.conversations += 1
        tally.evidence.conversation(record)


def _flush(store: Store, batch: list[Any], prov: Provenance, counter: TokenCounter, tally: _Tally) -> None:
    if not batch:
        return
    t = time.perf_counter()
    owners = [(r.conversation_id, m) for r in batch if isinstance(r, Conversation) for m in r.messages]
    tokens: dict[str, dict[str, TokenCounts]] = {}
    for (cid, message), counts in zip(owners, counter.count_messages([m for _, m in owners])):
        tokens.setdefault(cid, {})[message.message_id] = counts
    tally.seconds["tokenise"] += time.perf_counter() - t
    t = time.perf_counter()
    for table, c in store.write(batch, prov, tokens).items():
        tally.written[table].add(c)
    tally.seconds["write"] += time.perf_counter() - t
