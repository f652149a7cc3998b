"""Stage E: distillation lanes (DPO, GRPO, agentic code, conversational) from the mash.

>>> from moonshine_core.distill import distill
>>> result = distill(workspace, lanes=["dpo", "conversational"], mix=True)
>>> result.lanes["dpo"].rows

Lanes are built-in plugins (``moonshine_core.builtin.lanes``) answering
``moonshine_emit``; :func:`distill` runs them over the mash and writes
``reports/distillations/<lane>/<run_id>/``. See docs/lanes.md.
"""

from .context import LaneContext
from .features import load_lane
from .pipeline import DistillError, DistillResult, LaneResult, distill, new_run_id

__all__ = ["distill", "DistillResult", "LaneResult", "DistillError", "LaneContext", "new_run_id", "load_lane"]
