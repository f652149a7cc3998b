"""Builders for synthetic Qwen exports (written from docs/formats/qwen.md §1-5, never copied from real exports)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from moonshine_qwen.plugin import plugin as qwen_plugin
from moonshine_core.records import Comparison, Conversation, Feedback, RawRecord
from moonshine_core.sources import ExportSource
from moonshine_core.testing import plugin_manager_for

T0 = 1767225600  # 2026-01-01T00:00:00Z


def user(mid: str, text: str = "question", parent: str | None = None, children: list[str] | None = None,
         t: Any = T0, **extra: Any) -> dict[str, Any]:
    node = {"id": mid, "role": "user", "content": text, "models": ["qwen3-max"], "chat_type": "t2t",
            "parentId": parent, "childrenIds": list(children or []), "files": [], "timestamp": t}
    node.update(extra)
    return node


def block(phase: str, content: Any = "", *, usage: dict | None = None, extra: Any = None,
          role: str = "assistant", status: str = "finished") -> dict[str, Any]:
    return {"content": content, "phase": phase, "status": status, "extra": extra, "role": role, "usage": usage}


def usage(inp: int, out: int, reasoning: int = 0) -> dict[str, Any]:
    return {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out,
            "output_tokens_details": {"reasoning_tokens": reasoning}}


def assistant(mid: str, parent: str | None, children: list[str] | None = None, t: Any = T0 + 5,
              blocks: list[dict] | None = None, *, answer: str | None = "answer", model: str | None = "qwen3-max",
              idx: int | None = 0, **extra: Any) -> dict[str, Any]:
    if blocks is None:
        blocks = [block("answer", answer)] if answer is not None else []
    node: dict[str, Any] = {"id": mid, "role": "assistant", "content": "", "reasoning_content": None,
                            "model": model, "modelName": "Qwen3-Max", "parentId": parent,
                            "childrenIds": list(children or []), "content_list": blocks, "timestamp": t,
                            "feedbackId": None, "annotation": None, "done": True, "is_stop": False,
                            "extra": {"endTime": (t if isinstance(t, (int, float)) else T0) + 2.5}}
    if idx is not None:
        node["modelIdx"] = idx
    node.update(extra)
    return node


def conversation(cid: str = "conv-1", nodes: list[dict] | None = None, current: str | None = None,
                 *, messages: list[dict] | None = None, **extra: Any) -> dict[str, Any]:
    """A conversation whose ``chat.history.messages`` holds ``nodes`` (deliberately reversed: the map is unordered)."""
    history: dict[str, Any] = {"messages": {n["id"]: n for n in reversed(nodes or [])}, "currentId": current}
    chat: dict[str, Any] = {"history": history, "models": ["qwen3-max"]}
    if messages is not None:
        chat["messages"] = messages
    conv = {"id": cid, "user_id": "user-1", "title": f"title {cid}", "chat": chat, "created_at": T0,
            "updated_at": T0 + 100, "meta": {"tags": []}, "currentId": current, "chat_type": "t2t"}
    conv.update(extra)
    return conv


def simple_conversation(cid: str = "conv-1") -> dict[str, Any]:
    return conversation(cid, [user("u1", children=["a1"]), assistant("a1", "u1")], current="a1")


def envelope(convs: list[dict]) -> dict[str, Any]:
    return {"success": True, "request_id": "req-0001", "data": convs}


def write(tmp_path: Path, data: Any, name: str = "chat-export.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def manager():
    """A plugin manager holding only this plugin (registered directly, no entry point needed)."""
    return plugin_manager_for("qwen", qwen_plugin)


def raws(path: Path) -> list[RawRecord]:
    with ExportSource(path) as source:
        return list(manager().parse("qwen", source))


def records(path: Path) -> list[Any]:
    pm = manager()
    out: list[Any] = []
    with ExportSource(path) as source:
        for raw in pm.parse("qwen", source):
            out.extend(pm.normalize("qwen", raw))
    return out


def normalize_one(conv: Any, variant: str = "export_all") -> list[Any]:
    raw = RawRecord(kind="conversation", data=conv, member="chat-export.json", index=0, variant=variant)
    return manager().normalize("qwen", raw)


def conversation_of(conv: Any) -> Conversation:
    found = [r for r in normalize_one(conv) if isinstance(r, Conversation)]
    assert len(found) == 1
    return found[0]


def comparisons(conv: Any) -> list[Comparison]:
    return [r for r in normalize_one(conv) if isinstance(r, Comparison)]


def feedback(conv: Any) -> list[Feedback]:
    return [r for r in normalize_one(conv) if isinstance(r, Feedback)]


def by_id(conversation: Conversation) -> dict[str, Any]:
    return {m.message_id: m for m in conversation.messages}


__all__ = ["T0", "user", "assistant", "block", "usage", "conversation",
           "simple_conversation", "envelope", "write", "manager", "raws", "records", "normalize_one",
           "conversation_of", "comparisons", "feedback", "by_id"]
