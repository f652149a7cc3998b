"""The provenance block every row carries (distillation.md sections 4.2 and 4.7).

The pipeline finishes each row a lane (built-in or plugin) returns: it
redacts secrets and PII in the training payload, hashes the payload, derives
the stable ``record_uid`` and stamps the provenance and signal columns.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any

from .. import __version__
from ..ids import SEP, canonical_json
from .dedup import NEAR_DUP_NUM_PERM, NEAR_DUP_SHINGLE, NEAR_DUP_THRESHOLD
from .textsignals import SIGNALS_VERSION, Redactor

#: Version of the row schemas in docs/lanes.md; part of every record_uid.
ROW_SCHEMA_VERSION = "1"

_TRAILING_WS = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalise_text(text: str) -> str:
    """NFC, ``\\r\\n`` to ``\\n``, no trailing spaces per line, runs of blank lines collapsed (4.7)."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return _BLANK_RUNS.sub("\n\n", _TRAILING_WS.sub("", text))


def _normalised(value: Any) -> Any:
    if isinstance(value, str):
        return normalise_text(value)
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items()}
    return value


def payload_sha256(row: dict[str, Any], columns: tuple[str, ...]) -> str:
    """``content_sha256``: sha256 of the canonical JSON of the normalised payload columns."""
    payload = {c: row[c] for c in columns if c in row}
    return hashlib.sha256(canonical_json(_normalised(payload)).encode("utf-8")).hexdigest()


def record_uid(lane: str, provider: str, conversation_id: str, source_message_ids: list[str], variant: str) -> str:
    """Stable across re-imports and redaction changes: schema version, lane, provider, conversation,
    ordered source ids and a variant tag; never the run id, never the text (4.7)."""
    key = SEP.join((f"v{ROW_SCHEMA_VERSION}", lane, provider, conversation_id, ",".join(source_message_ids), variant))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def redact_value(value: Any, redactor: Redactor) -> Any:
    """Redact every string inside ``value``; tool-call arguments (JSON strings) are redacted inside."""
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, list):
        return [redact_value(v, redactor) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "arguments" and isinstance(item, str):
                out[key] = _redact_json_string(item, redactor)
            else:
                out[key] = redact_value(item, redactor)
        return out
    return value


def _redact_json_string(text: str, redactor: Redactor) -> str:
    try:
        decoded = json.loads(text)
    except ValueError:
        return redactor.redact(text)
    return json.dumps(redact_value(decoded, redactor), ensure_ascii=False, sort_keys=True)


def signals_generator(extra: dict[str, Any] | None = None) -> str:
    """JSON naming the tools, versions and thresholds that produced a row's signals (Magpie-style)."""
    data = {"moonshine_core": __version__, "textsignals": SIGNALS_VERSION,
            "near_dup": {"library": "datasketch", "num_perm": NEAR_DUP_NUM_PERM,
                         "threshold": NEAR_DUP_THRESHOLD, "shingle": NEAR_DUP_SHINGLE},
            **(extra or {})}
    return canonical_json(data)
