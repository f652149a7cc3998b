"""The cattrs converter for the canonical records.

``structure`` raises :class:`~moonshine_core.errors.RecordError` whose message
lists every bad value with its JSON path (``$.messages[2].created_at``), so a
plugin author or a validation report can say exactly what is wrong.
"""

from __future__ import annotations

from typing import Any, TypeVar

import cattrs

from .errors import RecordError
from .records import RECORD_TYPES, Comparison, Conversation, Feedback, SideRecord

T = TypeVar("T")

#: Tag written into unstructured top-level records so a JSON blob says what it is.
_KIND_OF = {Conversation: "conversation", Feedback: "feedback", Comparison: "comparison", SideRecord: "side"}
_TYPE_OF = {v: k for k, v in _KIND_OF.items()}


def _make() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=True)

    def _any(value: Any, _type: Any) -> Any:
        return value

    conv.register_structure_hook(Any, _any)
    return conv


converter = _make()


def structure(data: Any, cls: type[T]) -> T:
    """Build ``cls`` from plain data, or raise ``RecordError`` naming each bad field path."""
    try:
        return converter.structure(data, cls)
    except Exception as exc:  # cattrs raises ExceptionGroups and plain errors
        if isinstance(exc, (cattrs.BaseValidationError,)):
            problems = cattrs.transform_error(exc, path="$")
        else:
            problems = [f"{exc} @ $"]
        raise RecordError(f"invalid {cls.__name__}: " + "; ".join(problems)) from exc


def unstructure(record: Any) -> Any:
    """Plain dicts and lists for a record (round-trips through :func:`structure`)."""
    return converter.unstructure(record)


def record_to_dict(record: Any) -> dict[str, Any]:
    """Unstructure a top-level record with a ``record_type`` tag."""
    if type(record) not in _KIND_OF:
        raise RecordError(f"not a top-level record: {type(record).__name__}")
    data = converter.unstructure(record)
    data["record_type"] = _KIND_OF[type(record)]
    return data


def record_from_dict(data: dict[str, Any]) -> Any:
    """Inverse of :func:`record_to_dict`."""
    data = dict(data)
    kind = data.pop("record_type", None)
    if kind not in _TYPE_OF:
        raise RecordError(f"unknown record_type {kind!r} @ $.record_type")
    return structure(data, _TYPE_OF[kind])


__all__ = ["converter", "structure", "unstructure", "record_to_dict", "record_from_dict", "RECORD_TYPES"]
