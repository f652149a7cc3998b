"""``distill()``: the Stage E pipeline from the mash to lane folders.

1. Stream the mash's conversations (one at a time, deterministic order),
   score each through ``moonshine_score`` (scores are stored in the mash's
   ``scores`` table) and ask every plugin for rows through
   ``moonshine_emit``, lane by lane.
2. Finish each row: redact secrets/PII, stamp the provenance block, validate
   the lane's TRL shape; spill it to a staging file. Only small per-row facts
   (uid, hash, provider, quality, flags) and one MinHash per conversation
   stay in memory.
3. Corpus pass: exact-duplicate groups per lane, near-duplicate clusters
   across providers, the train/eval split by conversation (or cluster).
4. Write ``reports/distillations/<lane>/<run_id>/``: ``<split>.<provider>.jsonl``
   per provider, ``<split>.mix.jsonl`` with ``--mix``, converted copies,
   ``manifest.json`` and ``README.md``; record which conversations fed which
   lane in ``distilled_conversations``.

The run is built in the workspace's staging area and moved into place at the
end, so a failure leaves no half-written lane folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs

from ..errors import MoonshineError
from ..ids import canonical_json, conversation_uid
from ..plugins import PluginManager, make_plugin_manager
from ..records import Conversation, Score
from ..store import Store
from ..store.rows import comparison_from_row, conversation_from_rows, feedback_from_row
from ..workspace import LANES, Workspace
from . import dpo as dpo_lane
from .context import LaneContext
from .dedup import NearDupIndex, exact_groups
from .features import FeatureCollector
from .messages import MESSAGE_KEYS, REASONING_POLICIES, Tree
from .mix import MixCandidate, plan_mix
from .outputs import MANIFEST_SCHEMA_VERSION, LaneWriter, write_card, write_manifest
from .provenance import (
    DEFAULT_PAYLOAD,
    PAYLOAD_COLUMNS,
    ROW_SCHEMA_VERSION,
    payload_sha256,
    record_uid,
    redact_value,
    signals_generator,
)
from .split import assign_split, conversation_key
from .textsignals import Redactor, detect_language
from .validate import validate_row

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
Progress = Callable[[int, int], None]


class DistillError(MoonshineError):
    """A distillation that cannot run (no mash, bad settings, run id taken)."""


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


def new_run_id(now: datetime | None = None) -> str:
    """``distill_YYYYMMDD_HHMMSS`` in UTC."""
    return (now or datetime.now(timezone.utc)).strftime("distill_%Y%m%d_%H%M%S")


def mash_content_sha256(store: Store) -> str:
    """A fingerprint of the mash's records: sha256 over every record table's ``(record_uid, content_sha256)``.

    Used instead of the file's bytes, which change with SQLite page layout,
    WAL checkpoints and Moonshine's own bookkeeping (scores, distill records).
    """
    digest = hashlib.sha256()
    for table in ("conversations", "messages", "tool_events", "feedback", "comparisons", "side_records"):
        digest.update(f"{table}\n".encode())
        for uid, content in store.conn.execute(f"SELECT record_uid, content_sha256 FROM {table} ORDER BY record_uid"):
            digest.update(f"{uid} {content}\n".encode())
    return digest.hexdigest()


_PERSONAL_KEYS = re.compile(r"e-?mail|phone|mobile|name|address|birth", re.IGNORECASE)


def personal_literals(store: Store) -> list[str]:
    """String values of personal side records under personal-looking keys (e-mail, phone, names...)."""
    found: set[str] = set()

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and _PERSONAL_KEYS.search(key) and len(value.strip()) >= 4:
            found.add(value.strip())

    for (data,) in store.conn.execute("SELECT data_json FROM side_records WHERE personal = 1 ORDER BY record_uid"):
        if data:
            walk(json.loads(data))
    return sorted(found)


def iter_mash(store: Store) -> Iterator[tuple[dict, Conversation]]:
    """Conversations one at a time (ordered by provider, conversation id): memory stays bounded."""
    uids = [r[0] for r in store.conn.execute("SELECT record_uid FROM conversations ORDER BY provider, conversation_id")]
    for uid in uids:
        row = next(store.rows("SELECT * FROM conversations WHERE record_uid = ?", (uid,)))
        messages = list(store.rows("SELECT * FROM messages WHERE conversation_uid = ? ORDER BY position", (uid,)))
        yield row, conversation_from_rows(row, messages)


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _normalise_messages(value: Any) -> Any:
    if isinstance(value, list) and value and isinstance(value[0], dict) and "role" in value[0]:
        return [{k: m.get(k) for k in MESSAGE_KEYS} for m in value]
    return value


def _payload_texts(row: dict[str, Any], columns: tuple[str, ...]) -> tuple[str, int]:
    texts, turns = [], 0
    for col in columns:
        value = row.get(col)
        if isinstance(value, list):
            for m in value:
                if isinstance(m, dict):
                    turns += 1
                    if m.get("content"):
                        texts.append(m["content"])
    return "\n".join(texts), turns


def _quality(lane: str, row: dict[str, Any], conversation_value: float) -> float:
    """The rank used inside a provider by ``--mix``: the conversation's interaction value plus lane evidence."""
    bonus = {"dpo": float(row.get("margin") or 0.0),
             "grpo": 1.0 if row.get("answer_source") in ("execution", "user_confirmed") else 0.5,
             "agentic_code": {"resolved": 1.0, "unknown": 0.3}.get(row.get("outcome") or "", 0.0),
             "conversational": 0.0}.get(lane, 0.0)
    return round(conversation_value + bonus, 4)


