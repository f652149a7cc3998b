"""GRPO lane: a ``prompt`` plus reward columns, only where a program can check the answer.

A row exists only with a checkable signal the log itself records (distillation.md 2.3),
and every row gets a float from each reward function of :mod:`moonshine_core.rewards`:

``math`` / ``exact_answer``
    The answer states a final answer (:func:`moonshine_core.answers.extract_final_answer`:
    ``\\boxed{}``, ``Answer: ...``, "the answer is X", a last line ending on
    ``= value`` or on "is <math>") and the conversation backs it:
    ``user_confirmed`` (the user's next turn confirms it, or a thumbs up),
    ``consensus`` (a majority of two or more regenerated answers agree), or
    ``user_accepted`` (a short answer whose next user turn moves on without a
    correction, a doubt, a pasted error or asking again). The gold goes in
    ``solution`` (what ``trl.rewards.accuracy_reward`` reads too);
    ``gold_parseable`` says whether ``math-verify`` parses it (``math``) or it
    normalises to something (``exact_answer``); a ``user_accepted`` answer must be.
``code`` (``answer_source = execution``)
    Where the prompt has no such answer: the turn ran code through an execution
    tool (:data:`~moonshine_core.distill.code_runs.EXECUTION_KINDS`), the
    record says how each run ended, and the last run succeeded.
    ``verification_info`` holds the language, the Python cells run before it on
    the conversation's path (``setup_cells``: the kernel is stateful), the run's
    code and its logged output. A run that cannot be reproduced is left out with
    its reason (:data:`~moonshine_core.distill.code_runs.STATIC_PROBLEMS`); the
    rest are re-run in :mod:`moonshine_core.sandbox` only when
    ``[lanes] verify_code`` (``moonshine distill --verify-code``) is on, because
    that executes code found in an export: reproduced rows carry
    ``tests_validated = true``, the others are left out as ``not_reproduced``.
    With it off, code rows are left out as ``code_not_verified``.

A left-out row is flagged by :meth:`_Builder._code_task` and refused by
:func:`validate`, so the manifest counts it as ``invalid_row:<reason>``.
Column names avoid the ones GRPOTrainer passes itself (:data:`RESERVED`).
"""

from __future__ import annotations

from functools import partial
from typing import Any
import json
import re

from rapidfuzz.distance import Indel

from ..answers import extract_final_answer, normalise_answer
from ..lane import Lane, LaneContext, lane_row
from ..records import Conversation, Message
from ..rewards import parse_math
from ..sandbox import Limits
from ..trees import ConversationTree
from .agentic import is_test_call
from .code_runs import (STATIC_PROBLEMS, call_code, is_execution, language_of, pair_runs, reproduces, setup_cells,
                        static_problem)
from .converters import to_openai
from .messages import ConversionStats, convert, is_text_answer, result_failed, settle_turns
from .textsignals import has_pasted_error, is_confirmation, is_correction
from .validate import messages_problem

__all__ = ["LANE", "LANE_SPEC", "RESERVED", "LEFT_OUT_REASONS", "emit", "validate", "extract_final_answer"]

LANE = "grpo"
#: Names GRPOTrainer passes to reward functions itself, or treats specially (distillation.md 1.1.5).
RESERVED = frozenset({"prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric",
                      "environments", "environment", "image", "images", "completion"})
VERIFIER_VERSION = "moonshine-grpo-2"
#: Why a row is left out (a lane flag :func:`validate` refuses), in the order the checks run.
LEFT_OUT_REASONS = (*STATIC_PROBLEMS, "code_not_verified", "not_reproduced")
#: Longest final answer a ``user_accepted`` row may have: acceptance by moving on vouches for short answers only.
SHORT_ANSWER_CHARS = 40

_NUMERIC = re.compile(r"^-?\d[\d,]*(?:\.\d+)?(?:/\d+)?$")
_MATHY = re.compile(r"\\frac|\\sqrt|\\int|\\sum|\d\s*[-+*/^]\s*\d|\b(?:solve|equation|integral|derivative|"
                    r"probability|calculate|compute|how many|sum of|prime|average|expected value)\b", re.IGNORECASE)
