"""Converters from lane rows to other consumers' formats (distillation.md 1.2, 1.3, 1.4).

Written next to the lane files under ``converted/`` (see docs/lanes.md):

========================  ===========================  ==================================================
lane                      ``openai/``                  ``sharegpt/``
========================  ===========================  ==================================================
conversational            chat SFT ``{"messages"}``    ``{"id", "conversations": [{"from", "value"}]}``
agentic_code              chat SFT with ``tools``      with ``function_call`` / ``observation`` turns, ``tools``
dpo                       preference (single final     LLaMA-Factory ranking: ``conversations`` +
                          assistant message only)      ``chosen`` / ``rejected`` message objects
grpo                      RFT (``messages`` ending on  --
                          user + reward fields)
========================  ===========================  ==================================================

A row that a format cannot express is skipped and counted (for example a DPO
pair whose answers hold tool calls has no OpenAI preference form).
"""

from __future__ import annotations

import json
from typing import Any

SHAREGPT_ROLE = {"system": "system", "user": "human", "assistant": "gpt", "tool": "observation"}


def _openai_message(m: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m["role"], "content": m["content"]}
    if m.get("tool_calls"):
        out["tool_calls"] = m["tool_calls"]   # arguments are already JSON strings, as OpenAI wants
        if not m["content"]:
            out["content"] = None
    if m["role"] == "tool":
        out["tool_call_id"] = m.get("tool_call_id")
    return out


def to_openai(lane: str, row: dict[str, Any]) -> dict[str, Any] | None:
    if lane in ("conversational", "agentic_code"):
        out: dict[str, Any] = {"messages": [_openai_message(m) for m in row["messages"]]}
        if row.get("tools"):
            out["tools"] = json.loads(row["tools"])
        return out
    if lane == "dpo":
        chosen, rejected = row["chosen"], row["rejected"]
        if len(chosen) != 1 or len(rejected) != 1 or chosen[0].get("tool_calls") or rejected[0].get("tool_calls"):
            return None
        return {"input": {"messages": [_openai_message(m) for m in row["prompt"]]},
                "preferred_output": [_openai_message(chosen[0])],
                "non_preferred_output": [_openai_message(rejected[0])]}
    if lane == "grpo":
        return {"messages": [_openai_message(m) for m in row["prompt"]], "task": row.get("task"),
                "solution": row.get("solution"), "verification_info": row.get("verification_info"),
                "record_uid": row.get("record_uid")}
    return None


def _sharegpt_turns(messages: list[dict[str, Any]]) -> list[dict[str, str]] | None:
    turns = []
    for m in messages:
        if m.get("tool_calls"):
            if m["content"]:
                turns.append({"from": "gpt", "value": m["content"]})
            calls = [{"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}
                     for c in m["tool_calls"]]
            turns.append({"from": "function_call",
                          "value": json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)})
        else:
            turns.append({"from": SHAREGPT_ROLE.get(m["role"], m["role"]), "value": m["content"]})
    return turns


def to_sharegpt(lane: str, row: dict[str, Any]) -> dict[str, Any] | None:
    if lane in ("conversational", "agentic_code"):
        turns = _sharegpt_turns(row["messages"])
        out: dict[str, Any] = {"id": row.get("record_uid")}
        if turns and turns[0]["from"] == "system":
            out["system"] = turns.pop(0)["value"]
        out["conversations"] = turns
        if row.get("tools"):
            out["tools"] = row["tools"]
        return out
    if lane == "dpo":
        chosen, rejected = row["chosen"], row["rejected"]
        if len(chosen) != 1 or len(rejected) != 1 or chosen[0].get("tool_calls") or rejected[0].get("tool_calls"):
            return None
        turns = _sharegpt_turns(row["prompt"])
        out = {"id": row.get("record_uid")}
        if turns and turns[0]["from"] == "system":
            out["system"] = turns.pop(0)["value"]
        # LLaMA-Factory's ranking rows alternate human/gpt and end on a human turn.
        for i, turn in enumerate(turns):
            if turn["from"] != ("human" if i % 2 == 0 else "gpt"):
                return None
        if not turns or turns[-1]["from"] != "human":
            return None
        out.update({"conversations": turns, "chosen": {"from": "gpt", "value": chosen[0]["content"]},
                    "rejected": {"from": "gpt", "value": rejected[0]["content"]}})
        return out
    return None


def from_sharegpt(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Canonical role/content messages back from a ShareGPT row (text and tool calls; for round-trip tests)."""
    back = {v: k for k, v in SHAREGPT_ROLE.items()}
    out = []
    if row.get("system"):
        out.append({"role": "system", "content": row["system"]})
    for turn in row["conversations"]:
        if turn["from"] == "function_call":
            calls = json.loads(turn["value"])
            calls = calls if isinstance(calls, list) else [calls]
            out.append({"role": "assistant", "content": "",
                        "tool_calls": [{"name": c["name"], "arguments": c["arguments"]} for c in calls]})
        else:
            out.append({"role": back.get(turn["from"], turn["from"]), "content": turn["value"]})
    return out
