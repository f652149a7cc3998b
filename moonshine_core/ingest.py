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
from .jsonio import write_json_atomic
from .ledger import message_texts, run_ledger
from .plugins import PluginManager, make_plugin_manager
from .preflight import PreflightResult, preflight
from .records import Comparison, Conversation, Feedback, SideRecord
from .sources import ExportSource
from .store import SCHEMA_VERSION, Counts, Provenance, Store
from .store.schema import RECORD_TABLES
from .timeutil import utc_now_iso
from .tokens import TokenCounter
from .trees import check_tree
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
        return all(g["passed"] for g in self.manifest["gates_raw"].values())


@attrs.define
class _Tally:
    """Running counts while streaming."""

    raw: Counter = attrs.field(factory=Counter)
    raw_conversations_ok: int = 0
    raw_conversations_empty: int = 0
    conversations: int = 0
    messages: int = 0
    conversation_ids: Counter = attrs.field(factory=Counter)
    records: Counter = attrs.field(factory=Counter)
    unknown_shapes: Counter = attrs.field(factory=Counter)
    failures: list[dict[str, Any]] = attrs.field(factory=list)
    tree_problems: list[str] = attrs.field(factory=list)
    count_mismatches: list[dict[str, Any]] = attrs.field(factory=list)
    written: dict[str, Counts] = attrs.field(factory=lambda: {t: Counts() for t in RECORD_TABLES})
    seconds: Counter = attrs.field(factory=Counter)


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
           source_kind: str = "provider_export") -> IngestResult:
    """Ingest the export at ``path`` into a new provider run of ``workspace``.

    ``provider`` overrides detection (checked against it). ``progress`` is
    called now and then with ``(bytes_read, bytes_total, conversations)``.
    Raises a :class:`MoonshineError` (and leaves no run behind) on failure.
    """
    ws = workspace or Workspace.open()
    pm = pm or make_plugin_manager()
    with ws.lock():
        clean_staging(ws)
        pre = preflight(path, provider, pm=pm, run_id_taken=ws.run_id_taken)
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
        db_tree_problems = _db_tree_problems(store)
        ledger = run_ledger(store.conn, provider, run_id, str(counter.path))
        db_counts = {t: store.count(t) for t in RECORD_TABLES}
        finished = utc_now_iso()
        gates = _raw_gates(tally, db_counts, db_tree_problems)
        store.record_run({"run_id": run_id, "provider": provider, "finished_at": finished,
                          "status": "ingested" if all(g["passed"] for g in gates.values()) else "gates_failed"})
        store.seal()
    finally:
        store.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
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
        "gates_raw": gates,
        "files": {"db": db_path.name, "ledger": f"token_ledger.{provider}.{run_id}.json"},
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
                if any(isinstance(r, Conversation) for r in records):
                    tally.raw_conversations_ok += 1
                else:
                    tally.raw_conversations_empty += 1
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
        tally.messages += len(record.messages)
        tally.conversation_ids[record.conversation_id] += 1
        problems = check_tree(record.messages)
        ids = {m.message_id for m in record.messages}
        if record.messages and record.current_leaf_id not in ids:
            problems.append(f"active leaf {record.current_leaf_id!r} is not a message")
        tally.tree_problems += [f"{record.conversation_id}: {p}" for p in problems]
        if record.raw_message_count is not None and record.raw_message_count != len(record.messages):
            tally.count_mismatches.append({"conversation_id": record.conversation_id,
                                           "raw": record.raw_message_count, "stored": len(record.messages)})


def _flush(store: Store, batch: list[Any], prov: Provenance, counter: TokenCounter, tally: _Tally) -> None:
    if not batch:
        return
    t = time.perf_counter()
    keys: list[tuple[str, str]] = []
    texts: list[str] = []
    for record in batch:
        if isinstance(record, Conversation):
            for message in record.messages:
                keys.append((record.conversation_id, message.message_id))
                texts.extend(message_texts(message))
    counts = counter.count_many(texts)
    tokens: dict[str, dict[str, tuple[int, int, int]]] = {}
    for i, (cid, mid) in enumerate(keys):
        tokens.setdefault(cid, {})[mid] = (counts[3 * i], counts[3 * i + 1], counts[3 * i + 2])
    tally.seconds["tokenise"] += time.perf_counter() - t
    t = time.perf_counter()
    for table, c in store.write(batch, prov, tokens).items():
        tally.written[table].add(c)
    tally.seconds["write"] += time.perf_counter() - t


def _db_tree_problems(store: Store) -> list[str]:
    dangling = store.conn.execute(
        "SELECT count(*) FROM messages m WHERE m.parent_uid IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM messages p WHERE p.record_uid = m.parent_uid)").get
    no_leaf = store.conn.execute(
        "SELECT count(*) FROM conversations c WHERE c.message_count > 0 AND NOT EXISTS "
        "(SELECT 1 FROM messages m WHERE m.conversation_uid = c.record_uid AND m.message_id = c.current_leaf_id)").get
    problems = []
    if dangling:
        problems.append(f"{dangling} stored messages point at a parent that is not stored")
    if no_leaf:
        problems.append(f"{no_leaf} stored conversations have no stored active leaf")
    return problems


def _raw_gates(tally: _Tally, db_counts: dict[str, int], db_tree_problems: list[str]) -> dict[str, Any]:
    raw_conversations = tally.raw.get("conversation", 0)
    failed = sum(1 for f in tally.failures if f["kind"] == "conversation")
    duplicates = sum(n - 1 for n in tally.conversation_ids.values() if n > 1)
    accounted = tally.raw_conversations_ok + tally.raw_conversations_empty + failed
    return {
        "all_raw_conversations_normalised_or_listed": {
            "passed": accounted == raw_conversations
            and db_counts["conversations"] == len(tally.conversation_ids),
            "evidence": {"raw_conversations": raw_conversations, "normalised": tally.raw_conversations_ok,
                         "normalised_to_nothing": tally.raw_conversations_empty, "listed_not_normalised": failed,
                         "duplicate_conversation_ids_collapsed": duplicates,
                         "stored_conversations": db_counts["conversations"]},
        },
        "trees_intact": {
            "passed": not tally.tree_problems and not db_tree_problems,
            "evidence": {"problems": (tally.tree_problems + db_tree_problems)[:50],
                         "problem_count": len(tally.tree_problems) + len(db_tree_problems)},
        },
        "counts_match_raw": {
            "passed": not tally.count_mismatches and (duplicates > 0 or db_counts["messages"] == tally.messages),
            "evidence": {"messages_normalised": tally.messages, "messages_stored": db_counts["messages"],
                         "mismatched_conversations": tally.count_mismatches[:50],
                         "mismatch_count": len(tally.count_mismatches)},
        },
    }
