"""Reward functions for the GRPO lane, ready for TRL's ``GRPOTrainer(reward_funcs=[...])``.

TRL calls each function as ``f(prompts=..., completions=..., completion_ids=..., **columns)``:
every dataset column arrives as a list with one value per completion, and a
completion is a string or, for conversational prompts (Moonshine's ``prompt``
is a list of messages), a list like ``[{"role": "assistant", "content": "..."}]``.
Each function returns one float per completion, never ``None``, for every
row of the lane whatever its ``task``:

:func:`accuracy_reward` — 1.0 or 0.0
    ``math`` rows: the completion's final answer (see
    :func:`moonshine_core.answers.extract_final_answer`; else whatever
    ``math-verify`` finds in it) equals ``solution`` by ``math-verify``
    (what ``trl.rewards.accuracy_reward`` uses); a gold that ``math-verify``
    cannot parse is compared as an exact answer. ``exact_answer`` rows: the
    final answer equals ``solution`` after :func:`~moonshine_core.answers.normalise_answer`.
    ``code`` rows: the completion's Python (its fenced blocks, else the whole
    text) runs in :mod:`moonshine_core.sandbox` after the row's
    ``setup_cells`` and must succeed and print the row's ``expected_output``
    (compared through :func:`~moonshine_core.answers.comparable_output`).
:func:`answer_similarity_reward` — in [0, 1]
    1.0 where :func:`accuracy_reward` gives 1.0, else how close the final answer
    (or, without one, the last line) or the program's output is to the gold:
    ``rapidfuzz`` normalised similarity of the normalised strings. Weak
    completions in a group get different values, so GRPO has an advantage to
    learn from before any completion is right.
:func:`format_reward` — 1.0 or 0.0
    The completion has what the row's task is checked on: a final answer
    :func:`~moonshine_core.answers.extract_final_answer` finds (``math``,
    ``exact_answer``), or a fenced Python block that compiles (``code``).

A row whose ``task`` none of these know (a plugin's) gets 0.0 from each.

::

    from datasets import load_dataset
    from trl import GRPOConfig, GRPOTrainer
    from moonshine_core.rewards import accuracy_reward, answer_similarity_reward, format_reward

    ds = load_dataset("json", data_files="reports/distillations/grpo/<run_id>/train.chatgpt.jsonl", split="train")
    trainer = GRPOTrainer(model=model, train_dataset=ds,
                          reward_funcs=[accuracy_reward, answer_similarity_reward, format_reward],
                          args=GRPOConfig(output_dir="out", reward_weights=[1.0, 0.5, 0.1]))

Code rows run code: every completion of a code row is executed in the
sandbox (no network, time and memory limits, writes confined to a temporary
folder). Runs are cached by (setup, code, limits), so the three functions
score one completion with one run.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import threading
from collections.abc import Sequence
from typing import Any

from rapidfuzz.distance import Indel

from .answers import (clean_answer, comparable_output, completion_code, extract_final_answer, normalise_answer,
                      outputs_match, prose, python_blocks)
from .sandbox import Limits, RunResult, run_cells

__all__ = ["accuracy_reward", "answer_similarity_reward", "format_reward", "completion_text", "parse_math",
           "REWARD_FUNCS", "TASKS"]

#: Tasks the functions here know how to check.
TASKS = ("math", "exact_answer", "code")
_RUN_CACHE_SIZE = 1024
_LATEXY = re.compile(r"[\\^_{}]")


def completion_text(completion: Any) -> str:
    """The text of one completion as TRL passes it: a string, a message, or a list of messages
    (the assistant messages' contents joined; content parts' ``text`` joined)."""
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    if isinstance(completion, Sequence):
        messages = [m for m in completion if isinstance(m, dict)]
        spoken = [m for m in messages if m.get("role") == "assistant"] or messages
        return "\n".join(_content_text(m.get("content")) for m in spoken)
    return str(completion)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") if isinstance(p, dict) else str(p) for p in content)
    return str(content)


def _column(values: Sequence[Any] | None, n: int) -> list[Any]:
    """A column as TRL passes it, or ``None`` for every completion when the dataset lacks it."""
    if values is None:
        return [None] * n
    values = list(values)
    return values + [None] * (n - len(values)) if len(values) < n else values[:n]


def _info(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            decoded = json.loads(value)
        except ValueError:
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return {}


def _task(task: Any, solution: Any, info: dict[str, Any]) -> str | None:
    if task:
        return str(task)
    if info.get("kind") == "execution_trace":
        return "code"
    return "math" if solution else None


class _Row:
    """One completion with its row's columns, and what scoring it needs (computed once)."""

    def __init__(self, completion: Any, task: Any, solution: Any, info: Any):
        self.text = completion_text(completion)
        self.info = _info(info)
        self.solution = None if solution is None else str(solution)
        self.task = _task(task, self.solution, self.info)

    @functools.cached_property
    def answer(self) -> str | None:
        return extract_final_answer(self.text)

    @functools.cached_property
    def run(self) -> RunResult | None:
        """The completion's program run after the row's setup cells (``None``: nothing to run)."""
        if self.info.get("language") != "python":
            return None
        code = completion_code(self.text)
        if code is None:
            return None
        cells = self.info.get("setup_cells")
        setup = tuple(str(c) for c in cells) if isinstance(cells, list) else ()
        defaults = Limits()
        return _run(setup, code, _positive(self.info.get("timeout_s"), defaults.timeout_s),
                    int(_positive(self.info.get("memory_mb"), defaults.memory_mb)))

    @functools.cached_property
    def correct(self) -> bool:
        if self.task == "code":
            run = self.run
            return bool(run and run.ok and outputs_match(run.stdout, str(self.info.get("expected_output") or "")))
        if self.task not in ("math", "exact_answer") or not self.solution:
            return False
        if self.task == "math":
            verdict = _math_equal(self.solution, self.answer, self.text)
            if verdict is not None:
                return verdict
        return self.answer is not None and normalise_answer(self.answer) == normalise_answer(self.solution)


