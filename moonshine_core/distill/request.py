"""What a ``distill`` call asks for, checked before anything is read: lanes, settings, run id."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import attrs

from ..errors import MoonshineError
from ..lane import Lane
from ..plugins import PluginManager
from ..store import publications
from ..store.db import connect
from ..workspace import LaneSettings, MixSettings, Workspace
from .messages import REASONING_POLICIES

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class DistillError(MoonshineError):
    """A distillation that cannot run (no mash, bad settings, run id taken)."""


def new_run_id(now: datetime | None = None) -> str:
    """``distill_YYYYMMDD_HHMMSS`` in UTC."""
    return (now or datetime.now(timezone.utc)).strftime("distill_%Y%m%d_%H%M%S")


@attrs.frozen
class DistillPlan:
    """A checked request: the lanes to build (in registration order), settings and the run id."""

    run_id: str
    lanes: tuple[Lane, ...]
    settings: LaneSettings
    mix_settings: MixSettings
    mix: bool


def plan_distill(ws: Workspace, pm: PluginManager, lanes: list[str] | None, mix: bool,
                 run_id: str | None, verify_code: bool | None = None) -> DistillPlan:
    """Check a request against the registered lanes, ``moonshine.toml`` and the workspace.

    ``lanes`` defaults to ``[lanes] enabled``, and that to every registered
    lane; ``verify_code``, when given, overrides ``[lanes] verify_code``.
    Raises :class:`DistillError` with what to change.
    """
    settings = ws.settings.lanes
    if verify_code is not None:
        settings = attrs.evolve(settings, verify_code=verify_code)
    registered = pm.lanes()
    wanted = list(lanes) if lanes else (list(settings.enabled) if settings.enabled is not None else list(registered))
    unknown = [lane for lane in wanted if lane not in registered]
    if unknown:
        raise DistillError(f"unknown lane(s) {', '.join(unknown)}; lanes: {', '.join(registered) or 'none registered'}")
    if settings.reasoning_policy not in REASONING_POLICIES:
        raise DistillError(f"{ws.settings_path}: [lanes] reasoning_policy must be one of "
                           f"{', '.join(REASONING_POLICIES)}, not {settings.reasoning_policy!r}")
    if not 0.0 <= settings.eval_fraction < 1.0:
        raise DistillError(f"{ws.settings_path}: [lanes] eval_fraction must be in [0, 1), not {settings.eval_fraction}")
    if settings.sandbox_timeout_s <= 0 or settings.sandbox_memory_mb < 64:
        raise DistillError(f"{ws.settings_path}: [lanes] sandbox_timeout_s must be > 0 and sandbox_memory_mb "
                           f">= 64, not {settings.sandbox_timeout_s} and {settings.sandbox_memory_mb}")
    if not ws.mash_path.exists():
        raise DistillError(f"no mash at {ws.mash_path}; merge a provider run first (moonshine merge RUN_ID)")
    run_id = run_id or new_run_id()
    if not RUN_ID_RE.match(run_id):
        raise DistillError(f"{run_id!r} is not a valid run id (letters, digits, _ . -)")
    chosen = tuple(lane for name, lane in registered.items() if name in wanted)
    taken = [lane.name for lane in chosen if ws.distill_dir(lane.name, run_id).exists()]
    if taken:
        raise DistillError(f"distill run {run_id} already exists for {', '.join(taken)}; choose another --run-id")
    conn = connect(ws.mash_path, readonly=True)
    try:
        if publications.is_recorded(conn, run_id):
            raise DistillError(f"distill run id {run_id} was used before (the mash records it; `moonshine gc` "
                               "may have removed its folders); choose another --run-id")
    finally:
        conn.close()
    return DistillPlan(run_id=run_id, lanes=chosen, settings=settings, mix_settings=ws.settings.mix, mix=mix)
