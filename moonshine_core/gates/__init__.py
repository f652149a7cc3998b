"""Every gate of the run lifecycle, in one package.

- :mod:`.raw`: the raw-only gates an ingest records (``gates_raw`` of the run manifest);
- :mod:`.five`: the five gates a provider run must pass (``gates``; ``moonshine gates``);
- :mod:`.refusals`: why a merge may not start, each as a one-line reason.
"""

from .five import (
    GATES,
    contamination_gate,
    evaluate_gates,
    failed,
    idempotence_gate,
    provider_tags_gate,
    reconciliation,
    source_hash_gate,
)
from .raw import RawEvidence, db_tree_problems, raw_gates
from .refusals import (
    contamination_refusal,
    merge_refusal,
    order_violation,
    remerge_refusal,
    run_count_refusal,
)

__all__ = ["GATES", "evaluate_gates", "failed", "source_hash_gate", "provider_tags_gate", "idempotence_gate",
           "reconciliation", "contamination_gate", "RawEvidence", "raw_gates", "db_tree_problems",
           "merge_refusal", "order_violation", "contamination_refusal", "remerge_refusal", "run_count_refusal"]
