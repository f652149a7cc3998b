"""``distill --mix``: a mixed-provider set, built only after per-provider quality balancing.

For each lane, rows are first filtered (a row carrying any of
:data:`MIX_EXCLUDE_FLAGS` is left out, with the flag as the reason), then
ranked within their provider by ``quality_score`` (highest first; ties by
``record_uid``), then each provider contributes its share:

- ``[mix] quotas = {chatgpt = 1000}``: at most that many rows; a provider not
  named contributes nothing (``not_in_quotas``).
- ``[mix] weights = {claude = 2, chatgpt = 1}``: shares proportional to the
  weights, the total as large as every weighted provider can fill; a provider
  not named (or weighted 0) contributes nothing (``not_in_weights``).
- both: weights set the shares, quotas cap them.
- neither: equal weights over the providers present (balanced by default).

The report says what each provider had, what it contributed and why the rest
was left out.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import attrs

from ..workspace import MixSettings

#: Flags that keep a row out of a mixed set (the per-provider files keep them, marked).
MIX_EXCLUDE_FLAGS = ("exact_duplicate", "near_duplicate", "near_identical_pair", "both_refusals",
                     "answer_in_prompt", "tool_loop")


@attrs.define
class MixCandidate:
    record_uid: str
    provider: str
    quality: float
    flags: list[str]


def plan_mix(candidates: list[MixCandidate], settings: MixSettings) -> tuple[set[str], dict[str, Any]]:
    """The record uids to put in the mixed set, and the per-provider report."""
    by_provider: dict[str, list[MixCandidate]] = {}
    for c in candidates:
        by_provider.setdefault(c.provider, []).append(c)
    report: dict[str, Any] = {}
    eligible: dict[str, list[MixCandidate]] = {}
    for provider in sorted(by_provider):
        rows = by_provider[provider]
        reasons: Counter[str] = Counter()
        ok = []
        for c in rows:
            bad = [f for f in MIX_EXCLUDE_FLAGS if f in c.flags]
            if bad:
                reasons[bad[0]] += 1
            else:
                ok.append(c)
        ok.sort(key=lambda c: (-c.quality, c.record_uid))
        eligible[provider] = ok
        report[provider] = {"available": len(rows), "eligible": len(ok), "left_out": dict(sorted(reasons.items()))}
    weights = dict(settings.weights)
    quotas = dict(settings.quotas)
    mode = "weights" if weights else ("quotas" if quotas else "equal_weights")
    if not weights and not quotas:
        weights = {p: 1.0 for p in eligible}
    targets: dict[str, int] = {}
    if weights:
        active = {p: float(w) for p, w in weights.items() if p in eligible and w > 0 and eligible[p]}
        total_w = sum(active.values())
        if active:
            # The largest total every weighted provider can fill at its share.
            size = min(len(eligible[p]) * total_w / w for p, w in active.items())
            for p, w in active.items():
                targets[p] = int(math.floor(size * w / total_w + 1e-9))
        missing_reason = "not_in_weights"
    else:
        missing_reason = "not_in_quotas"
    if quotas:
        for p in eligible:
            cap = quotas.get(p)
            if cap is None:
                if not weights or mode == "quotas":
                    targets.pop(p, None)
                continue
            targets[p] = min(int(cap), targets.get(p, len(eligible[p])) if weights else len(eligible[p]))
    chosen: set[str] = set()
    for provider, ok in eligible.items():
        take = targets.get(provider, 0)
        picked = ok[:take]
        chosen.update(c.record_uid for c in picked)
        entry = report[provider]
        entry["contributed"] = len(picked)
        entry["target"] = take
        if provider not in targets:
            entry["left_out"][missing_reason] = entry["eligible"]
        elif len(ok) > take:
            entry["left_out"]["over_share"] = len(ok) - take
        entry["left_out"] = dict(sorted(entry["left_out"].items()))
    return chosen, {"mode": mode, "weights": dict(sorted(settings.weights.items())),
                    "quotas": dict(sorted(settings.quotas.items())), "exclude_flags": list(MIX_EXCLUDE_FLAGS),
                    "providers": report, "rows": len(chosen)}