class _Run:
    def __init__(self, ws: Workspace, lanes: list[str], mix: bool, pm: PluginManager, run_id: str,
                 staging: Path, progress: Progress | None):
        self.ws, self.lanes, self.mix, self.pm, self.run_id = ws, lanes, mix, pm, run_id
        self.settings = ws.settings.lanes
        self.staging = staging
        self.progress = progress
        self.spills = {lane: open(staging / f"{lane}.spill.jsonl", "w", encoding="utf-8") for lane in lanes}
        self.meta: dict[str, list[dict[str, Any]]] = {lane: [] for lane in lanes}
        self.left_out: dict[str, Counter[str]] = {lane: Counter() for lane in lanes}
        self.near = NearDupIndex()
        self.distilled: list[tuple] = []
        self.generator = signals_generator()

    # -- emitting ------------------------------------------------------------------------
    def emit(self, lane: str, conversation: Conversation, ctx: LaneContext) -> list[dict]:
        rows: list[dict] = []
        for impl in reversed(self.pm.pm.hook.moonshine_emit.get_hookimpls()):
            info = self.pm.infos.get(impl.plugin_name)
            try:
                result = impl.function(**{n: v for n, v in (("lane", lane), ("conversation", conversation),
                                                            ("context", ctx)) if n in impl.argnames})
            except Exception as exc:
                if info is None or info.builtin:
                    raise   # a bug in the core's own lanes must be seen, not counted
                self.left_out[lane][f"plugin_error:{impl.plugin_name}:{type(exc).__name__}"] += 1
                continue
            rows.extend(result or [])
        return rows

    def finish(self, lane: str, row: dict[str, Any], *, provider: str, provider_run_id: str, cid: str,
               source_sha256: str | None, redactor: Redactor, scores: list[Score],
               created_at: float | None, last_at: float | None, conversation_value: float) -> None:
        columns = PAYLOAD_COLUMNS.get(lane, DEFAULT_PAYLOAD)
        row = dict(row)
        source_ids = [str(i) for i in row.pop("source_message_ids", [])]
        variant = str(row.pop("variant", "row"))
        counter = redactor.fork()
        for col in columns + ("reference_response",):
            if col in row:
                row[col] = _normalise_messages(redact_value(row[col], counter))
        problem = validate_row(lane, row)
        if problem:
            self.left_out[lane][f"invalid_row:{problem}"] += 1
            return
        text, turns = _payload_texts(row, columns)
        language, language_score = detect_language(text)
        score_flags = sorted({f for s in scores for f in s.flags})
        flags = sorted(set(row.pop("lane_flags", []) or []) | set(score_flags)
                       | ({"contains_redactions"} if counter.counts else set()))
        row.update({
            "record_uid": record_uid(lane, provider, cid, source_ids, variant),
            "schema_version": ROW_SCHEMA_VERSION,
            "lane": lane,
            "provider": provider,
            "provider_run_id": provider_run_id,
            "conversation_id": cid,
            "source_message_ids": source_ids,
            "source_sha256": source_sha256,
            "content_sha256": payload_sha256(row, columns),
            "models": list(row.get("models") or []),
            "conversation_created_at": _iso(created_at),
            "last_message_at": _iso(last_at),
            "language": language,
            "language_score": float(language_score),
            "n_turns": turns,
            "n_chars": len(text),
            "approx_tokens": (len(text) + 3) // 4,
            "pii_redactions": counter.pii,
            "secrets_redacted": counter.secrets,
            "pii_types": counter.types(),
            "filter_flags": flags,
            "signals": canonical_json({s.name: {"value": s.value, "flags": s.flags} for s in scores}),
            "signals_generator": self.generator,
            "quality_score": _quality(lane, row, conversation_value),
        })
        key = conversation_key(provider, cid)
        self.meta[lane].append({"uid": row["record_uid"], "hash": row["content_sha256"], "key": key,
                                "provider": provider, "cid": cid, "quality": row["quality_score"], "flags": flags})
        self.spills[lane].write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")

    def conversations(self, store: Store, redactor: Redactor) -> int:
        total = store.count("conversations")
        done = 0
        for row, conversation in iter_mash(store):
            provider, cid = row["provider"], row["conversation_id"]
            scores = self.pm.score(conversation)
            store.write_scores(row["record_uid"], scores)
            feedback = [feedback_from_row(r) for r in store.rows(
                "SELECT * FROM feedback WHERE provider = ? AND conversation_id = ? ORDER BY record_uid", (provider, cid))]
            comparisons = [comparison_from_row(r) for r in store.rows(
                "SELECT * FROM comparisons WHERE provider = ? AND conversation_id = ? ORDER BY record_uid",
                (provider, cid))]
            ctx = LaneContext(provider=provider, provider_run_id=row["provider_run_id"], conversation_id=cid,
                              conversation_uid=row["record_uid"], source_sha256=row["raw_sha256"],
                              settings=self.settings, scores=scores, feedback=feedback, comparisons=comparisons,
                              created_at=conversation.created_at, updated_at=conversation.updated_at)
            tree = Tree(conversation)
            active = tree.messages(tree.active_path) if tree.active_path else conversation.messages
            self.near.add(conversation_key(provider, cid),
                          "\n".join(m.text for m in active if not m.hidden and m.role in ("user", "assistant")))
            value = next((s.value for s in scores if s.name == "interaction_value" and s.value is not None), 0.0)
            last_at = max((m.updated_at or m.created_at or 0.0 for m in conversation.messages), default=0.0) or None
            for lane in self.lanes:
                for lane_row in self.emit(lane, conversation, ctx):
                    self.finish(lane, lane_row, provider=provider, provider_run_id=row["provider_run_id"], cid=cid,
                                source_sha256=row["raw_sha256"], redactor=redactor, scores=scores,
                                created_at=conversation.created_at, last_at=last_at, conversation_value=value)
            done += 1
            if self.progress is not None:
                self.progress(done, total)
        return done

    def orphan_comparisons(self, store: Store, redactor: Redactor) -> None:
        """DPO rows from comparisons that carry their texts but whose conversation is not in the mash."""
        if "dpo" not in self.lanes:
            return
        sql = ("SELECT * FROM comparisons c WHERE NOT EXISTS (SELECT 1 FROM conversations v WHERE "
               "v.provider = c.provider AND v.conversation_id = c.conversation_id) ORDER BY c.record_uid")
        for crow in store.rows(sql):
            comparison = comparison_from_row(crow)
            rows = dpo_lane.inline_rows(comparison)
            if not rows:
                self.left_out["dpo"]["comparison_without_usable_texts"] += 1
                continue
            cid = comparison.conversation_id or f"comparison:{comparison.comparison_id}"
            raw = crow["raw_json"]
            for i, row in enumerate(rows):
                row.update({"source_message_ids": [comparison.comparison_id], "variant": f"inline:{i}"})
                self.finish("dpo", row, provider=crow["provider"], provider_run_id=crow["provider_run_id"], cid=cid,
                            source_sha256=hashlib.sha256(raw.encode("utf-8")).hexdigest() if raw else None,
                            redactor=redactor, scores=[], created_at=comparison.created_at,
                            last_at=comparison.created_at, conversation_value=0.0)

    # -- corpus pass and writing -----------------------------------------------------------
    def write(self, mash_hash: str) -> dict[str, LaneResult]:
        for handle in self.spills.values():
            handle.close()
        clusters = self.near.clusters()
        results = {}
        for lane in self.lanes:
            results[lane] = self._write_lane(lane, clusters, mash_hash, self.distilled)
        return results

    def record(self, store: Store) -> None:
        """Which conversations fed which lane (after the folders are in place)."""
        with store.conn:
            store.conn.executemany(
                "INSERT OR REPLACE INTO distilled_conversations (run_id, lane, provider, conversation_uid, "
                "conversation_id, rows, train_rows, eval_rows, mixed_rows) VALUES (?,?,?,?,?,?,?,?,?)", self.distilled)

    def _write_lane(self, lane: str, clusters: dict[str, str], mash_hash: str, distilled: list[tuple]) -> LaneResult:
        meta = self.meta[lane]
        dup_rep = exact_groups((m["uid"], m["hash"]) for m in meta)
        split_of = {m["uid"]: assign_split(clusters.get(m["key"], m["key"]), self.settings.eval_fraction) for m in meta}
        mixed: set[str] = set()
        mix_report = None
        if self.mix:
            candidates = []
            for m in meta:
                flags = list(m["flags"])
                if m["uid"] in dup_rep and dup_rep[m["uid"]] != m["uid"]:
                    flags.append("exact_duplicate")
                cluster = clusters.get(m["key"])
                if cluster is not None and cluster != m["key"]:
                    flags.append("near_duplicate")
                candidates.append(MixCandidate(m["uid"], m["provider"], m["quality"], flags))
            mixed, mix_report = plan_mix(candidates, self.ws.settings.mix)
        folder = self.staging / "out" / lane
        folder.mkdir(parents=True, exist_ok=True)
        writer = LaneWriter(lane, folder)
        counts: dict[str, Counter[str]] = {k: Counter() for k in (
            "by_provider", "by_split", "by_flag", "by_pair_source", "by_task", "by_answer_source", "by_outcome",
            "by_reasoning_kind", "by_language")}
        per_conv: dict[tuple[str, str], Counter[str]] = {}
        types = FeatureCollector()
        with open(self.staging / f"{lane}.spill.jsonl", encoding="utf-8") as spill:
            for line in spill:
                row = json.loads(line)
                uid = row["record_uid"]
                key = conversation_key(row["provider"], row["conversation_id"])
                cluster = clusters.get(key)
                flags = set(row["filter_flags"])
                if uid in dup_rep and dup_rep[uid] != uid:
                    flags.add("exact_duplicate")
                if cluster is not None and cluster != key:
                    flags.add("near_duplicate")
                row["exact_dup_group"] = dup_rep.get(uid)
                row["near_dup_cluster"] = hashlib.sha256(cluster.encode()).hexdigest()[:16] if cluster else None
                row["is_cluster_rep"] = cluster is None or cluster == key
                row["filter_flags"] = sorted(flags)
                row["split"] = split_of[uid]
                types.add(row)
                writer.write(row["provider"], row)
                if uid in mixed:
                    writer.write("mix", row)
                counts["by_provider"][row["provider"]] += 1
                counts["by_split"][row["split"]] += 1
                counts["by_language"][row["language"]] += 1
                for flag in row["filter_flags"]:
                    counts["by_flag"][flag] += 1
                for col, name in (("pair_source", "by_pair_source"), ("task", "by_task"),
                                  ("answer_source", "by_answer_source"), ("outcome", "by_outcome"),
                                  ("reasoning_kind", "by_reasoning_kind")):
                    if row.get(col) is not None:
                        counts[name][str(row[col])] += 1
                conv = per_conv.setdefault((row["provider"], row["conversation_id"]), Counter())
                conv["rows"] += 1
                conv[row["split"]] += 1
                conv["mixed"] += int(uid in mixed)
        files = writer.close()
        rows_total = sum(counts["by_provider"].values())
        manifest = {
            "manifest_schema_version": MANIFEST_SCHEMA_VERSION,
            "row_schema_version": ROW_SCHEMA_VERSION,
            "lane": lane,
            "mash_content_sha256": mash_hash,
            "settings": {"eval_fraction": self.settings.eval_fraction,
                         "reasoning_policy": self.settings.reasoning_policy,
                         "max_tool_output_chars": self.settings.max_tool_output_chars,
                         "min_turns": self.settings.min_turns},
            "signals_generator": json.loads(self.generator),
            "counts": {"rows": rows_total, "conversations": len(per_conv),
                       **{k: dict(sorted(v.items())) for k, v in counts.items()}},
            "left_out": dict(sorted(self.left_out[lane].items())),
            "converter_skips": dict(sorted(writer.skipped_conversions.items())),
            "files": files,
            "features": types.features(),
            "mix": mix_report,
        }
        write_manifest(folder, manifest)
        write_card(folder, manifest)
        for (provider, cid), c in sorted(per_conv.items()):
            distilled.append((self.run_id, lane, provider, conversation_uid(provider, cid), cid, c["rows"],
                              c["train"], c["eval"], c["mixed"]))
        return LaneResult(lane=lane, folder=str(self.ws.distill_dir(lane, self.run_id)), rows=rows_total,
                          by_provider=dict(sorted(counts["by_provider"].items())), files=files,
                          left_out=manifest["left_out"], mixed_rows=len(mixed) if self.mix else None)


