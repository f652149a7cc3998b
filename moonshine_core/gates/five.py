"""The five gates a provider run must pass (DESIGN.md section 7), with their evidence.

1. ``source_hash``: the source hash is present and reproducible on the archived copy, the
   archive is intact, and the run DB (live and archived) still has the sha256 ingest sealed.
2. ``provider_tags``: 100% of the run's rows carry every provenance column, right.
3. ``merge_idempotence``: merging the run again would insert and update nothing: every
   row of the run is in the mash with the same content hash, or the mash's is newer (the
   merge's own plan, :func:`moonshine_core.store.transfer.planned_counts`, run without writing).
4. ``token_reconciliation``: the run's per-message token counts equal the mash's
   for the same content, and the main ledger equals the mash's sums; the report
   is written beside the run.
5. ``no_contamination``: no row of the run DB or the mash has a contamination
   signature (``contamination_tags``) or a source kind the workspace does not allow.

Each gate is ``pass``, ``fail`` or ``pending`` (gates 3 and 4 wait for the merge,
gate 1 for the archive, unless the run DB is already altered). Results go into
the run manifest under ``gates``. Once the run is archived, gates 2 to 5 read the
archived copy of the run DB (whose sha256 gate 1 checks), never the live one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import apsw

from ..archive import verify_archive
from ..file_hashes import FileHashes
from ..jsonio import read_json, write_json_atomic
from ..ledger import main_ledger
from ..runs import ARCHIVE_RECORD, run_state
from ..sources import folder_sha256
from ..store import Counts
from ..store.checks import (
    compare_run_tokens,
    contaminated_rows,
    mistagged_rows_of_run,
    provenance_coverage,
)
from ..store.db import connect
from ..store.transfer import changes_if_merged
from ..timeutil import utc_now_iso
from ..workspace import Workspace

GATES = ("source_hash", "provider_tags", "merge_idempotence", "token_reconciliation", "no_contamination")


def _gate(status: str, **evidence: Any) -> dict[str, Any]:
    return {"status": status, "evidence": evidence}


def sealed_db_problems(ws: Workspace, provider: str, run_id: str, manifest: dict,
                       hashes: FileHashes | None = None) -> list[str]:
    """Part of gate 1: the run DB, live and archived, still has the sha256 ingest sealed it with
    (``files.db_sha256`` of the run manifest; runs ingested by an older core have none)."""
    hashes = hashes or FileHashes()
    files = manifest.get("files") or {}
    sealed = files.get("db_sha256")
    if not sealed:
        return []
    problems = []
    live = ws.run_db_path(provider, run_id)
    actual = hashes(live) if live.exists() else None
    if actual != sealed:
        problems.append(f"run DB {live.relative_to(ws.root)} is {'altered' if actual else 'missing'} since ingest "
                        f"sealed it (sha256 {actual and actual[:16]}…, sealed {sealed[:16]}…)")
    archived_manifest = read_json(ws.archive_run_dir(provider, run_id) / "manifest.json", default=None)
    if archived_manifest is not None and (archived_manifest.get("files") or {}).get("db_sha256") != sealed:
        problems.append("the run manifest's sealed sha256 differs from its archived copy's")
    archived = ws.archive_run_dir(provider, run_id) / live.name
    if archived.exists() and hashes(archived) != sealed:
        problems.append(f"archived run DB {archived.relative_to(ws.root)} differs from the one ingest sealed")
    return problems


def merge_source(ws: Workspace, provider: str, run_id: str) -> Path:
    """The run DB merges and gates read: the archived copy once archived (gate 1 checks its sha256
    against the sealed one), else the live one."""
    archived = ws.archive_run_dir(provider, run_id) / ws.run_db_path(provider, run_id).name
    if (ws.archive_run_dir(provider, run_id) / ARCHIVE_RECORD).exists() and archived.exists():
        return archived
    return ws.run_db_path(provider, run_id)


def source_hash_gate(ws: Workspace, provider: str, run_id: str, manifest: dict,
                     hashes: FileHashes | None = None) -> dict[str, Any]:
    """Gate 1: the manifest's source sha256, recomputed on the archived copy; the archive intact; the
    run DB as ingest sealed it. ``hashes`` shares file hashes the command already took."""
    hashes = hashes or FileHashes()
    recorded = (manifest.get("source") or {}).get("sha256")
    if not recorded:
        return _gate("fail", reason="the run manifest records no source sha256")
    sealed = sealed_db_problems(ws, provider, run_id, manifest, hashes)
    record = read_json(ws.archive_run_dir(provider, run_id) / ARCHIVE_RECORD)
    if record is None:
        if sealed:
            return _gate("fail", recorded=recorded, problems=sealed)
        return _gate("pending", recorded=recorded, reason="run not archived yet")
    problems = sealed + verify_archive(ws, provider, run_id, hashes)
    if problems:
        return _gate("fail", recorded=recorded, problems=problems)
    copy = ws.archive_run_dir(provider, run_id) / record["source"]["path"]
    if not copy.exists():
        return _gate("fail", recorded=recorded, reason=f"archived source {copy} is missing")
    recomputed = folder_sha256(copy) if record["source"]["kind"] == "dir" else hashes(copy)
    return _gate("pass" if recomputed == recorded else "fail", recorded=recorded, recomputed_on_archive=recomputed)


def provider_tags_gate(run_db: Path, mash: apsw.Connection | None, provider: str, run_id: str,
                       source_sha256: str) -> dict[str, Any]:
    """Gate 2: every row of the run DB (and the mash's rows of the run, once merged) tagged right."""
    conn = connect(run_db, readonly=True, immutable=True)
    try:
        per_table = provenance_coverage(conn, provider, run_id, source_sha256)
    finally:
        conn.close()
    mash_wrong = mistagged_rows_of_run(mash, provider, run_id, source_sha256) if mash is not None else 0
    rows = sum(t["rows"] for t in per_table.values())
    tagged = sum(t["tagged"] for t in per_table.values())
    coverage = 100.0 if rows == 0 else round(100.0 * tagged / rows, 4)
    return _gate("pass" if tagged == rows and mash_wrong == 0 else "fail", coverage_percent=coverage,
                 per_table=per_table, mash_rows_of_run_mistagged=mash_wrong)


def idempotence_gate(mash: apsw.Connection, run_db: Path, planned: dict[str, Counts] | None = None) -> dict[str, Any]:
    """Gate 3: merging the run again would change no row (the merge's plan, nothing written).

    The plan is the merge's own decision, row by row, of what to insert and
    what to update (docs/decisions.md argues why it proves what re-running
    the merge would show)."""
    planned = planned if planned is not None else changes_if_merged(mash, run_db)
    counts = {t: c.to_dict() for t, c in planned.items()}
    changed = sum(c["inserted"] + c["updated"] for c in counts.values())
    return _gate("pass" if changed == 0 else "fail",
                 method="every run row by record_uid: absent, or content changed and not older, would be written",
                 counts=counts)


def reconciliation(ws: Workspace, mash: apsw.Connection, run_db: Path, provider: str, run_id: str,
                   fresh: dict[str, Any] | None = None) -> dict[str, Any]:
    """Compare the run's per-message tokens with the mash's; the report gate 4 writes. ``fresh`` is
    the main ledger the command just computed from this mash (recomputed when not given)."""
    tokens = compare_run_tokens(mash, run_db)
    ledger_file = read_json(ws.main_ledger_path, default={}) or {}
    fresh = fresh if fresh is not None else main_ledger(mash, "")
    main_ok = ledger_file.get("totals") == fresh["totals"]
    run_ledger = read_json(ws.run_ledger_path(provider, run_id), default={}) or {}
    run_ledger_ok = (run_ledger.get("totals") or {}).get("tokens") == tokens.run_tokens
    provider_in_main = (fresh["by_provider"].get(provider) or {}).get("totals", {})
    reconciles = (not tokens.mismatches and tokens.missing_from_mash == 0 and main_ok and run_ledger_ok
                  and tokens.same_content_run_tokens == tokens.same_content_mash_tokens)
    return {
        "schema": "moonshine.token_reconciliation/1", "run_id": run_id, "provider": provider,
        "generated_at": utc_now_iso(), "reconciles": reconciles,
        "provider_ledger": {"tokens": tokens.run_tokens, "messages": tokens.run_messages,
                            "ledger_file_tokens": (run_ledger.get("totals") or {}).get("tokens"),
                            "ledger_file_matches_db": run_ledger_ok},
        "main_ledger": {"provider_tokens": provider_in_main.get("tokens"),
                        "provider_messages": provider_in_main.get("messages"),
                        "total_tokens": fresh["totals"]["tokens"], "ledger_file_matches_mash": main_ok},
        "messages_same_content": {"count": tokens.same_content, "run_tokens": tokens.same_content_run_tokens,
                                  "mash_tokens": tokens.same_content_mash_tokens},
        "messages_newer_in_mash": tokens.newer_in_mash,
        "messages_missing_from_mash": tokens.missing_from_mash,
        "token_mismatches": tokens.mismatches,
    }


def contamination_gate(ws: Workspace, conns: dict[str, apsw.Connection]) -> dict[str, Any]:
    """Gate 5: no row of any of ``conns`` (by name) carries a contamination signature or a
    source kind the workspace does not allow."""
    tags = list(ws.settings.contamination_tags)
    allowed = list(ws.settings.allowed_source_kinds)
    found = {name: rows for name, conn in conns.items() if (rows := contaminated_rows(conn, tags, allowed))}
    return _gate("pass" if not found else "fail", signatures=tags, allowed_source_kinds=allowed,
                 contaminated_rows=found)


def evaluate_gates(ws: Workspace, run_id: str, *, write: bool = True, hashes: FileHashes | None = None,
                   ledger: dict[str, Any] | None = None,
                   planned: dict[str, Counts] | None = None) -> dict[str, dict[str, Any]]:
    """Evaluate the five gates for ``run_id``; with ``write``, record them in the run manifest
    and write the token reconciliation report (``token_reconciliation.<provider>.<run_id>.json``).

    A merge passes the file hashes it took (``hashes``) and the main ledger it just wrote
    (``ledger``), so neither is computed twice in one command; a re-merge that wrote nothing
    passes its plan (``planned``), which is gate 3's evidence on the same mash."""
    provider = ws.find_run(run_id)
    state = run_state(ws, provider, run_id)
    manifest = state.manifest
    run_db = merge_source(ws, provider, run_id)
    sha = (manifest.get("source") or {}).get("sha256", "")
    gates: dict[str, dict[str, Any]] = {"source_hash": source_hash_gate(ws, provider, run_id, manifest, hashes)}
    mash = connect(ws.mash_path, readonly=True) if ws.mash_path.exists() else None
    run_conn = connect(run_db, readonly=True, immutable=True)
    try:
        gates["provider_tags"] = provider_tags_gate(run_db, mash if state.merged else None, provider, run_id, sha)
        if state.merged and mash is not None:
            gates["merge_idempotence"] = idempotence_gate(mash, run_db, planned)
            report = reconciliation(ws, mash, run_db, provider, run_id, ledger)
            report_path = ws.provider_run_dir(provider, run_id) / f"token_reconciliation.{provider}.{run_id}.json"
            if write:
                write_json_atomic(report_path, report)
            gates["token_reconciliation"] = _gate(
                "pass" if report["reconciles"] else "fail", report=str(report_path.relative_to(ws.root)),
                run_tokens=report["provider_ledger"]["tokens"],
                mash_tokens_same_content=report["messages_same_content"]["mash_tokens"],
                mismatches=len(report["token_mismatches"]), missing=report["messages_missing_from_mash"])
        else:
            reason = "run not merged yet" if not state.merged else "no mash"
            gates["merge_idempotence"] = _gate("pending", reason=reason)
            gates["token_reconciliation"] = _gate("pending", reason=reason)
        conns = {"run": run_conn}
        if mash is not None:
            conns["mash"] = mash
        gates["no_contamination"] = contamination_gate(ws, conns)
    finally:
        run_conn.close()
        if mash is not None:
            mash.close()
    if write:
        manifest["gates"] = gates
        manifest["gates_evaluated_at"] = utc_now_iso()
        write_json_atomic(ws.run_manifest_path(provider, run_id), manifest)
    return gates


def failed(gates: dict[str, dict[str, Any]]) -> list[str]:
    """Names of the gates that failed (pending ones have not)."""
    return [name for name, g in gates.items() if g["status"] == "fail"]
