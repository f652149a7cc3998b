"""The five built-in lanes, registered through ``moonshine_lanes`` like any plugin's lane.

Each lane reads only the conversation and its :class:`~moonshine_core.lane.LaneContext`
(records from the mash), never provider names.
"""

from __future__ import annotations

from ..distill import agentic, conversational, dpo, grpo, kto
from ..hookspecs import hookimpl
from ..lane import Lane


@hookimpl
def moonshine_lanes() -> list[Lane]:
    return [dpo.LANE_SPEC, kto.LANE_SPEC, grpo.LANE_SPEC, agentic.LANE_SPEC, conversational.LANE_SPEC]
