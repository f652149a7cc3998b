"""Moonshine provider plugin for OpenAI Codex CLI session rollouts.

Reads one rollout file (``rollout-<time>-<uuid>.jsonl``), the whole
``~/.codex/sessions`` folder (nested ``YYYY/MM/DD``, ``archived_sessions``), or
a zip of either; also the 2025 TypeScript CLI's ``rollout-*.json`` files. One
rollout file is one conversation. See ``docs/providers/codex.md`` and
``docs/formats/codex.md``.
"""

PROVIDER = "codex"

__all__ = ["PROVIDER"]
