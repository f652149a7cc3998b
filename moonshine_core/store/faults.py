"""Named fault points, for the fault-injection tests only (tests/test_faults.py).

Inert unless the environment variable ``MOONSHINE_FAULT`` is set when this
module is first imported (it is read once): ``MOONSHINE_FAULT=merge.after_commit``
ends the process at that point as SIGKILL would (``os._exit``, no cleanup, no
``finally``), and ``MOONSHINE_FAULT=merge.after_commit:enospc`` raises the
``OSError`` a full disk gives there instead. Operators never set it.
"""

from __future__ import annotations

import errno
import os

#: Every fault point, in the order a command passes them. Tests iterate over these.
POINTS = (
    "archive.mid_copy",           # run files copied into the .partial folder, source export not yet
    "archive.before_snapshot",    # archive folder renamed into place, mash not yet snapshotted
    "archive.after_snapshot",     # snapshot file in place, its sha256 and snapshot.json not yet written
    "merge.before_commit",        # rows upserted and the log entry inserted, transaction not committed
    "merge.after_commit",         # committed (in the WAL), not checkpointed, nothing else written
    "merge.after_checkpoint",     # mash settled, main ledger and merge manifest not yet rewritten
    "merge.after_ledger",         # main ledger rewritten, merge manifest not yet
    "merge.after_manifest",       # merge manifest rewritten, gates not yet evaluated
    "merge.after_gates",          # gates recorded in the run manifest, not yet in the merge manifest
    "rollback.after_intent",      # rollback recorded as pending in the manifest, mash not yet restored
    "rollback.after_restore",     # mash replaced by the snapshot, ledger and manifest not yet rewritten
    "rollback.after_ledger",      # main ledger rewritten, manifest not yet
    "distill.after_record",       # lane folders recorded pending in the mash, not yet moved
    "distill.mid_publish",        # the first lane folder moved into place, the others not yet
    "distill.after_publish",      # every folder in place, the record still pending
)

KILLED = 137  # what a shell reports for SIGKILL

_SPEC = os.environ.get("MOONSHINE_FAULT", "")
_POINT, _, _MODE = _SPEC.partition(":")


def fault_point(name: str) -> None:
    """Die (or fail as a full disk would) here if ``MOONSHINE_FAULT`` names this point; else nothing."""
    if _POINT and name == _POINT:
        if _MODE == "enospc":
            raise OSError(errno.ENOSPC, f"No space left on device (fault point {name})")
        os._exit(KILLED)
