"""GRPO lane: a ``prompt`` plus reward columns, only where a program can check the answer.

A row exists only with a checkable signal the log itself records (distillation.md 2.3):

``code`` (``answer_source = execution``)
    The assistant's turn ran code through a tool and the record says how each
    run ended (``ToolResult.is_error`` or a ``status``); the turn's last run
    succeeded. ``verification_info`` holds the language, the reference code of
    that run, its observed output and, when the run was a test command, the
    command (``test_command``): a reward function re-runs candidate code in a
    sandbox and compares. ``tests_validated`` is false: Moonshine runs nothing.
``math`` / ``exact_answer`` (``answer_source = user_confirmed`` or ``consensus``)
    The answer has an extractable final answer (``\\boxed{}``, ``Answer: ...``,
    a final ``= value``) and either the user's next turn confirms it, or two or
    more regenerated answers to the same prompt agree. The gold goes in
    ``solution`` (what ``trl.rewards.accuracy_reward`` reads).

Column names avoid the ones GRPOTrainer passes itself (:data:`RESERVED`).
"""

from __future__ import annotations

from functools import partial
from typing import Any
import json
import re

from ..lane import Lane, LaneContext, lane_row
from ..records import Conversation, Message
from ..trees import ConversationTree
from .agentic import is_test_call, result_failed
from .converters import to_openai
from .messages import ConversionStats, convert, is_text_answer, merge_same_role
from .textsignals import is_confirmation, is_correction
from .validate import messages_problem

LANE = "grpo"
#: Names GRPOTrainer passes to reward functions itself, or treats specially (distillation.md 1.1.5).
RESERVED = frozenset({"prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric",
                      "environments", "environment", "image", "images", "completion"})
VERIFIER_VERSION = "moonshine-grpo-1"

_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})+)\}")
_ANSWER_LINE = re.compile(r"(?im)^\s*(?:\*\*)?(?:final answer|answer|result)(?:\*\*)?\s*[:：]\s*(?:\*\*)?(.+?)(?:\*\*)?\s*$")
_FINAL_EQ = re.compile(r"=\s*\$?(-?\d[\d,]*(?:\.\d+)?(?:\s*[a-zA-Z%°]+)?)\$?\s*\.?\s*$")
_NUMERIC = re.compile(r"^-?\d[\d,]*(?:\.\d+)?(?:/\d+)?$")
_MATHY = re.compile(r"\\frac|\\sqrt|\\int|\\sum|\d\s*[-+*/^]\s*\d|\b(?:solve|equation|integral|derivative|"
                    r"probability|calculate|compute|how many|sum of|prime)\b", re.IGNORECASE)
_LANG_BY_TOOL = (("python", "python"), ("jupyter", "python"), ("bash", "bash"), ("shell", "bash"),
                 ("repl", "javascript"), ("node", "javascript"))


def extract_final_answer(text: str) -> str | None:
    """The final answer an assistant states: the last ``\\boxed{}``, an ``Answer:`` line, or a last ``= value``."""
    boxed = _BOXED.findall(text)
    if boxed:
        return boxed[-1].strip()
    lines = _ANSWER_LINE.findall(text)
    if lines:
        answer = lines[-1].strip().strip("*$ ").rstrip(".")
        return answer if 0 < len(answer) <= 200 else None
    tail = text.strip().splitlines()[-1] if text.strip() else ""
    match = _FINAL_EQ.search(tail)
    return match.group(1).strip() if match else None


def _norm_answer(answer: str) -> str:
    return re.sub(r"\s+", "", answer).replace(",", "").lower().rstrip(".")


def _code_of(arguments: Any) -> str | None:
    if isinstance(arguments, str):
        return arguments
    if isinstance(arguments, dict):
        for key in ("code", "command", "cmd", "input", "script", "content"):
            if isinstance(arguments.get(key), str):
                return arguments[key]
    return None


def _language(tool_name: str, message: Message, code: str) -> str:
    if message.metadata.get("language"):
        return str(message.metadata["language"])
    lowered = tool_name.lower()
    for needle, language in _LANG_BY_TOOL:
        if needle in lowered:
            return language
    return "python" if re.search(r"^\s*(?:import|def|print\()", code, re.MULTILINE) else "unknown"