#: A next turn that doubts the answer without the words :func:`is_correction` knows ("are you sure?", "non").
_DOUBT = re.compile(r"^\s*(?:non|nein|nee|não|nao|niet|hmm+|huh)\b|\b(?:are you sure|you sure\b|really\?|double[- ]check|"
                    r"check (?:it |that |this )?again|recalculate|re-?check|can'?t be right|is that (?:right|correct)|"
                    r"that'?s not)", re.IGNORECASE)
#: How alike a next turn and the prompt may be before the user counts as asking again.
_ASKED_AGAIN = 0.9

# One rule for code and answers on both sides (the lane's columns, the rewards' reading of completions).
_norm_answer = normalise_answer
_code_of = call_code


class _Builder:
    def __init__(self, conversation: Conversation, ctx: LaneContext):
        self.conversation, self.ctx, self.tree = conversation, ctx, ConversationTree(conversation)
        self.rows: list[dict[str, Any]] = []

    def prompt(self, prompt_id: str, stats: ConversionStats | None = None) -> tuple[list[str], list[dict]]:
        """History down to the user turn, text only (GRPO tools are trainer-level, not per row), opening
        on a user turn and in strict role order (``stats``, when given, counts what was cut or merged)."""
        ids = self.tree.path(prompt_id)
        stats = stats if stats is not None else ConversionStats()
        msgs = convert(self.tree.messages(ids), reasoning_policy="drop", include_tools=False,
                       max_tool_output_chars=self.ctx.settings.max_tool_output_chars, stats=stats)
        return ids, settle_turns(msgs, stats)

    def add(self, prompt_id: str, source_ids: list[str], variant: str, columns: dict[str, Any]) -> None:
        """One row: the prompt down to ``prompt_id`` plus reward ``columns``; ``source_ids`` is the answering
        turn the columns were read from.

        ``source_message_ids`` lists the prompt's stored messages, then every message of the branch
        whose content a reward column holds verbatim (``reference_response``, ``solution``, any string
        in ``verification_info`` / ``ground_truth``): the reference answer, the verified run's code and
        its output, earlier code cells a column carries.
        """
        stats = ConversionStats()
        prompt_ids, prompt = self.prompt(prompt_id, stats)
        if not prompt or prompt[-1]["role"] != "user":
            return
        leak = columns.get("solution")
        flags = list(columns.pop("lane_flags", []))
        if leak and _norm_answer(leak) and _norm_answer(leak) in _norm_answer(prompt[-1]["content"]):
            flags.append("answer_in_prompt")
        if stats.leading_turns_cut:
            flags.append("leading_turns_cut")
        row_columns = {"task": None, "solution": None, "verification_info": None, "ground_truth": None,
                       "answer_source": None, "reference_response": None, "observed_pass_rate": None,
                       "n_observed_attempts": 0, "verifier_version": VERIFIER_VERSION, "gold_parseable": False,
                       "tests_validated": False, "prompt_message_ids": prompt_ids, **columns, "lane_flags": flags}

        held: set[str] = set()

        def gather(value: Any) -> None:
            if isinstance(value, str):
                if value.strip():
                    held.add(value.strip())
            elif isinstance(value, (list, tuple)):
                for item in value:
                    gather(item)
            elif isinstance(value, dict):
                for item in value.values():
                    gather(item)

        for col in ("reference_response", "solution", "verification_info", "ground_truth"):
            value = row_columns.get(col)
            if col in ("verification_info", "ground_truth") and isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            gather(value)

        def in_columns(m: Message) -> bool:
            texts = [m.text] if is_text_answer(m) or (m.role == "tool" and not m.tool_results) else []
            texts += [_code_of(c.arguments) or "" for c in m.tool_calls]
            texts += [r.content or "" for r in m.tool_results]
            return any(t.strip() and t.strip() in held for t in texts)

        branch = list(dict.fromkeys(prompt_ids + list(source_ids)))
        reference_ids = [m.message_id for m in self.tree.messages(branch) if in_columns(m)]
        payload = {"prompt": prompt}
        self.rows.append(lane_row(LANE, self.conversation, reference_ids, variant, payload, row_columns))

    # -- one prompt: an answer the conversation backs, else a code run ------------------------
    def tasks(self) -> None:
        for prompt in self.conversation.messages:
            if prompt.role != "user" or prompt.hidden or not prompt.text.strip():
                continue
            chains = self.tree.turn_paths(prompt.message_id, is_text_answer)
            # A prompt with a backed final answer is an answer task even where the turn ran code:
            # "what is the average distance?" is checked on the answer, not on a program.
            if not self.answer_task(prompt, chains):
                for chain in chains:
                    self._code_task(prompt, chain)

    # -- code with execution evidence ----------------------------------------------------
    def _code_task(self, prompt: Message, chain: list[str]) -> None:
        records = self.tree.messages(chain)
        checked = [run for run in pair_runs(records) if run.result is not None and is_execution(run.call)
                   and result_failed(run.result) is not None and call_code(run.call.arguments)]
        if not checked:
            return
        last = checked[-1]
        if result_failed(last.result):
            return   # the turn ended on a failing run: no verified reference
        settings = self.ctx.settings
        code = call_code(last.call.arguments) or ""
        language = language_of(last.call, last.message, code)
        setup = setup_cells(self.tree, last) if language == "python" else []
        expected = last.result.content or ""
        problem = static_problem(language, [*setup, code], expected)
        limits = Limits(timeout_s=settings.sandbox_timeout_s, memory_mb=settings.sandbox_memory_mb)
        reproduced = False
        if problem is None and not settings.verify_code:
            problem = "code_not_verified"
        elif problem is None:
            reproduced = reproduces([*setup, code], expected, limits)
            problem = None if reproduced else "not_reproduced"
        final = [m for m in records if is_text_answer(m)]
        info = {"kind": "execution_trace", "language": language, "tool": last.call.name, "setup_cells": setup,
                "reference_code": code, "expected_output": expected, "status": last.result.status,
                "test_command": code if is_test_call(last.call.arguments) else None, "n_runs": len(checked),
                "n_failed_runs": sum(1 for run in checked if result_failed(run.result)),
                "timeout_s": limits.timeout_s, "memory_mb": limits.memory_mb}
        n_ok = sum(1 for run in checked if result_failed(run.result) is False)
        flags = ([] if final else ["no_final_answer"]) + ([problem] if problem else [])
        self.add(prompt.message_id, chain, f"code:{last.message.message_id}", {
            "task": "code", "verification_info": json.dumps(info, ensure_ascii=False, sort_keys=True),
            "answer_source": "execution", "reference_response": final[-1].text if final else None,
            "observed_pass_rate": round(n_ok / len(checked), 4), "n_observed_attempts": len(checked),
            "gold_parseable": bool(code.strip()), "tests_validated": reproduced, "lane_flags": flags})

    # -- math / exact answers the conversation backs -----------------------------------------
    def answer_task(self, prompt: Message, chains: list[list[str]]) -> bool:
        """An answer row for ``prompt`` when a source backs one of its answers; False when none does."""
        answers: list[tuple[list[str], Message, str]] = []
        for chain in chains:
            final = [m for m in self.tree.messages(chain) if is_text_answer(m)]
            answer = extract_final_answer(final[-1].text) if final else None
            if answer:
                answers.append((chain, final[-1], answer))
        if not answers:
            return False
        first = answers[0][2]
        task = "math" if _MATHY.search(prompt.text) or _NUMERIC.match(_norm_answer(first)) or "\\" in first \
            else "exact_answer"
        groups: dict[str, list[tuple[list[str], Message, str]]] = {}
        for item in answers:
            groups.setdefault(_norm_answer(item[2]), []).append(item)
        ratings = self.ctx.ratings()
        for chain, final, answer in answers:
            follow = self._next_user_turns(chain)
            confirmed = any(is_confirmation(u.text) for u in follow) and not any(is_correction(u.text) for u in follow)
            if confirmed or ratings.get(final.message_id) == "up":
                self._answer_row(prompt, chain, final, answer, task, "user_confirmed", len(answers),
                                 len(groups[_norm_answer(answer)]))
                return True
        best = max(sorted(groups), key=lambda k: len(groups[k]))
        if len(groups[best]) >= 2 and len(groups[best]) > len(answers) / 2:
            chain, final, answer = groups[best][0]
            self._answer_row(prompt, chain, final, answer, task, "consensus", len(answers), len(groups[best]))
            return True
        for chain, final, answer in answers:
            if len(answer) <= SHORT_ANSWER_CHARS and ratings.get(final.message_id) != "down" \
                    and _gold_parseable(answer, task) and self._accepted(prompt, chain):
                self._answer_row(prompt, chain, final, answer, task, "user_accepted", len(answers),
                                 len(groups[_norm_answer(answer)]))
                return True
        return False

    def _next_user_turns(self, chain: list[str]) -> list[Message]:
        return [self.tree.by_id[k] for k in self.tree.children.get(chain[-1], [])
                if self.tree.by_id[k].role == "user" and not self.tree.by_id[k].hidden]

    def _accepted(self, prompt: Message, chain: list[str]) -> bool:
        """The user went on after the answer: a next turn exists, and none corrects it, doubts it,
        pastes an error or asks the question again."""
        follow = self._next_user_turns(chain)
        asked = _norm_answer(prompt.text)
        return bool(follow) and not any(
            is_correction(u.text) or has_pasted_error(u.text) or _DOUBT.search(u.text[:300])
            or Indel.normalized_similarity(_norm_answer(u.text), asked) >= _ASKED_AGAIN for u in follow)

    def _answer_row(self, prompt: Message, chain: list[str], final: Message, answer: str, task: str,
                    source: str, attempts: int, agreeing: int) -> None:
        parseable = _gold_parseable(answer, task)
        self.add(prompt.message_id, chain, f"answer:{final.message_id}", {
            "task": task, "solution": answer,
            "ground_truth": json.dumps({"answer": answer, "match": "math_verify" if task == "math" and parseable
                                        else "normalised_exact"}, sort_keys=True),
            "answer_source": source, "reference_response": final.text,
            "observed_pass_rate": round(agreeing / attempts, 4), "n_observed_attempts": attempts,
            "gold_parseable": parseable, "lane_flags": [] if parseable else ["gold_not_parseable"]})


