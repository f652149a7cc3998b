"""``distill()``: Stage E, from the mash to lane folders, in stages with one job each.

1. :mod:`.request` checks what was asked (lanes, settings, run id);
2. :mod:`.emitting` walks the mash (through :mod:`moonshine_core.store.corpus`),
   scores each conversation and asks every chosen lane for rows;
3. :mod:`.finishing` redacts, checks and stamps each row, which is spilled to
   a staging file (only small per-row facts stay in memory); steps 2 and 3 are
   skipped for a conversation whose finished rows :mod:`.rowcache` kept from an
   earlier run with the same inputs;
4. :mod:`.corpus_pass` decides duplicates, near-duplicate clusters, the
   train/eval split and the ``--mix`` selection over the whole lane;
5. :mod:`.outputs` writes each lane's files, manifest and card in staging;
6. :mod:`.publish` moves the folders into ``reports/distillations/<lane>/<run_id>/``
   and records which conversations fed which lane.

The pipeline names no lane: everything lane-specific comes from the
:class:`~moonshine_core.lane.Lane` objects plugins register.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from ..ids import conversation_uid
from ..lane import Lane
from ..plugins import PluginManager, make_plugin_manager
from ..store import Store
from ..store import corpus as mash
from ..workspace import Workspace
from .corpus_pass import LaneDecisions, RowFacts, decide
from .dedup import NearDupIndex
from .emitting import Emitter, visible_text
from .finishing import RowFinisher, RowOrigin
from .outputs import LaneWriter, lane_manifest, write_card, write_manifest
from .personal import profile_terms
from .provenance import signals_generator
from .publish import publish
from .request import DistillError, DistillPlan, new_run_id, plan_distill
from .rowcache import (
    CACHE_FILE,
    ConversationEntry,
    LaneEntry,
    RowCache,
    conversation_inputs,
    lane_fingerprint,
    open_cache,
    run_fingerprint,
)
from .split import conversation_key
from .textsignals import Redactor

__all__ = ["distill", "DistillResult", "LaneResult", "DistillError", "new_run_id"]

Progress = Callable[[int, int], None]
#: Scorer failures are not any one lane's: they are counted here and shown in every lane's manifest.
_SCORES = "_scores"


@attrs.define
class LaneResult:
    """One lane's output folder and counts."""

    lane: str
    folder: str
    rows: int
    by_provider: dict[str, int]
    files: dict[str, dict[str, Any]]
    left_out: dict[str, int]
    mixed_rows: int | None = None
    #: Conversations whose rows came from the row cache, and those distilled afresh.
    cache_hits: int = 0
    cache_misses: int = 0

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.define
class DistillResult:
    """What ``distill`` did: the run id, the mash fingerprint, and each lane's result."""

    run_id: str
    mash_content_sha256: str
    conversations: int
    lanes: dict[str, LaneResult]
    mix: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "mash_content_sha256": self.mash_content_sha256,
                "conversations": self.conversations, "mix": self.mix,
                "lanes": {k: v.to_dict() for k, v in self.lanes.items()}}


class _Spill:
    """Finished rows of one lane on disk in staging, and the facts the corpus pass needs in memory."""

    def __init__(self, lane: Lane, path: Path):
        self.lane, self.path = lane, path
        self.handle = open(path, "w", encoding="utf-8")
        self.facts: list[RowFacts] = []

    def add(self, row: dict[str, Any]) -> None:
        key = conversation_key(row["provider"], row["conversation_id"])
        self.facts.append(RowFacts(row["record_uid"], row["content_sha256"], key, row["provider"],
                                   row["quality_score"], tuple(row["filter_flags"])))
        self.handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")

    def close(self) -> None:
        self.handle.close()


