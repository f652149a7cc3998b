"""Quality scorers beyond size and shape: refusals, corrections, tool errors, secrets/PII,
language, identity mentions, and the ``interaction_value`` the mix ranks by.

Per conversation only (``moonshine_score``); duplicates and near-duplicate
clusters need the whole corpus and are computed by the distill pipeline.
They mark, never drop.
"""

from __future__ import annotations

import math
from collections import Counter

from ..distill.agentic import result_failed
from ..distill.textsignals import (
    detect_language,
    find_sensitive,
    has_pasted_error,
    identity_mentions,
    is_correction,
    is_refusal,
)
from ..hookspecs import hookimpl
from ..records import Conversation, Score
from .scorers import active_messages


@hookimpl
def moonshine_score(conversation: Conversation) -> list[Score]:
    branch = active_messages(conversation)
    visible = [m for m in branch if not m.hidden and m.role in ("user", "assistant")]
    users = [m for m in visible if m.role == "user"]
    assistants = [m for m in visible if m.role == "assistant" and m.text.strip()]
    refusals = sum(1 for m in assistants if is_refusal(m.text))
    corrections = [m.message_id for m in users[1:] if is_correction(m.text)]
    pasted = sum(1 for m in users if has_pasted_error(m.text))
    results = [r for m in branch for r in m.tool_results]
    calls = sum(len(m.tool_calls) for m in branch)
    errors = sum(1 for r in results if result_failed(r))
    sensitive: Counter[str] = Counter()
    for m in branch:
        if m.role in ("user", "assistant", "tool"):
            sensitive.update(find_sensitive(m.text))
            for r in m.tool_results:
                sensitive.update(find_sensitive(r.content or ""))
    language, confidence = detect_language("\n".join(m.text for m in visible))
    identities = sorted({x for m in assistants for x in identity_mentions(m.text)})
    code = sum(1 for m in assistants if "```" in m.text)
    # What the operators rank high: correction-heavy, tool-using, debugging-heavy work (log-damped sums).
    value = (1.5 * math.log1p(len(corrections)) + 1.0 * math.log1p(calls) + 1.0 * math.log1p(errors)
             + 1.0 * math.log1p(pasted) + 0.5 * math.log1p(code) + 0.25 * math.log1p(len(users))
             - (1.0 if assistants and refusals == len(assistants) else 0.0))
    return [
        Score(name="refusal", value=round(refusals / len(assistants), 4) if assistants else 0.0,
              flags=["refusal"] if refusals else [], detail={"refusals": refusals}),
        Score(name="corrections", value=float(len(corrections)),
              flags=["has_corrections"] if corrections else [],
              detail={"message_ids": corrections, "pasted_errors": pasted}),
        Score(name="tool_errors", value=float(errors),
              flags=["tool_errors"] if errors else [],
              detail={"tool_calls": calls, "tool_results": len(results), "errors": errors}),
        Score(name="sensitive", value=float(sum(sensitive.values())),
              flags=sorted(sensitive), detail=dict(sorted(sensitive.items()))),
        Score(name="language", value=confidence, flags=[] if language != "und" else ["language_unknown"],
              detail={"language": language}),
        Score(name="identity", value=float(len(identities)),
              flags=["identity_mention"] if identities else [], detail={"mentions": identities}),
        Score(name="interaction_value", value=round(value, 4),
              detail={"corrections": len(corrections), "tool_calls": calls, "tool_errors": errors,
                      "pasted_errors": pasted, "code_answers": code, "user_turns": len(users)}),
    ]
