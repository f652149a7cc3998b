"""Stage D and its undo: merging provider runs into the mash, rollback, bootstrap, history.

- :func:`merge_run` — one run into the mash, one transaction, gates after.
- :func:`rollback_run` — restore the premerge snapshot of the latest merge.
- :func:`bootstrap` — start an empty workspace's mash from an existing Moonshine DB.
"""

from .bootstrap import bootstrap
from .history import entries as merge_history
from .rollback import rollback_run
from .run import MergeResult, merge_refusal, merge_run, refresh_main_ledger

__all__ = ["merge_run", "merge_refusal", "MergeResult", "rollback_run", "bootstrap", "merge_history",
           "refresh_main_ledger"]
