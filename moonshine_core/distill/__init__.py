"""Stage E: distillation lanes (DPO, KTO, GRPO, agentic code, conversational) from the mash.

>>> from moonshine_core.distill import distill
>>> result = distill(workspace, lanes=["dpo", "conversational"], mix=True)
>>> result.lanes["dpo"].rows

Lanes are :class:`~moonshine_core.lane.Lane` objects registered through the
``moonshine_lanes`` hook (the built-in ones by ``moonshine_core.builtin.lanes``);
:func:`distill` runs them over the mash and writes
``reports/distillations/<lane>/<run_id>/``. See docs/lanes.md.
"""

from ..lane import Lane, LaneContext
from .features import load_lane
from .pipeline import DistillResult, LaneResult, distill
from .request import DistillError, new_run_id

__all__ = ["distill", "DistillResult", "LaneResult", "DistillError", "Lane", "LaneContext", "new_run_id",
           "load_lane"]
