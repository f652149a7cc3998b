"""Moonshine provider plugin for Claude.

Reads the claude.ai "Export data" archive in every observed era (2024 text-only,
2025 content blocks, 2026 trees and per-category zips behind a manifest) and
Claude Code session logs (``~/.claude/projects/**.jsonl``) as a second format
of the same provider. See ``docs/providers/claude.md``.
"""

__version__ = "0.1.0"
#: The provider name this plugin answers to in every hook.
PROVIDER = "claude"
