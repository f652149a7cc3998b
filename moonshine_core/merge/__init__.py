"""Stage D and its undo: merging provider runs into the mash, rollback, bootstrap.

- :func:`merge_run` — one run into the mash, one transaction, gates after.
- :func:`rollback_run` — restore the premerge snapshot of the latest merge.
- :func:`bootstrap` — start an empty workspace's mash from an existing Moonshine DB.

Why a merge is refused is in :mod:`moonshine_core.gates.refusals`; the merge
history and what it means now in :mod:`moonshine_core.mergelog`.
"""

from ..mergelog import entries as merge_history
from .bootstrap import bootstrap
from .rollback import rollback_run
from .run import MergeResult, merge_run

__all__ = ["MergeResult", "bootstrap", "merge_history", "merge_run", "rollback_run"]
