"""The corpus pass: decisions that need every row of a lane at once.

After every conversation was emitted: exact-duplicate groups per lane,
near-duplicate clusters across providers, the train/eval split by
conversation (or by cluster, so near-duplicates never straddle the split),
and the balanced ``--mix`` selection. They mark rows, never drop them.
"""

from __future__ import annotations

import hashlib
from typing import Any

import attrs

from ..workspace import MixSettings
from .dedup import exact_groups
from .mix import MixCandidate, plan_mix
from .split import assign_split


@attrs.frozen
class RowFacts:
    """What the corpus pass keeps in memory of one finished row (the row itself is spilled to disk)."""

    uid: str
    content_sha256: str
    key: str
    provider: str
    quality: float
    flags: tuple[str, ...]


@attrs.define
class LaneDecisions:
    """One lane's corpus decisions, applied to each row as it is written."""

    duplicate_of: dict[str, str]
    clusters: dict[str, str]
    split_of: dict[str, str]
    mixed: set[str]
    mix_report: dict[str, Any] | None

    def duplicate_flags(self, uid: str, key: str) -> set[str]:
        """``exact_duplicate`` / ``near_duplicate`` when the row is not its group's representative."""
        flags = set()
        if uid in self.duplicate_of and self.duplicate_of[uid] != uid:
            flags.add("exact_duplicate")
        cluster = self.clusters.get(key)
        if cluster is not None and cluster != key:
            flags.add("near_duplicate")
        return flags

    def apply(self, row: dict[str, Any], key: str) -> dict[str, Any]:
        """``row`` with its duplicate marks, cluster, flags and split filled in."""
        uid = row["record_uid"]
        cluster = self.clusters.get(key)
        row["exact_dup_group"] = self.duplicate_of.get(uid)
        row["near_dup_cluster"] = hashlib.sha256(cluster.encode()).hexdigest()[:16] if cluster else None
        row["is_cluster_rep"] = cluster is None or cluster == key
        row["filter_flags"] = sorted(set(row["filter_flags"]) | self.duplicate_flags(uid, key))
        row["split"] = self.split_of[uid]
        return row


def decide(facts: list[RowFacts], clusters: dict[str, str], eval_fraction: float, *,
           mix: bool, mix_settings: MixSettings) -> LaneDecisions:
    """Duplicates, split and (with ``mix``) the mixed selection for one lane's rows."""
    duplicate_of = exact_groups((f.uid, f.content_sha256) for f in facts)
    split_of = {f.uid: assign_split(clusters.get(f.key, f.key), eval_fraction) for f in facts}
    decisions = LaneDecisions(duplicate_of=duplicate_of, clusters=clusters, split_of=split_of, mixed=set(),
                              mix_report=None)
    if mix:
        candidates = [MixCandidate(f.uid, f.provider, f.quality,
                                   list(f.flags) + sorted(decisions.duplicate_flags(f.uid, f.key)))
                      for f in facts]
        decisions.mixed, decisions.mix_report = plan_mix(candidates, mix_settings)
    return decisions