def _gold_parseable(answer: str, task: str) -> bool:
    """Whether the reward can read the gold: ``math-verify`` parses it (math), or it normalises to text."""
    return bool(parse_math(answer)) if task == "math" else bool(_norm_answer(answer))


def emit(conversation: Conversation, ctx: LaneContext) -> list[dict[str, Any]]:
    """GRPO rows for one conversation, one per prompt (answer) or per answering turn (code)."""
    builder = _Builder(conversation, ctx)
    builder.tasks()
    rows = {r["variant"]: r for r in builder.rows}
    return [rows[k] for k in sorted(rows)]


def validate(row: dict[str, Any]) -> str | None:
    """The GRPO shape: a prompt ending on a user turn, something checkable, no reserved column, and
    no flag of :data:`LEFT_OUT_REASONS` (a code run that cannot be, or was not, reproduced)."""
    problem = messages_problem(row.get("prompt"))
    if problem:
        return f"prompt_{problem}"
    if row["prompt"][-1]["role"] != "user":
        return "prompt_must_end_on_user"
    clash = sorted(RESERVED & set(row))
    if clash:
        return f"reserved_column_{clash[0]}"
    if not (row.get("solution") or row.get("verification_info")):
        return "no_checkable_signal"
    flags = set(row.get("lane_flags") or ())
    return next((reason for reason in LEFT_OUT_REASONS if reason in flags), None)


LANE_SPEC = Lane(
    name=LANE,
    title="GRPO prompts with verifiable reward data",
    payload_columns=("prompt", "solution", "verification_info", "ground_truth"),
    emit=emit,
    validate=validate,
    quality=lambda row: 1.0 if row.get("tests_validated") or row.get("answer_source") == "user_confirmed" else 0.5,
    count_columns=("task", "answer_source"),
    converters={"openai": partial(to_openai, LANE)},
    loading="from trl import GRPOConfig, GRPOTrainer\n"
            "from moonshine_core.rewards import accuracy_reward, answer_similarity_reward, format_reward\n"
            "# Code rows are here only when distilled with `moonshine distill --verify-code` (it re-runs\n"
            "# export code in a sandbox); without it they are left out as invalid_row:code_not_verified.\n"
            "trainer = GRPOTrainer(model=model, train_dataset=ds[\"train\"],\n"
            "                      reward_funcs=[accuracy_reward, answer_similarity_reward, format_reward],\n"
            "                      args=GRPOConfig(output_dir=\"out\", reward_weights=[1.0, 0.5, 0.1]))",
)
