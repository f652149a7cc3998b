"""Moonshine provider plugin for DeepSeek chat exports.

Reads the official export (``deepseek_data-*.zip`` with ``conversations.json``
and ``user.json``, or a bare ``conversations.json``) and the two web-API
``history_messages`` shapes that third-party exporters save (flat and
fragments). See ``docs/providers/deepseek.md``.
"""

PROVIDER = "deepseek"

__all__ = ["PROVIDER"]