def distill(workspace: Workspace, lanes: list[str] | None = None, mix: bool = False,
            pm: PluginManager | None = None, run_id: str | None = None,
            progress: Progress | None = None) -> DistillResult:
    """Distil the workspace's mash into lane folders; returns what was written.

    ``lanes`` defaults to ``[lanes] enabled`` of ``moonshine.toml``; ``mix``
    adds the balanced mixed-provider files; ``run_id`` defaults to
    ``distill_YYYYMMDD_HHMMSS`` (UTC) and is never reused. ``progress`` is
    called with ``(conversations done, total)``.
    """
    ws = workspace
    settings = ws.settings.lanes
    chosen = list(lanes) if lanes else list(settings.enabled)
    unknown = [lane for lane in chosen if lane not in LANES]
    if unknown:
        raise DistillError(f"unknown lane(s) {', '.join(unknown)}; lanes: {', '.join(LANES)}")
    chosen = [lane for lane in LANES if lane in chosen]
    if settings.reasoning_policy not in REASONING_POLICIES:
        raise DistillError(f"{ws.settings_path}: [lanes] reasoning_policy must be one of "
                           f"{', '.join(REASONING_POLICIES)}, not {settings.reasoning_policy!r}")
    if not 0.0 <= settings.eval_fraction < 1.0:
        raise DistillError(f"{ws.settings_path}: [lanes] eval_fraction must be in [0, 1), not {settings.eval_fraction}")
    if not ws.mash_path.exists():
        raise DistillError(f"no mash at {ws.mash_path}; merge a provider run first (moonshine merge RUN_ID)")
    run_id = run_id or new_run_id()
    if not RUN_ID_RE.match(run_id):
        raise DistillError(f"{run_id!r} is not a valid run id (letters, digits, _ . -)")
    taken = [lane for lane in chosen if ws.distill_dir(lane, run_id).exists()]
    if taken:
        raise DistillError(f"distill run {run_id} already exists for {', '.join(taken)}; choose another --run-id")
    pm = pm or make_plugin_manager()
    with ws.lock():
        staging = ws.staging_dir / run_id
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        store = Store(ws.mash_path, create=False)
        try:
            mash_hash = mash_content_sha256(store)
            redactor = Redactor(personal_literals(store))
            run = _Run(ws, chosen, mix, pm, run_id, staging, progress)
            try:
                n = run.conversations(store, redactor)
                run.orphan_comparisons(store, redactor)
            finally:
                for handle in run.spills.values():
                    handle.close()
            results = run.write(mash_hash)
            moved = []
            try:
                for lane in chosen:
                    final = ws.distill_dir(lane, run_id)
                    final.parent.mkdir(parents=True, exist_ok=True)
                    os.rename(staging / "out" / lane, final)
                    moved.append(final)
                run.record(store)
            except BaseException:
                for folder in moved:   # no half-published run
                    shutil.rmtree(folder, ignore_errors=True)
                raise
        except BaseException:
            store.close()
            shutil.rmtree(staging, ignore_errors=True)
            raise
        store.close()
        shutil.rmtree(staging, ignore_errors=True)
    return DistillResult(run_id=run_id, mash_content_sha256=mash_hash, conversations=n, lanes=results, mix=mix)
