"""Builders for synthetic rollout lines and helpers that parse and normalise an export (tests only)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from moonshine_core.records import Conversation
from moonshine_core.testing import normalize_all, plugin_manager_for

from moonshine_codex.plugin import SAMPLES_DIR, plugin

HOME = SAMPLES_DIR / "codex_home"


def _sample(pattern: str, root: Path = HOME) -> Path:
    return next(root.glob(pattern))


FILE_A, FILE_B, FILE_C, FILE_SEGMENT = (_sample(f"sessions/{day}/rollout-*.jsonl")
                                        for day in ("2025/10/14", "2026/03/02", "2026/03/05", "2026/09/09"))
FILE_LEGACY = _sample("archived_sessions/rollout-*.jsonl")
FILE_E, FILE_TS = _sample("rollout-2026-*.jsonl", SAMPLES_DIR), _sample("rollout-*.json", SAMPLES_DIR)
SID = "c0de0000-0000-4000-8000-0000000000aa"


def pm():
    return plugin_manager_for("codex", plugin)


def env(kind: str, payload: dict, ts: str = "2026-02-01T10:00:00.000Z") -> dict:
    return {"timestamp": ts, "type": kind, "payload": payload}


def meta(sid: str = SID, **extra: Any) -> dict:
    return env("session_meta", {"id": sid, "timestamp": "2026-02-01T10:00:00.000Z", "cwd": "/w", **extra})


def item(payload: dict, ts: str = "2026-02-01T10:00:01.000Z") -> dict:
    return env("response_item", payload, ts)


def event(payload: dict) -> dict:
    return env("event_msg", payload)


def user(text: str) -> dict:
    return item({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})


def assistant(text: str) -> dict:
    return item({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]})


def call(cid: str, name: str = "shell", args: Any = None) -> dict:
    return item({"type": "function_call", "name": name, "arguments": json.dumps(args or {"command": ["ls"]}),
                 "call_id": cid})


def output(cid: str, out: Any) -> dict:
    return item({"type": "function_call_output", "call_id": cid, "output": out})


def write_rollout(folder: Path, records: list, *, sid: str = SID, name: str | None = None, tail: str = "") -> Path:
    path = folder / (name or f"rollout-2026-02-01T10-00-00-{sid}.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail, encoding="utf-8")
    return path


def zip_folder(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for member in sorted(folder.rglob("*")):
            if member.is_file():
                archive.write(member, member.relative_to(folder).as_posix())
    return target


def normalise(path: Path) -> tuple[list[Conversation], list[Any], list[str]]:
    """(conversations, all records, normalise failures) of an export, through the contract kit's reader."""
    records, failures = normalize_all(pm(), "codex", path)
    return [r for r in records if isinstance(r, Conversation)], records, failures


def one(path: Path) -> tuple[Conversation, dict]:
    convs, _, failures = normalise(path)
    assert not failures, failures
    assert len(convs) == 1, [c.conversation_id for c in convs]
    return convs[0], {m.message_id: m for m in convs[0].messages}
