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

import orjson

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


_ORJSON_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace: the form every content hash is taken over.

    orjson writes it about ten times faster than the standard library (it runs once or more per
    stored message); values orjson refuses (integers beyond 64 bits, lone surrogates) fall back to
    ``json`` for the whole value, so one value always takes one path and hashes the same.
    """
    try:
        return orjson.dumps(value, option=_ORJSON_CANONICAL, default=str).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def compact_json(value: Any) -> str:
    """JSON in the value's own key order without insignificant whitespace (raw records as read)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def content_sha256(value: Any) -> str:
    """sha256 of the canonical JSON of ``value``."""
    return _sha256_text(canonical_json(value))


def sha256_text(text: str) -> str:
    """sha256 of UTF-8 text (the token cache key)."""
    return _sha256_text(text)
