"""Gemini's answer HTML (``safeHtmlItem[].html``) as Markdown text, with markdownify.

Why markdownify (docs/providers/gemini.md, "Answer HTML"): it is MIT-licensed,
maintained, built on BeautifulSoup (so a broken fragment still parses), and
its output keeps what a training row needs: fenced code blocks with their
language, nested bullet and numbered lists, tables, headings, links and
images. html2text (GPL-3.0) would bind the project's licence; selectolax only
parses and would leave the Markdown rendering to code we would write.

Options: ATX headings (``#``), ``-`` bullets, no backslash escaping of ``*``
and ``_`` (answers are text to learn from, not Markdown to round-trip, and
``snake_case`` must stay ``snake_case``).
"""

from __future__ import annotations

from typing import Any

from bs4 import BeautifulSoup
from markdownify import MarkdownConverter

_LANGUAGE_PREFIXES = ("language-", "lang-")


def _language(pre: Any) -> str | None:
    """The language of a ``<pre>`` block from its own or its ``<code>`` child's ``class``."""
    candidates = [pre]
    code = pre.find("code") if hasattr(pre, "find") else None
    if code is not None:
        candidates.append(code)
    for element in candidates:
        for cls in element.get("class") or []:
            for prefix in _LANGUAGE_PREFIXES:
                if cls.startswith(prefix) and len(cls) > len(prefix):
                    return cls[len(prefix):]
    return None


_CONVERTER = MarkdownConverter(heading_style="ATX", bullets="-", escape_asterisks=False, escape_underscores=False,
                               escape_misc=False, code_language_callback=_language)


def html_to_markdown(html: str) -> tuple[str, list[str]]:
    """``(Markdown text, image sources)`` of one HTML fragment."""
    soup = BeautifulSoup(html, "html.parser")
    images = []
    for img in soup.find_all("img"):
        src = img.get("src")
        if isinstance(src, str) and src and src not in images:
            images.append(src)
    return _CONVERTER.convert_soup(soup).strip(), images


def answer_text(fragments: list[str]) -> tuple[str, list[str]]:
    """The text of an answer made of one or more HTML fragments (joined by a blank line) and its images."""
    texts: list[str] = []
    images: list[str] = []
    for fragment in fragments:
        text, found = html_to_markdown(fragment)
        if text:
            texts.append(text)
        images += [i for i in found if i not in images]
    return "\n\n".join(texts), images
