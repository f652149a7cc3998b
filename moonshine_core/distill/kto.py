"""KTO lane: ``prompt`` / ``completion`` / ``label`` rows, one answer each (TRL's unpaired preference type).

KTO needs no sibling to pair an answer with, so the single ratings and
single reactions that are far more common than pairs become rows. Where a
label comes from (``label_source``); one row per answer, the first that
applies wins:

``thumbs_up`` / ``thumbs_down``
    Thumbs feedback on the answer (:meth:`LaneContext.ratings`, the latest
    record wins), on any branch.
``user_corrected`` (label false)
    On the active branch, the user's next turn pushes back on the answer
    (:func:`.textsignals.is_correction`: "no, that's wrong", "still fails", a
    pasted traceback at the head of the turn).
``user_confirmed`` (label true)
    The next turn opens by accepting it (:func:`.textsignals.is_confirmation`:
    "thanks", "perfect", "that works") and is not a correction.
``user_continued`` (label true, weak: ``weak_label_source``)
    The next turn goes on without correcting, read conservatively: not a
    correction, no pasted error anywhere in it
    (:func:`.textsignals.has_pasted_error`), and not opening with doubt or a
    redo request ("but", "actually", "wait", "why", "are you sure", "I meant",
    "rewrite", "make it shorter", ...: :data:`HESITANT`).

Labels read from the next turn are never inferred for a refusal (pushback on
a refusal may punish a right refusal, a new topic after one says nothing), for
an answer nothing follows on its branch, nor from a next turn that is only an
upload (it has no words to read). An answer with none of these signals gives
no row.

The prompt is built like the DPO prompt (:class:`.dpo.Answers`): the branch
down to the user turn the answer replies to, visible turns and tool traffic,
opening on a user turn, same-role turns merged, ending on ``user``. The
completion is the answering turn as assistant messages only, merged into one:
a turn with tool calls or results gives no row (a completion cannot hold a
tool result).
"""

from __future__ import annotations

import re
from typing import Any

from ..lane import Lane, LaneContext, lane_row
from ..records import Conversation, Message
from .agentic import synthesize_tools
from .converters import to_sharegpt
from .dpo import Answers, answer_text, common_prompt
from .messages import ConversionStats, role_order_problem
from .textsignals import has_pasted_error, is_confirmation, is_correction, is_refusal
from .validate import messages_problem

LANE = "kto"
#: How much each source is worth as evidence (the row's ``quality`` for ``--mix``).
LABEL_STRENGTH = {"thumbs_up": 1.0, "thumbs_down": 1.0, "user_corrected": 0.5, "user_confirmed": 0.5,
                  "user_continued": 0.2}
#: A next turn opening like this neither accepts nor corrects the answer: no label is read from it.
HESITANT = re.compile(
    r"\s*(?:but|actually|wait|hmm+|huh|why|are you sure|really\?|what about|what if|i meant|i said|i asked"
    r"|i mean|instead|again|redo|rewrite|regenerate|retry|shorter|longer|simpler|make it"
    r"|(?:can|could|would) you (?:please )?(?:make|rewrite|redo|fix|try|shorten|simplify)|please (?:fix|redo|rewrite|try))\b",
    re.IGNORECASE)
_BY_FOLLOW_UP = {"corrected": (False, "user_corrected"), "confirmed": (True, "user_confirmed"),
                 "continued": (True, "user_continued")}


def follow_up(text: str) -> str:
    """What the user's next turn says about the answer before it: ``corrected``, ``confirmed``,
    ``continued`` or ``unclear`` (doubt, a redo request or a pasted error)."""
    if is_correction(text):
        return "corrected"
    if is_confirmation(text):
        return "confirmed"
    if has_pasted_error(text) or HESITANT.match(text):
        return "unclear"
    return "continued"


def _label(feedback: str | None, verdict: str | None, refusal: bool) -> tuple[bool, str] | None:
    if feedback is not None:
        return feedback == "up", f"thumbs_{feedback}"
    if refusal or verdict is None:
        return None
    return _BY_FOLLOW_UP.get(verdict)


def _answers_with_signal(answers: Answers) -> dict[str, tuple[str, list[str], Message | None]]:
    """``{last id of the answer: (prompt id, answer ids, the user's next turn or None)}`` for every rated
    answer and every answer on the active branch that a user turn follows."""
    tree = answers.tree
    found: dict[str, tuple[str, list[str], Message | None]] = {}
    visible = answers.visible_turns()
    for answer, nxt in zip(visible, visible[1:]):
        if answer.role != "assistant" or nxt.role != "user":
            continue
        prompt_id = common_prompt(tree, [answer.message_id])
        chain = answers.answer(prompt_id, answer.message_id) if prompt_id is not None else []
        if chain:
            found[chain[-1]] = (prompt_id, chain, nxt)
    for rated in sorted(answers.ratings):
        if rated not in tree.by_id or tree.by_id[rated].role != "assistant":
            continue
        prompt_id = common_prompt(tree, [rated])
        chain = answers.answer(prompt_id, rated) if prompt_id is not None else []
        if chain and chain[-1] not in found:
            found[chain[-1]] = (prompt_id, chain, None)
    return found


