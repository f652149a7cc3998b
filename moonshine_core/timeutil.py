"""Time normalisation shared by provider plugins: everything becomes UTC epoch seconds."""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

# Above this an epoch value cannot be seconds (it would be past the year 2286): treat it as ms.
_MS_THRESHOLD = 1e10


def to_epoch(value: Any) -> float | None:
    """Return ``value`` as UTC epoch seconds, or ``None`` when it is not a time.

    Accepts epoch seconds or milliseconds (int, float or numeric string; values
    of 1e10 and more are taken as milliseconds), and ISO 8601 strings with or
    without an offset (naive strings are taken as UTC, a trailing ``Z`` is
    understood). Never raises.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            return _parse_iso(text)
    else:
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    if abs(number) >= _MS_THRESHOLD:
        number /= 1000.0
    return number


def _parse_iso(text: str) -> float | None:
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return parsed.timestamp()


def utc_now_iso() -> str:
    """The current time as an ISO 8601 UTC string with seconds precision."""
    return _dt.datetime.now(tz=_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def epoch_to_iso(epoch: float | None) -> str | None:
    """``YYYY-MM-DDTHH:MM:SSZ`` for UTC epoch seconds; ``None`` for no time or one that is not a
    calendar date (a millisecond value stored as seconds lands past the year 9999). Never raises."""
    if epoch is None or isinstance(epoch, bool):
        return None
    try:
        return _dt.datetime.fromtimestamp(float(epoch), tz=_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError, TypeError):
        return None

