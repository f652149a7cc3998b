"""Moonshine provider plugin for Qwen chat exports (chat.qwen.ai, an Open WebUI fork).

Reads the "Export Chats" envelope ``{success, request_id, data: [...]}`` and the
per-chat download (a top-level array of conversations). See
``docs/providers/qwen.md`` for the mapping from export fields to records.
"""

from __future__ import annotations

__version__ = "0.1.0"
PROVIDER = "qwen"