class _Builder:
    def __init__(self, conversation: Conversation, ctx: LaneContext):
        self.conversation, self.ctx, self.tree = conversation, ctx, ConversationTree(conversation)
        self.rows: list[dict[str, Any]] = []

    def prompt(self, prompt_id: str) -> tuple[list[str], list[dict]]:
        """History down to the user turn, text only (GRPO tools are trainer-level, not per row)."""
        ids = self.tree.path(prompt_id)
        stats = ConversionStats()
        msgs = convert(self.tree.messages(ids), reasoning_policy="drop", include_tools=False,
                       max_tool_output_chars=self.ctx.settings.max_tool_output_chars, stats=stats)
        return ids, merge_same_role(msgs, stats)

    def add(self, prompt_id: str, source_ids: list[str], variant: str, columns: dict[str, Any]) -> None:
        prompt_ids, prompt = self.prompt(prompt_id)
        if not prompt or prompt[-1]["role"] != "user":
            return
        leak = columns.get("solution")
        flags = list(columns.pop("lane_flags", []))
        if leak and _norm_answer(leak) and _norm_answer(leak) in _norm_answer(prompt[-1]["content"]):
            flags.append("answer_in_prompt")
        row_columns = {"task": None, "solution": None, "verification_info": None, "ground_truth": None,
                       "answer_source": None, "reference_response": None, "observed_pass_rate": None,
                       "n_observed_attempts": 0, "verifier_version": VERIFIER_VERSION, "gold_parseable": False,
                       "tests_validated": False, "prompt_message_ids": prompt_ids, **columns, "lane_flags": flags}
        payload = {"prompt": prompt}
        self.rows.append(lane_row(LANE, self.conversation, prompt_ids + source_ids, variant, payload, row_columns))

    # -- code with execution evidence ----------------------------------------------------
    def code_tasks(self) -> None:
        for prompt in self.conversation.messages:
            if prompt.role != "user" or prompt.hidden or not prompt.text.strip():
                continue
            for chain in self.tree.turn_paths(prompt.message_id, is_text_answer):
                self._code_task(prompt, chain)

    def _code_task(self, prompt: Message, chain: list[str]) -> None:
        runs: list[tuple[Message, Any, Any]] = []   # (calling message, call, result)
        records = self.tree.messages(chain)
        pending: list[tuple[Message, Any]] = []
        for m in records:
            for call in m.tool_calls:
                pending.append((m, call))
            for result in m.tool_results:
                match = next((p for p in pending if result.call_id and p[1].call_id == result.call_id), None)
                match = match or (pending[0] if pending else None)
                if match is None:
                    continue
                pending.remove(match)
                runs.append((match[0], match[1], result))
        checked = [(m, c, r) for m, c, r in runs if result_failed(r) is not None and _code_of(c.arguments)]
        if not checked:
            return
        last_msg, last_call, last_result = checked[-1]
        if result_failed(last_result):
            return   # the turn ended on a failing run: no verified reference
        code = _code_of(last_call.arguments) or ""
        final = [m for m in records if is_text_answer(m)]
        language = _language(last_call.name, last_msg, code)
        test = is_test_call(last_call.arguments)
        info = {"kind": "execution_trace", "language": language, "tool": last_call.name,
                "reference_code": code, "expected_output": last_result.content or "",
                "status": last_result.status, "test_command": code if test else None,
                "n_runs": len(checked), "n_failed_runs": sum(1 for _, _, r in checked if result_failed(r)),
                "timeout_s": 30}
        n_ok = sum(1 for _, _, r in checked if result_failed(r) is False)
        flags = [] if final else ["no_final_answer"]
        self.add(prompt.message_id, chain, f"code:{last_msg.message_id}", {
            "task": "code", "verification_info": json.dumps(info, ensure_ascii=False, sort_keys=True),
            "answer_source": "execution", "reference_response": final[-1].text if final else None,
            "observed_pass_rate": round(n_ok / len(checked), 4), "n_observed_attempts": len(checked),
            "gold_parseable": bool(code.strip()), "lane_flags": flags})

    # -- math / exact answers the conversation confirms ------------------------------------
    def answer_tasks(self) -> None:
        for prompt in self.conversation.messages:
            if prompt.role != "user" or prompt.hidden or not prompt.text.strip():
                continue
            chains = self.tree.turn_paths(prompt.message_id, is_text_answer)
            answers: list[tuple[list[str], Message, str]] = []
            for chain in chains:
                if any(m.tool_calls for m in self.tree.messages(chain)):
                    continue   # tool turns are code tasks
                final = [m for m in self.tree.messages(chain) if is_text_answer(m)]
                if not final:
                    continue
                answer = extract_final_answer(final[-1].text)
                if answer:
                    answers.append((chain, final[-1], answer))
            if not answers:
                continue
            task = "math" if _MATHY.search(prompt.text) or _NUMERIC.match(_norm_answer(answers[0][2])) else "exact_answer"
            groups: dict[str, list[tuple[list[str], Message, str]]] = {}
            for item in answers:
                groups.setdefault(_norm_answer(item[2]), []).append(item)
            done = False
            for chain, final, answer in answers:
                follow = [self.tree.by_id[k] for k in self.tree.children.get(chain[-1], [])
                          if self.tree.by_id[k].role == "user" and not self.tree.by_id[k].hidden]
                confirmed = any(is_confirmation(u.text) for u in follow) and \
                    not any(is_correction(u.text) for u in follow)
                thumbs = self.ctx.ratings().get(final.message_id) == "up"
                if confirmed or thumbs:
                    self._answer_row(prompt, chain, final, answer, task, "user_confirmed", len(answers),
                                     len(groups[_norm_answer(answer)]))
                    done = True
                    break
            if done:
                continue
            best = max(sorted(groups), key=lambda k: len(groups[k]))
            if len(groups[best]) >= 2 and len(groups[best]) > len(answers) / 2:
                chain, final, answer = groups[best][0]
                self._answer_row(prompt, chain, final, answer, task, "consensus", len(answers), len(groups[best]))

    def _answer_row(self, prompt: Message, chain: list[str], final: Message, answer: str, task: str,
                    source: str, attempts: int, agreeing: int) -> None:
        parseable = bool(_NUMERIC.match(_norm_answer(answer)) or "\\" in answer or re.fullmatch(r"[-\w.+*/^()= ]+", answer))
        self.add(prompt.message_id, chain, f"answer:{final.message_id}", {
            "task": task, "solution": answer,
            "ground_truth": json.dumps({"answer": answer, "match": "normalised_exact"}, sort_keys=True),
            "answer_source": source, "reference_response": final.text,
            "observed_pass_rate": round(agreeing / attempts, 4), "n_observed_attempts": attempts,
            "gold_parseable": parseable, "lane_flags": [] if parseable else ["gold_not_parseable"]})


def emit(conversation: Conversation, ctx: LaneContext) -> list[dict[str, Any]]:
    builder = _Builder(conversation, ctx)
    builder.code_tasks()
    builder.answer_tasks()
    rows = {r["variant"]: r for r in builder.rows}
    return [rows[k] for k in sorted(rows)]


def validate(row: dict[str, Any]) -> str | None:
    """The GRPO shape: a prompt ending on a user turn, something checkable, no reserved column."""
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
    return None


LANE_SPEC = Lane(
    name=LANE,
    title="GRPO prompts with verifiable reward data",
    payload_columns=("prompt", "solution", "verification_info", "ground_truth"),
    emit=emit,
    validate=validate,
    quality=lambda row: 1.0 if row.get("answer_source") in ("execution", "user_confirmed") else 0.5,
    count_columns=("task", "answer_source"),
    converters={"openai": partial(to_openai, LANE)},
    loading="from trl import GRPOConfig, GRPOTrainer\n# reward functions receive every column (task, solution, "
            "verification_info, ...) as keyword arguments\ntrainer = GRPOTrainer(model=model, reward_funcs=[my_reward],\n"
            "                      args=GRPOConfig(output_dir=\"out\"), train_dataset=ds[\"train\"])",
)
