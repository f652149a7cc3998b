"""Side files of a claude.ai export as SideRecords: users, projects, memories, design chats, reflections,
published artifacts (frames) and the late-2026 manifest."""

from __future__ import annotations

from typing import Any

from moonshine_core.errors import NormalizeError
from moonshine_core.provider import as_dict, as_id, as_str, fallback_id
from moonshine_core.records import RawRecord, SideRecord

#: The field that identifies each kind of side record, in order of preference.
_ID_FIELDS = {
    "user": ("uuid",), "project": ("uuid",), "memory": ("account_uuid", "uuid"),
    "design_chat": ("uuid",), "reflection": ("uuid",), "frame": ("uuid", "id", "artifact_id"),
    "manifest": (),
}


def memory_texts(data: dict) -> list[str]:
    """What a memory says about the user, as text: ``conversations_memory``, every project memory and
    the 2026 ``memory_files[].content``. The core reads it (``profile_text``) for the names and places
    to redact from datasets (docs/lanes.md, "Personal data")."""
    texts = [data.get("conversations_memory")]
    projects = data.get("project_memories")
    if isinstance(projects, dict):
        texts.extend(projects[k] for k in sorted(projects))
    for item in data.get("memory_files") or []:
        if isinstance(item, dict):
            texts.append(item.get("content"))
    return [t for t in texts if isinstance(t, str) and t.strip()]


def normalize_side(raw: RawRecord) -> list[SideRecord]:
    """One SideRecord; users and memories are ``personal`` (provenance only, never in a dataset)."""
    context = as_dict(raw.context)
    kind = as_str(context.get("side_kind")) or "unknown"
    data = raw.data
    if not isinstance(data, dict):
        raise NormalizeError(f"{kind} record is a {type(data).__name__}, not a JSON object")
    ids = (as_id(data.get(field)) for field in _ID_FIELDS.get(kind, ("uuid",)))
    record_id = next((i for i in ids if i is not None), None)
    if record_id is None and kind in ("memory", "reflection", "design_chat", "project"):
        record_id = as_str(context.get("file_stem"))   # 2026 layout: the file is named by its uuid
    if record_id is None:
        record_id = fallback_id(data)
    value: dict[str, Any] = {"source": {"member": raw.member, "index": raw.index, "variant": raw.variant},
                             "value": data}
    if kind == "memory":
        value["profile_text"] = memory_texts(data)
    if kind == "manifest":
        value["listed_files"] = context.get("listed_files", [])
        value["missing_files"] = context.get("missing_files", [])
    unknown = [] if kind in _ID_FIELDS else [f"side_kind:{kind}"]
    return [SideRecord(kind=kind, record_id=record_id, personal=bool(context.get("personal")), data=value,
                       unknown_shapes=unknown, raw=data)]
