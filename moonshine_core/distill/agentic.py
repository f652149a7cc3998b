"""Agentic-code lane: multi-step tool-using trajectories as ``messages`` + ``tools`` (distillation.md 4.5).

One row per conversation whose active branch holds tool calls with results:
the branch with its tool traffic (hidden plumbing included: that *is* the
trajectory), tool outputs cut to ``max_tool_output_chars`` (head and tail),
ending on the last assistant message. Outcome signals come from the records:
tool results' ``is_error`` / ``status``, retries after errors, and user
pushback (corrections) after an answer. Exports carry no tool schemas, so
``tools`` is synthesised from the calls seen (``tools_synthesized``).
"""

from __future__ import annotations

from functools import partial
from typing import Any
import json
import re

from ..lane import Lane, LaneContext, lane_row
from ..records import Conversation, Message, ToolResult
from ..trees import ConversationTree
from .converters import to_openai, to_sharegpt
from .messages import ConversionStats, convert, merge_same_role, result_failed
from .textsignals import has_pasted_error, is_correction
from .validate import messages_problem

LANE = "agentic_code"
__all__ = ["emit", "result_failed", "is_test_call", "synthesize_tools"]
_TEST_COMMAND = re.compile(r"\b(?:pytest|py\.test|python -m (?:pytest|unittest)|npm (?:run )?test|yarn test|"
                           r"pnpm test|cargo test|go test|mvn test|gradle test|make test|jest|vitest|tox|nox|ctest)\b")


def is_test_call(arguments: Any) -> bool:
    """True when a call's arguments run a test suite (a shell command naming a test runner)."""
    if isinstance(arguments, dict):
        text = " ".join(str(v) for k, v in arguments.items() if k in ("command", "cmd", "input", "code", "script"))
    else:
        text = str(arguments or "")
    return bool(_TEST_COMMAND.search(text))


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def synthesize_tools(messages: list[dict]) -> str:
    """A JSON string of OpenAI/TRL tool schemas, one per tool name seen in ``messages``' calls.

    Each parameter's type is the type seen in the calls (``string`` when it
    varies); parameters present in every call are ``required``.
    """
    seen: dict[str, list[dict]] = {}
    for m in messages:
        for call in m.get("tool_calls") or []:
            try:
                args = json.loads(call["function"]["arguments"])
            except (ValueError, TypeError):
                args = {}
            seen.setdefault(call["function"]["name"], []).append(args if isinstance(args, dict) else {})
    tools = []
    for name in sorted(seen):
        calls = seen[name]
        props: dict[str, dict[str, str]] = {}
        for args in calls:
            for key, value in args.items():
                kind = _json_type(value)
                if key in props and props[key]["type"] != kind:
                    kind = "string"
                props[key] = {"type": kind}
        required = sorted(k for k in props if all(k in a for a in calls))
        tools.append({"type": "function", "function": {
            "name": name, "description": f"Tool '{name}' as observed in the conversation (schema synthesised).",
            "parameters": {"type": "object", "properties": dict(sorted(props.items())), "required": required}}})
    return json.dumps(tools, ensure_ascii=False, sort_keys=True)


def _loop_detected(records: list[Message]) -> bool:
    """Three identical calls (same tool, same arguments) in a row."""
    last, run = None, 0
    for m in records:
        for call in m.tool_calls:
            key = (call.name, json.dumps(call.arguments, sort_keys=True, default=str))
            run = run + 1 if key == last else 1
            last = key
            if run >= 3:
                return True
    return False