class _Run:
    """One distillation in its staging folder."""

    def __init__(self, plan: DistillPlan, pm: PluginManager, staging: Path, terms: list, cache: RowCache | None):
        self.plan, self.pm, self.staging, self.cache = plan, pm, staging, cache
        self.generator = signals_generator()
        redactor = Redactor(terms=terms)
        self.fingerprint = run_fingerprint(pm, terms, self.generator)
        self.lane_prints = {lane.name: lane_fingerprint(self.fingerprint, lane.name, plan.settings)
                            for lane in plan.lanes}
        #: Conversations per lane whose rows came from the cache (hits) or were distilled (misses).
        self.cache_counts: dict[str, Counter[str]] = {lane.name: Counter() for lane in plan.lanes}
        self.finisher = RowFinisher(redactor, self.generator)
        self.left_out: dict[str, Counter[str]] = {lane.name: Counter() for lane in plan.lanes}
        self.left_out[_SCORES] = Counter()
        self.spills = {lane.name: _Spill(lane, staging / f"{lane.name}.spill.jsonl") for lane in plan.lanes}
        self.near = NearDupIndex()
        self.distilled: list[tuple] = []

    def keep(self, lane: Lane, row: dict[str, Any], origin: RowOrigin) -> None:
        finished = self.finisher.finish(lane, row, origin)
        if isinstance(finished, str):
            self.left_out[lane.name][finished] += 1
        else:
            self.spills[lane.name].add(finished)

    def emit(self, store: Store, progress: Progress | None) -> int:
        total, done = store.count("conversations"), 0
        emitter = Emitter(self.pm, self.plan.settings, store)
        for row, conversation in mash.conversations(store):
            self._conversation(store, emitter, row, conversation)
            done += 1
            if progress is not None:
                progress(done, total)
        return done

    def _conversation(self, store: Store, emitter: Emitter, row: dict[str, Any], conversation: Any) -> None:
        """One conversation's rows of every lane: from the cache when its inputs did not change,
        else scored, emitted and finished (and stored in the cache)."""
        key = conversation_key(row["provider"], row["conversation_id"])
        cache, lanes = self.cache, self.plan.lanes
        inputs = conversation_inputs(store, row) if cache is not None else ""
        common = cache.conversation(key, self.fingerprint, inputs) if cache is not None else None
        entries: dict[str, LaneEntry | None] = {
            lane.name: cache.lane(key, lane.name, self.lane_prints[lane.name], inputs)
            if cache is not None and common is not None else None for lane in lanes}
        if common is None:
            failures: Counter[str] = Counter()
            common = ConversationEntry(scores=emitter.score(conversation, failures), score_failures=failures,
                                       signature=self.near.add(key, visible_text(conversation)))
            if cache is not None and not failures:   # a failed scorer is tried again next time
                cache.put_conversation(key, self.fingerprint, inputs, common)
        else:
            self.near.add_signature(key, common.signature)
        store.write_scores(row["record_uid"], common.scores)
        self.left_out[_SCORES].update(common.score_failures)
        missing = [lane for lane in lanes if entries[lane.name] is None]
        if missing:
            ctx, origin = emitter.context(row, conversation, common.scores)
            for lane in missing:
                entry = entries[lane.name] = self._finished(emitter, lane, conversation, ctx, origin)
                if cache is not None and not any(k.startswith("plugin_error:") for k in entry.left_out):
                    cache.put_lane(key, lane.name, self.lane_prints[lane.name], inputs, entry)
        for lane in lanes:
            self.cache_counts[lane.name]["misses" if lane in missing else "hits"] += 1
            entry = entries[lane.name]
            self.left_out[lane.name].update(entry.left_out)
            for finished in entry.rows:
                self.spills[lane.name].add(finished)

    def _finished(self, emitter: Emitter, lane: Lane, conversation: Any, ctx: Any, origin: RowOrigin) -> LaneEntry:
        left_out: Counter[str] = Counter()
        rows = []
        for row in emitter.lane_rows(lane, conversation, ctx, left_out):
            finished = self.finisher.finish(lane, row, origin)
            if isinstance(finished, str):
                left_out[finished] += 1
            else:
                rows.append(finished)
        return LaneEntry(rows=rows, left_out=left_out)

    def emit_unattached(self, store: Store) -> None:
        """Rows from comparisons whose conversation is not in the mash, for lanes that want them."""
        lanes = [lane for lane in self.plan.lanes if lane.emit_unattached is not None]
        if not lanes:
            return
        for crow, comparison in mash.unattached_comparisons(store):
            raw = crow["raw_json"]
            origin = RowOrigin(provider=crow["provider"], provider_run_id=crow["provider_run_id"],
                               conversation_id=comparison.conversation_id or f"comparison:{comparison.comparison_id}",
                               raw_sha256=hashlib.sha256(raw.encode("utf-8")).hexdigest() if raw else None,
                               created_at=comparison.created_at, last_message_at=comparison.created_at)
            for lane in lanes:
                owner = self.pm.lane_owners.get(lane.name, lane.name)
                _, rows = self.pm.guarded(owner, f"lane {lane.name}: emit_unattached", lane.emit_unattached,
                                          (comparison,), failures=self.left_out[lane.name])
                if not rows:
                    self.left_out[lane.name]["comparison_without_usable_texts"] += 1
                for row in rows or []:
                    self.keep(lane, row, origin)

    def write(self, mash_hash: str) -> tuple[dict[str, LaneResult], dict[str, Path]]:
        for spill in self.spills.values():
            spill.close()
        clusters = self.near.clusters()
        results, folders = {}, {}
        for lane in self.plan.lanes:
            spill = self.spills[lane.name]
            decisions = decide(spill.facts, clusters, self.plan.settings.eval_fraction, mix=self.plan.mix,
                               mix_settings=self.plan.mix_settings)
            folders[lane.name] = self.staging / "out" / lane.name
            results[lane.name] = self._write_lane(lane, decisions, folders[lane.name], mash_hash)
        return results, folders

    def _write_lane(self, lane: Lane, decisions: LaneDecisions, folder: Path, mash_hash: str) -> LaneResult:
        folder.mkdir(parents=True, exist_ok=True)
        writer = LaneWriter(lane, folder)
        counted = ("provider", "split", "language") + lane.count_columns
        counts: dict[str, Counter[str]] = {f"by_{c}": Counter() for c in counted + ("flag",)}
        per_conv: dict[tuple[str, str], Counter[str]] = {}
        with open(self.spills[lane.name].path, encoding="utf-8") as spill:
            for line in spill:
                row = json.loads(line)
                row = decisions.apply(row, conversation_key(row["provider"], row["conversation_id"]))
                mixed = row["record_uid"] in decisions.mixed
                writer.write(row["provider"], row)   # the writer collects the column types too
                if mixed:
                    writer.write("mix", row)
                for col in counted:
                    if row.get(col) is not None:
                        counts[f"by_{col}"][str(row[col])] += 1
                for flag in row["filter_flags"]:
                    counts["by_flag"][flag] += 1
                conv = per_conv.setdefault((row["provider"], row["conversation_id"]), Counter())
                conv["rows"] += 1
                conv[row["split"]] += 1
                conv["mixed"] += int(mixed)
        files = writer.close()
        rows_total = sum(counts["by_provider"].values())
        settings = self.plan.settings
        left_out = self.left_out[lane.name] + self.left_out[_SCORES]
        manifest = lane_manifest(
            lane, mash_hash=mash_hash, generator=self.generator, writer=writer, files=files,
            settings={"eval_fraction": settings.eval_fraction, "reasoning_policy": settings.reasoning_policy,
                      "max_tool_output_chars": settings.max_tool_output_chars, "min_turns": settings.min_turns,
                      "verify_code": settings.verify_code},
            counts={"rows": rows_total, "conversations": len(per_conv),
                    **{k: dict(sorted(v.items())) for k, v in sorted(counts.items())}},
            left_out=left_out, features=writer.features(), mix_report=decisions.mix_report)
        write_manifest(folder, manifest)
        write_card(folder, manifest, lane)
        for (provider, cid), c in sorted(per_conv.items()):
            self.distilled.append((self.plan.run_id, lane.name, provider, conversation_uid(provider, cid), cid,
                                   c["rows"], c["train"], c["eval"], c["mixed"]))
        return LaneResult(lane=lane.name, folder="", rows=rows_total,
                          by_provider=dict(sorted(counts["by_provider"].items())), files=files,
                          left_out=manifest["left_out"], mixed_rows=len(decisions.mixed) if self.plan.mix else None,
                          cache_hits=self.cache_counts[lane.name]["hits"],
                          cache_misses=self.cache_counts[lane.name]["misses"])