def _row(answers: Answers, prompt_id: str, chain: list[str], nxt: Message | None) -> dict[str, Any] | None:
    stats, completion_stats = ConversionStats(), ConversionStats()
    call_ids: dict[str, str] = {}
    prompt_ids, prompt = answers.prompt(prompt_id, stats, call_ids)
    if not prompt or prompt[-1]["role"] != "user":
        return None
    completion = answers.answer_messages(chain, completion_stats, call_ids)
    if not completion or any(m["role"] != "assistant" or m["tool_calls"] for m in completion):
        return None
    text = answer_text(completion)
    if not completion[-1]["content"].strip():
        return None
    feedback = answers.rating(chain)
    if nxt is None:
        verdict = None
    else:
        verdict = follow_up(nxt.text) if nxt.text.strip() else "unclear"   # only an upload: nothing to read
    refusal = is_refusal(text)
    labelled = _label(feedback, verdict, refusal)
    if labelled is None:
        return None
    label, source = labelled
    flags = []
    if source == "user_continued":
        flags.append("weak_label_source")
    if (feedback == "up" and verdict == "corrected") or (feedback == "down" and verdict == "confirmed"):
        flags.append("label_conflict")
    if refusal:
        flags.append("refusal")
    if stats.leading_turns_cut:
        flags.append("leading_turns_cut")
    kinds = completion_stats if completion_stats.reasoning_kinds else stats
    columns = {
        "label_source": source,
        "feedback": feedback,
        "follow_up": verdict,
        "follow_up_message_id": nxt.message_id if nxt is not None else None,
        "model": next(iter(completion_stats.models), None),
        "models": list(completion_stats.models),
        "prompt_message_ids": prompt_ids,
        "completion_message_ids": list(chain),
        "on_active_branch": chain[-1] in answers.tree.active,
        "completion_chars": len(text),
        "completion_refusal": refusal,
        "reasoning_kind": kinds.reasoning_kind(),
        "lane_flags": flags,
    }
    uses_tools = any(m["tool_calls"] for m in prompt)
    payload = {"prompt": prompt, "completion": completion, "label": label,
               "tools": synthesize_tools(prompt) if uses_tools else None}
    return lane_row(LANE, answers.conversation, [], f"answer:{chain[-1]}", payload, columns)


def emit(conversation: Conversation, ctx: LaneContext) -> list[dict[str, Any]]:
    answers = Answers(conversation, ctx)
    rows = []
    for _, (prompt_id, chain, nxt) in sorted(_answers_with_signal(answers).items()):
        row = _row(answers, prompt_id, chain, nxt)
        if row is not None:
            rows.append(row)
    return rows


def validate(row: dict[str, Any]) -> str | None:
    """The KTO shape: a prompt ending on a user turn, a non-empty assistant-only completion, a bool
    label, prompt and completion in strict role order."""
    for col in ("prompt", "completion"):
        problem = messages_problem(row.get(col))
        if problem:
            return f"{col}_{problem}"
    if row["prompt"][-1]["role"] != "user":
        return "prompt_must_end_on_user"
    if any(m["role"] != "assistant" or m["tool_calls"] for m in row["completion"]):
        return "completion_must_be_assistant_only"
    problem = role_order_problem(row["prompt"] + row["completion"])
    if problem:
        return problem
    if not row["completion"][-1]["content"].strip():
        return "completion_empty"
    if not isinstance(row.get("label"), bool):
        return "label_not_bool"
    return None


def to_sharegpt_kto(row: dict[str, Any]) -> dict[str, Any] | None:
    """LLaMA-Factory's KTO row: ``conversations`` (prompt then the answer) and a ``kto_tag`` bool.

    LLaMA-Factory skips rows whose turns do not alternate (after an optional
    system turn, human/observation then gpt/function_call) or that do not end
    on the assistant; such rows are not written (counted in ``converter_skips``).
    """
    out = to_sharegpt("conversational", {"messages": row["prompt"] + row["completion"],
                                         "record_uid": row.get("record_uid"), "tools": row.get("tools")})
    turns = out["conversations"] if out else []
    for i, turn in enumerate(turns):
        if turn["from"] not in (("human", "observation") if i % 2 == 0 else ("gpt", "function_call")):
            return None
    if not turns or turns[-1]["from"] != "gpt":
        return None
    return {**out, "kto_tag": bool(row["label"])}


LANE_SPEC = Lane(
    name=LANE,
    title="KTO unpaired preferences (prompt / completion / label)",
    payload_columns=("prompt", "completion", "label", "tools"),
    emit=emit,
    validate=validate,
    quality=lambda row: LABEL_STRENGTH.get(row.get("label_source"), 0.0),
    count_columns=("label", "label_source"),
    converters={"sharegpt": to_sharegpt_kto},
    loading="from trl import KTOConfig, KTOTrainer\ntrainer = KTOTrainer(model=model, args=KTOConfig(output_dir=\"out\"),\n"
            "                     train_dataset=ds[\"train\"], processing_class=tokenizer)",
)
