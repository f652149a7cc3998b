"""Moonshine provider plugin for ChatGPT "Export data" archives.

Reads the official export (zip, extracted folder, bare ``conversations.json``,
the 2026 sharded ``conversations-NNN.json`` layout, a ``{"conversations": [...]}``
wrapper) and its side files (``message_feedback.json``,
``model_comparisons.json``, ``shared_conversations.json``, ``user.json``) into
Moonshine's canonical records. See ``docs/providers/chatgpt.md``.
"""

__version__ = "0.1.0"

#: The provider name this plugin answers to (entry point, hook ``provider`` argument).
PROVIDER = "chatgpt"
