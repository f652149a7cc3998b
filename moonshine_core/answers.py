"""Final answers and program outputs: finding them in text and normalising them for comparison.

The GRPO lane uses these to find a gold answer in a logged reply and to decide
whether a logged program output can be compared at all; the reward functions
(:mod:`moonshine_core.rewards`) use the same functions on a model's
completion, so gold and candidate are always read by one rule.

Everything here is plain text work (no sympy): cheap enough to run on every
message of a mash and on every completion of a training step.
"""

from __future__ import annotations

import re

#: What ChatGPT's code interpreter logs in place of a plot or an image.
IMAGE_MARKER = "<<ImageDisplayed>>"
#: Longest final answer :func:`extract_final_answer` returns from an ``Answer:`` line.
MAX_ANSWER_CHARS = 200

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_FENCES = frozenset({"", "python", "py", "python3", "ipython", "ipython3", "jupyter"})
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_LINE = re.compile(r"(?im)^\s*(?:[#>*-]\s*)*(?:\*\*)?(?:final answer|answer|result)(?:\*\*)?\s*[:：]\s*(.+?)\s*$")
_ANSWER_IS = re.compile(r"(?i)\b(?:the\s+)?(?:final\s+)?answer\s+is\s*:?\s*(.+?)\s*$")
_FINAL_EQ = re.compile(r"=\s*\$?(-?\d[\d,]*(?:\.\d+)?(?:\s*[a-zA-Z%°]+)?)\$?\s*\.?\s*$")
_FINAL_MATH = re.compile(r"(?:\bis|\bare|\bequals|=|≈)\s*(?:\\\((.+?)\\\)|\$\$?([^$]+?)\$\$?|\\\[(.+?)\\\])\s*[.!]?\s*$")
_FINAL_BOLD = re.compile(r"(?:\bis|\bare|\bequals|=)\s*\*\*([^*]+?)\*\*\s*[.!]?\s*$")
_BARE_NUMBER = re.compile(r"^\$?\s*(-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?)\s*\$?\s*\.?$")
_WRAPPERS = (("**", "**"), ("\\(", "\\)"), ("\\[", "\\]"), ("$$", "$$"), ("$", "$"), ("`", "`"))
_TEXT_MACRO = re.compile(r"\\(?:text|mathrm|textbf|mbox)\{([^{}]*)\}")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
#: ``path.py:12: UserWarning: ...`` (the next, indented line quotes the source), ``UserWarning: ...``.
_WARNING = re.compile(r"^(?:\S.*?:\d+: )?[A-Z]\w*Warning: ")
_LOCATED = re.compile(r"^\S.*?:\d+: ")
_EMPTY_DISPLAYS = frozenset({"", "''", '""', "[]", "{}", "()", "set()", "None"})


def code_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, code)`` of every fenced block (an unclosed last fence runs to the end)."""
    return [(lang.lower(), body) for lang, body in _FENCE.findall(text or "")]


def prose(text: str) -> str:
    """``text`` without its fenced code blocks (an ``Answer:`` inside a code sample is not an answer)."""
    return _FENCE.sub("\n", text or "")


def python_blocks(text: str) -> list[str]:
    """The bodies of the Python (or unlabelled) fenced blocks of ``text``, in order."""
    return [body for lang, body in code_blocks(text) if lang in _PYTHON_FENCES]


def completion_code(text: str) -> str | None:
    """The Python a completion offers: its Python (or unlabelled) fenced blocks joined in order; the
    whole text when it has no fence; ``None`` when its only fences are other languages."""
    if not code_blocks(text):
        return text if (text or "").strip() else None
    python = python_blocks(text)
    return "\n\n".join(python) if python else None


def _boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` whose braces close (nested braces allowed), in one pass."""
    starts = {m.end() - 1 for m in _BOXED.finditer(text)}
    if not starts:
        return None
    found, open_at = None, []
    for i, char in enumerate(text):
        if char == "{":
            open_at.append(i)
        elif char == "}" and open_at:
            start = open_at.pop()
            if start in starts and (found is None or start > found[0]):
                found = (start, i)
    return text[found[0] + 1:found[1]] if found else None