def _positive(value: Any, default: float) -> float:
    """A limit from ``verification_info``, or ``default`` when it is missing or not a positive number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


@functools.lru_cache(maxsize=_RUN_CACHE_SIZE)
def _run(setup: tuple[str, ...], code: str, timeout_s: float, memory_mb: int) -> RunResult:
    return run_cells([*setup, code], Limits(timeout_s=timeout_s, memory_mb=memory_mb))


def _main_thread() -> bool:
    """math-verify times itself out with ``signal.alarm``, which only the main thread may use."""
    return threading.current_thread() is threading.main_thread()


def parse_math(answer: str) -> list:
    """What ``math-verify`` parses from a short answer; ``[]`` when nothing. An answer with LaTeX
    markup (``\\``, ``^``, ``_``, braces) is read as inline math, so ``2^{10}`` is 1024 and not 2;
    other text is read as it stands, so a word is not a product of symbols."""
    return _parse(f"${answer}$" if _LATEXY.search(answer) and "$" not in answer else answer)


def _parse(text: str) -> list:
    import math_verify   # pulls sympy: imported on first use only

    kwargs = {} if _main_thread() else {"parsing_timeout": None}
    try:
        return list(math_verify.parse(text, **kwargs))
    except Exception:   # math-verify raises on some inputs (and on its own timeouts): nothing parsed
        return []


def _math_equal(solution: str, answer: str | None, text: str) -> bool | None:
    """``math-verify``'s verdict, or ``None`` when the gold does not parse (compare as text instead)."""
    import math_verify

    gold = parse_math(solution)
    if not gold:
        return None
    # Without a final answer, math-verify looks for one itself (boxed, last expression).
    predicted = parse_math(answer) if answer is not None else _parse(prose(text))
    if not predicted:
        return False
    kwargs = {} if _main_thread() else {"timeout_seconds": None}
    try:
        return bool(math_verify.verify(gold, predicted, **kwargs))
    except Exception:   # a comparison sympy cannot finish is not a match
        return False


def _similarity(row: _Row) -> float:
    if row.correct:
        return 1.0
    if row.task == "code":
        run, expected = row.run, comparable_output(str(row.info.get("expected_output") or ""))
        if run is None or not expected:
            return 0.0
        shown = run.stdout if run.ok else f"{run.stdout}\n{run.error}"   # a notebook shows the exception too
        return float(Indel.normalized_similarity(comparable_output(shown), expected))
    if row.task not in ("math", "exact_answer") or not row.solution:
        return 0.0
    candidate = row.answer
    if candidate is None:
        lines = [line for line in prose(row.text).splitlines() if line.strip()]
        candidate = clean_answer(lines[-1][-400:]) if lines else ""
    gold = normalise_answer(row.solution)
    if not gold or not candidate:
        return 0.0
    return float(Indel.normalized_similarity(normalise_answer(candidate), gold))


def _has_format(row: _Row) -> bool:
    if row.task in ("math", "exact_answer"):
        return row.answer is not None
    if row.task == "code":
        blocks = python_blocks(row.text)
        if not blocks:
            return False
        try:
            ast.parse("\n\n".join(blocks))
        except (SyntaxError, ValueError):
            return False
        return True
    return False


def _rows(completions: Sequence[Any], task, solution, verification_info) -> list[_Row]:
    n = len(completions)
    return [_Row(c, t, s, v) for c, t, s, v in zip(completions, _column(task, n), _column(solution, n),
                                                  _column(verification_info, n))]


def accuracy_reward(completions: Sequence[Any], task: Sequence[Any] | None = None,
                    solution: Sequence[Any] | None = None, verification_info: Sequence[Any] | None = None,
                    **kwargs: Any) -> list[float]:
    """1.0 when the completion is right by the row's check (math-verify, exact answer, or the
    sandboxed program's output), else 0.0. See the module docstring."""
    return [1.0 if row.correct else 0.0 for row in _rows(completions, task, solution, verification_info)]


def answer_similarity_reward(completions: Sequence[Any], task: Sequence[Any] | None = None,
                             solution: Sequence[Any] | None = None, verification_info: Sequence[Any] | None = None,
                             **kwargs: Any) -> list[float]:
    """1.0 for a right completion, else the similarity in [0, 1] of its answer or program output
    to the gold (rapidfuzz). See the module docstring."""
    return [_similarity(row) for row in _rows(completions, task, solution, verification_info)]


def format_reward(completions: Sequence[Any], task: Sequence[Any] | None = None,
                  solution: Sequence[Any] | None = None, verification_info: Sequence[Any] | None = None,
                  **kwargs: Any) -> list[float]:
    """1.0 when the completion states a final answer (math, exact answer) or holds a Python
    block that compiles (code), else 0.0."""
    return [1.0 if _has_format(row) else 0.0 for row in _rows(completions, task, solution, verification_info)]


#: The shipped reward functions, in the order the docs list them.
REWARD_FUNCS = (accuracy_reward, answer_similarity_reward, format_reward)
