"""Train/eval assignment by conversation (distillation.md 4.7): never by row.

The bucket is the first 8 bytes of ``sha256(provider U+001F conversation_id)``
read as a fraction of 2**64; a conversation in a near-duplicate cluster uses
the cluster's key instead, so duplicates land together. Rows of one
conversation therefore always share a split, on every run.
"""

from __future__ import annotations

import hashlib

from ..ids import SEP


def conversation_key(provider: str, conversation_id: str) -> str:
    return f"{provider}{SEP}{conversation_id}"


def bucket(key: str) -> float:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def assign_split(key: str, eval_fraction: float) -> str:
    """``eval`` for a stable ``eval_fraction`` share of keys, else ``train``."""
    return "eval" if bucket(key) < eval_fraction else "train"
