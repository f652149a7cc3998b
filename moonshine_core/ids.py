"""Identity and content hashes (DESIGN.md section 4).

A message's ``record_uid`` is the sha256 of provider, conversation id and
message id joined by U+001F; a conversation's, of provider and conversation
id. The run id is deliberately not hashed in: the same message in next month's
export is the same row.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

SEP = "\x1f"


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def conversation_uid(provider: str, conversation_id: str) -> str:
    """``record_uid`` of a conversation row."""
    return _sha256_text(SEP.join((provider, conversation_id)))


def message_uid(provider: str, conversation_id: str, message_id: str) -> str:
    """``record_uid`` of a message row."""
    return _sha256_text(SEP.join((provider, conversation_id, message_id)))


def side_uid(provider: str, table: str, record_id: str) -> str:
    """``record_uid`` of a feedback, comparison or side row: provider, table and the provider's id."""
    return _sha256_text(SEP.join((provider, table, record_id)))


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace: the form every content hash is taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_sha256(value: Any) -> str:
    """sha256 of the canonical JSON of ``value``."""
    return _sha256_text(canonical_json(value))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    """sha256 of UTF-8 text (the token cache key)."""
    return _sha256_text(text)
