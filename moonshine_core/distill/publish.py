"""Publishing a distill run: lane folders move from staging into ``reports/distillations``, all or none."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from ..store import Store
from ..store import corpus as mash
from ..workspace import Workspace


def publish(ws: Workspace, store: Store, run_id: str, staged: dict[str, Path], distilled: Iterable[tuple]) -> None:
    """Move each staged lane folder into place, then record which conversations fed which lane.

    A failure part-way removes the folders already moved, so no half-published
    run is ever visible.
    """
    moved: list[Path] = []
    try:
        for lane, folder in staged.items():
            final = ws.distill_dir(lane, run_id)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(folder, final)
            moved.append(final)
        mash.record_distilled(store, distilled)
    except BaseException:
        for folder in moved:
            shutil.rmtree(folder, ignore_errors=True)
        raise
