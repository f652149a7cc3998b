"""Flat-text cleaning and Claude Code prompt classification."""

from __future__ import annotations

import pytest

from moonshine_claude.text import claude_code_prompt_kind, clean_flat_text, strip_placeholders


@pytest.mark.parametrize("placeholder", [
    "Viewing artifacts created via the Analysis Tool web feature preview isn\u2019t yet supported on mobile.",
    "This block is not supported on your current device yet.",
])
def test_placeholders_are_removed(placeholder: str) -> None:
    text = f"Before\n```\n{placeholder}\n```\n\n```\n{placeholder}\n```\nAfter"
    cleaned = clean_flat_text(text)
    assert cleaned.text == "Before\n\nAfter" and cleaned.placeholders == 2


def test_ordinary_code_fences_survive() -> None:
    text = "```\nprint(1)\n```"
    assert strip_placeholders(text) == (text, 0)


def test_unclosed_artifact_is_kept_and_flagged() -> None:
    cleaned = clean_flat_text("Sure.\n<antArtifact identifier='x' type=\"text/html\">\n<p>half")
    [artifact] = cleaned.artifacts
    assert not artifact.closed and artifact.body == "<p>half" and artifact.attributes["identifier"] == "x"
    assert cleaned.text == "Sure."


def test_multiple_thinking_tags() -> None:
    cleaned = clean_flat_text("<antThinking>one</antThinking>A<antThinking>two</antThinking>B")
    assert cleaned.thinking == ["one", "two"] and cleaned.text == "AB"


@pytest.mark.parametrize("text,kind", [
    ("<command-name>/mcp</command-name>", "command"),
    ("  <local-command-stdout>ok</local-command-stdout>", "command"),
    ("[Request interrupted by user]", "interrupt"),
    ("[Request interrupted by user for tool use]", "interrupt"),
    ("please fix <command-name> parsing", None),
    ("fix the bug", None),
])
def test_claude_code_prompt_kind(text: str, kind) -> None:
    assert claude_code_prompt_kind(text) == kind