def emit(conversation: Conversation, ctx: LaneContext) -> list[dict[str, Any]]:
    tree = ConversationTree(conversation)
    if not tree.active_path:
        return []
    records = tree.messages(tree.active_path)
    n_calls = sum(len(m.tool_calls) for m in records)
    results = [r for m in records for r in m.tool_results]
    if n_calls == 0 or not (results or any(m.role == "tool" and m.text.strip() for m in records)):
        return []
    stats = ConversionStats()
    msgs = convert(records, reasoning_policy=ctx.settings.reasoning_policy, include_tools=True,
                   max_tool_output_chars=ctx.settings.max_tool_output_chars, stats=stats)
    msgs = merge_same_role(msgs, stats)
    while msgs and msgs[0]["role"] not in ("system", "user"):
        msgs.pop(0)
    # The trajectory ends on the last assistant message; a trailing user turn is outcome evidence.
    end = len(msgs)
    while end and msgs[end - 1]["role"] != "assistant":
        end -= 1
    trailing = msgs[end:]
    msgs = msgs[:end]
    if not msgs or not any(m["tool_calls"] for m in msgs):
        return []
    outcomes = [result_failed(r) for r in results]
    n_errors = sum(1 for o in outcomes if o)
    known = [o for o in outcomes if o is not None]
    users = [m for m in records if m.role == "user" and not m.hidden and m.text.strip()]
    interventions = sum(1 for m in users[1:] if is_correction(m.text))
    retries = 0
    for i, result in enumerate(results[:-1]):
        if result_failed(result):
            retries += 1
    test_runs = [(call, res) for m in records for call in m.tool_calls if is_test_call(call.arguments)
                 for res in [_result_for(records, call.call_id)] if res is not None]
    pushback_at_end = any(m["role"] == "user" and (is_correction(m["content"]) or has_pasted_error(m["content"]))
                          for m in trailing)
    if test_runs and result_failed(test_runs[-1][1]) is False and not pushback_at_end:
        outcome, source = "resolved", "tests_passed"
    elif pushback_at_end:
        outcome, source = "failed", "user_pushback"
    elif known and known[-1]:
        outcome, source = "failed", "tool_error"
    elif known and not known[-1]:
        outcome, source = ("resolved", "exit_code") if not trailing else ("resolved", "no_pushback")
    elif trailing:
        outcome, source = "resolved", "no_pushback"
    else:
        outcome, source = "unknown", None
    # Assistant steps whose call failed, or that the user then corrected, are kept but weighted 0.
    weights = []
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        failed = any(c["id"] in stats.failed_calls for c in m["tool_calls"] or [])
        follow = msgs[i + 1] if i + 1 < len(msgs) else None
        corrected = follow is not None and follow["role"] == "user" and is_correction(follow["content"])
        weights.append(0 if failed or corrected else 1)
    flags = []
    if n_calls < 2:
        flags.append("single_tool_call")
    if outcome == "failed":
        flags.append("failed_outcome")
    loop = _loop_detected(records)
    if loop:
        flags.append("tool_loop")
    languages = sorted({str(m.metadata.get("language")) for m in records if m.metadata.get("language")})
    source_ids = [m.message_id for m in records if not m.hidden or m.tool_calls or m.tool_results]
    columns = {
        "outcome": outcome,
        "outcome_source": source,
        "assistant_turn_weights": weights,
        "tools_synthesized": True,
        "n_tool_calls": n_calls,
        "n_tool_results": len(results),
        "n_tool_errors": n_errors,
        "n_retries": retries,
        "n_test_runs": len(test_runs),
        "n_user_interventions": interventions,
        "max_tool_output_chars": ctx.settings.max_tool_output_chars,
        "tool_outputs_truncated": stats.tool_outputs_truncated,
        "loop_detected": loop,
        "tool_names": sorted({c.name for m in records for c in m.tool_calls}),
        "languages": languages,
        "reasoning_kind": stats.reasoning_kind(),
        "merged_messages": stats.merged_messages,
        "models": stats.models,
        "lane_flags": flags,
    }
    payload = {"messages": msgs, "tools": synthesize_tools(msgs)}
    return [lane_row(LANE, conversation, source_ids, "active", payload, columns)]


def _result_for(records: list[Message], call_id: str | None) -> ToolResult | None:
    if call_id is None:
        # No id: the next result after the call on the branch is its result.
        return None
    for m in records:
        for result in m.tool_results:
            if result.call_id == call_id:
                return result
    return None


def validate(row: dict[str, Any]) -> str | None:
    """The agentic shape: user first, assistant last, at least one tool call, ``tools`` as a JSON string."""
    problem = messages_problem(row.get("messages"))
    if problem:
        return problem
    msgs = row["messages"]
    if msgs[0]["role"] not in ("system", "user") or msgs[-1]["role"] != "assistant":
        return "must_start_user_end_assistant"
    if not any(m["tool_calls"] for m in msgs):
        return "no_tool_calls"
    if not isinstance(row.get("tools"), str):
        return "tools_not_json_string"
    return None


LANE_SPEC = Lane(
    name=LANE,
    title="Agentic code trajectories (messages + tools)",
    payload_columns=("messages", "tools"),
    emit=emit,
    validate=validate,
    quality=lambda row: {"resolved": 1.0, "unknown": 0.3}.get(row.get("outcome") or "", 0.0),
    count_columns=("outcome", "reasoning_kind"),
    converters={"openai": partial(to_openai, LANE), "sharegpt": partial(to_sharegpt, LANE)},
    loading="from trl import SFTConfig, SFTTrainer\ntrainer = SFTTrainer(model=model, train_dataset=ds[\"train\"],\n"
            "                     args=SFTConfig(output_dir=\"out\", assistant_only_loss=True))",
)