def clean_answer(answer: str) -> str:
    """An answer without the markup around it: bold, ``$``/``\\(``, backticks, a trailing full stop."""
    answer = answer.strip()
    changed = True
    while changed and answer:
        changed = False
        for left, right in _WRAPPERS:
            if len(answer) > len(left) + len(right) and answer.startswith(left) and answer.endswith(right):
                answer, changed = answer[len(left):-len(right)].strip(), True
        if answer.endswith((".", "!")) and not answer.endswith(".."):
            answer, changed = answer[:-1].rstrip(), True
    return answer


def extract_final_answer(text: str) -> str | None:
    """The final answer a reply states, or ``None``.

    In order: the last ``\\boxed{}``; the last ``Answer:`` / ``Final answer:`` /
    ``Result:`` line; the last "the answer is X"; a last line ending on
    ``= number`` or on "is/equals <math>" (``\\( \\)``, ``$ $``) or
    "is **X**"; a reply that is only a number or a fraction. Fenced code is
    ignored, and an answer longer than :data:`MAX_ANSWER_CHARS` is not one.
    """
    body = prose(text)
    boxed = _boxed(body)
    if boxed is not None:
        return clean_answer(boxed) or None
    candidates = []
    lines = _ANSWER_LINE.findall(body)
    if lines:
        candidates.append(lines[-1])
    else:
        said = [m.group(1) for line in body.splitlines() for m in [_ANSWER_IS.search(line)] if m]
        if said:
            candidates.append(said[-1])
    if not candidates:
        stripped = body.strip()
        # Only the end of the last line can hold a final answer; a bound keeps the search linear.
        tail = stripped.splitlines()[-1].strip()[-(MAX_ANSWER_CHARS + 100):] if stripped else ""
        for pattern in (_FINAL_MATH, _FINAL_BOLD, _FINAL_EQ):
            match = pattern.search(tail)
            if match:
                candidates.append(next(g for g in match.groups() if g))
                break
        else:
            bare = _BARE_NUMBER.match(stripped)
            if bare:
                candidates.append(bare.group(1))
    if not candidates:
        return None
    answer = clean_answer(candidates[0])
    return answer if 0 < len(answer) <= MAX_ANSWER_CHARS else None


def normalise_answer(answer: str) -> str:
    """The form two answers are compared in: markup, ``\\text{}``, whitespace and thousands
    separators dropped, lower case, no trailing full stop."""
    answer = _TEXT_MACRO.sub(r"\1", clean_answer(answer or ""))
    return re.sub(r"\s+", "", answer).replace(",", "").lower().rstrip(".")


def strip_warnings(output: str) -> str:
    """A program output without Python warning lines (and the source line a located warning quotes)."""
    kept: list[str] = []
    quoting = False
    for line in output.split("\n"):
        indented = line[:1] in (" ", "\t")
        if quoting and indented:
            quoting = False
            continue
        quoting = False
        if not indented and _WARNING.match(line):
            quoting = bool(_LOCATED.match(line))
            continue
        kept.append(line)
    return "\n".join(kept)


def has_warnings(output: str) -> bool:
    """True when an output holds a Python warning line."""
    return any(line[:1] not in (" ", "\t") and _WARNING.match(line)
               for line in (output or "").replace("\r\n", "\n").split("\n"))


def comparable_output(output: str) -> str:
    """A program output as two runs are compared: line endings, colour codes and warnings dropped,
    every run of whitespace one space (so ``pprint`` and IPython line wrapping agree)."""
    text = _ANSI.sub("", (output or "").replace("\r\n", "\n").replace("\r", "\n"))
    return " ".join(strip_warnings(text).split())


def is_empty_output(output: str) -> bool:
    """True when an output shows nothing to compare: empty, or the display of an empty value (``''``, ``[]``, ``None``)."""
    return comparable_output(output) in _EMPTY_DISPLAYS


def outputs_match(got: str, expected: str) -> bool:
    """Whether a program's output equals a logged one (both through :func:`comparable_output`); an
    expected output with nothing in it matches nothing."""
    want = comparable_output(expected)
    return want not in _EMPTY_DISPLAYS and comparable_output(got) == want
