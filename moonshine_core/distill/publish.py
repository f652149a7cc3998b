"""Publishing a distill run: lane folders move from staging into ``reports/distillations``, all or none.

The mash is the record of what is published (``store.publications``): the
run's ``distilled_conversations`` rows and a ``pending`` entry naming its
folders are committed first, in one transaction; then the folders move into
place; then the entry is marked ``published``. A failure part-way withdraws
the run (removes the folders already moved and the rows). A run killed
part-way is settled by the next command that takes the workspace lock
(:func:`moonshine_core.store.publications.recover`): every folder in place →
published, otherwise withdrawn. ``moonshine status`` does not count a pending
run's conversations.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..store import Store
from ..store import corpus as mash
from ..store import publications
from ..store.faults import fault_point
from ..workspace import Workspace


def publish(ws: Workspace, store: Store, run_id: str, staged: dict[str, Path], distilled: Iterable[tuple]) -> None:
    """Record the run as pending in the mash, move each staged lane folder into place, mark it published.

    Call under the workspace lock. Earlier runs left pending by a killed
    distill are settled first.
    """
    publications.recover(store.conn, ws.root)
    finals = {lane: ws.distill_dir(lane, run_id) for lane in staged}
    with store.conn:
        mash.record_distilled(store, distilled)
        publications.record_pending(store.conn, run_id,
                                    {lane: str(path.relative_to(ws.root)) for lane, path in finals.items()})
    fault_point("distill.after_record")
    try:
        for n, (lane, folder) in enumerate(staged.items()):
            finals[lane].parent.mkdir(parents=True, exist_ok=True)
            os.rename(folder, finals[lane])
            if n == 0:
                fault_point("distill.mid_publish")
        fault_point("distill.after_publish")
        publications.mark_published(store.conn, run_id)
    except BaseException:
        publications.recover(store.conn, ws.root)  # withdraws the run unless every folder made it
        raise
