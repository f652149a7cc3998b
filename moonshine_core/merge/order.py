"""The merge order lock of ``moonshine.toml`` (``merge_order = ["qwen", "deepseek"]``).

A run of a provider listed in ``merge_order`` may not merge while a run of a
provider listed before it waits (staged, raw gates passed, not merged).
Providers not listed are not constrained.
"""

from __future__ import annotations

from ..runs import waiting_runs
from ..workspace import Workspace


def order_violation(ws: Workspace, provider: str) -> str | None:
    """Why merging a ``provider`` run now would break the lock, or ``None``."""
    order = ws.settings.merge_order
    if provider not in order:
        return None
    earlier = set(order[: order.index(provider)])
    blocking = [r.run_id for r in waiting_runs(ws) if r.provider in earlier]
    if blocking:
        return (f"merge order lock ({' -> '.join(order)}): {', '.join(blocking)} must merge before a "
                f"{provider} run")
    return None
