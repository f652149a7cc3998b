"""Moonshine provider plugin for Gemini Apps activity from Google Takeout.

Reads ``My Activity/Gemini Apps/MyActivity.json`` (a whole Takeout zip or
folder, localized folder and file names included, or the bare file): one
activity record per prompt, grouped into conversations by the rule in
``docs/providers/gemini.md``. The answers' HTML becomes Markdown text
(markdownify).
"""

PROVIDER = "gemini"

__all__ = ["PROVIDER"]