def distill(workspace: Workspace, lanes: list[str] | None = None, mix: bool = False,
            pm: PluginManager | None = None, run_id: str | None = None,
            progress: Progress | None = None, verify_code: bool | None = None,
            use_cache: bool = True) -> DistillResult:
    """Distil the workspace's mash into lane folders; returns what was written.

    ``lanes`` defaults to ``[lanes] enabled`` of ``moonshine.toml`` (every
    registered lane when unset); ``mix`` adds the balanced mixed-provider
    files; ``run_id`` defaults to ``distill_YYYYMMDD_HHMMSS`` (UTC) and is
    never reused. ``progress`` is called with ``(conversations done, total)``.
    ``verify_code`` overrides ``[lanes] verify_code`` (the GRPO lane re-runs
    logged code in the sandbox; see :mod:`moonshine_core.sandbox`).
    The run is built in the workspace's staging area and moved into place at
    the end, so a failure leaves no half-written lane folder.

    Conversations whose inputs did not change since an earlier distill take
    their rows from the workspace's row cache (:mod:`.rowcache`); the output
    is the same as without it. ``use_cache=False`` distils every conversation
    (and leaves the cache as it is). Each lane's result counts the
    conversations that came from it (``cache_hits``) and the others
    (``cache_misses``).
    """
    ws = workspace
    pm = pm or make_plugin_manager()
    plan = plan_distill(ws, pm, lanes, mix, run_id, verify_code)
    with ws.lock():
        staging = ws.staging_dir / plan.run_id
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        store = Store(ws.mash_path, create=False)
        try:
            mash_hash = mash.mash_content_sha256(store)
            cache = open_cache(ws.cache_dir / CACHE_FILE) if use_cache else None
            complete = False
            try:
                run = _Run(plan, pm, staging, profile_terms(store, ws.settings.redact.terms), cache)
                try:
                    # One transaction for every conversation's scores, not one commit each.
                    with store.conn:
                        n = run.emit(store, progress)
                    run.emit_unattached(store)
                finally:
                    for spill in run.spills.values():
                        spill.close()
                results, folders = run.write(mash_hash)
                publish(ws, store, plan.run_id, folders, run.distilled)
                complete = True
            finally:
                if cache is not None:
                    cache.close(complete)
        finally:
            store.close()
            shutil.rmtree(staging, ignore_errors=True)
    for name, result in results.items():
        result.folder = str(ws.distill_dir(name, plan.run_id))
    return DistillResult(run_id=plan.run_id, mash_content_sha256=mash_hash, conversations=n, lanes=results, mix=mix)
