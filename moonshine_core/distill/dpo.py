"""DPO lane: ``prompt`` / ``chosen`` / ``rejected`` message lists, one rejected answer per row.

Pair sources, strongest first (distillation.md 2.2); when two sources give the
same (prompt, chosen, rejected) only the strongest is kept:

``side_by_side``
    An explicit choice between answers: ``Comparison`` records whose source is
    ``model_comparisons``, ``paragen`` or ``side_by_side`` (or any comparison
    whose ``chosen_is_inferred`` is false). Ties and discarded comparisons
    give no row.
``thumbs_pair``
    Sibling answers to one prompt where one got a thumbs down and the other a
    thumbs up, or was the one the user kept (continued from).
``regeneration``
    Sibling answers without feedback: the one on the branch the user continued
    is chosen, each abandoned sibling a rejected (weak: people regenerate for
    variety). From the ``regeneration`` comparisons provider plugins emit
    (one definition for every provider: ``moonshine_core.trees.regeneration_forks``).
``correction``
    The weakest: the user pushed back on an answer (``no, that's wrong``, a
    pasted error) and accepted the next one. The later answer saw the
    correction, so the row is honest about it: the prompt's last user turn is
    the original request *plus* the user's correction (``prompt_rewritten``),
    the rejected answer is the one that was corrected, and ``chosen_context``
    says the chosen answer was written after seeing the rejected one.

The prompt is the branch down to the prompt message (visible turns and tool
traffic) and must end on a user or tool turn (TRL tokenises it with a
generation prompt).
"""

from __future__ import annotations

from difflib import SequenceMatcher
from functools import partial
from typing import Any

from ..lane import Lane, LaneContext, lane_row
from ..records import Comparison, Conversation
from ..trees import ConversationTree
from .agentic import synthesize_tools
from .converters import to_openai, to_sharegpt
from .messages import ConversionStats, convert, is_text_answer, merge_same_role, message
from .textsignals import is_confirmation, is_correction, is_refusal
from .validate import messages_problem

LANE = "dpo"
EXPLICIT_SOURCES = ("model_comparisons", "paragen", "side_by_side")
TIE_RATINGS = ("same", "skip", "tie", "tie (bothbad)", "both_bad", "none")
#: Strength order used to keep one source per pair and as the default ``margin``.
SOURCE_STRENGTH = {"side_by_side": 1.0, "thumbs_pair": 0.8, "regeneration": 0.3, "correction": 0.2}


class _Builder:
    def __init__(self, conversation: Conversation, ctx: LaneContext):
        self.conversation = conversation
        self.ctx = ctx
        self.tree = ConversationTree(conversation)
        self.rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.ratings = ctx.ratings()

    # -- conversion -------------------------------------------------------------------
    def _convert(self, ids: list[str], stats: ConversionStats, call_ids: dict[str, str] | None = None) -> list[dict]:
        return convert(self.tree.messages(ids), reasoning_policy=self.ctx.settings.reasoning_policy,
                       include_tools=True, max_tool_output_chars=self.ctx.settings.max_tool_output_chars,
                       stats=stats, call_ids=call_ids)

    def prompt(self, prompt_id: str, stats: ConversionStats,
               call_ids: dict[str, str] | None = None) -> tuple[list[str], list[dict]]:
        ids = self.tree.path(prompt_id)
        return ids, merge_same_role(self._convert(ids, stats, call_ids), stats)

    def answer(self, prompt_id: str, answer_id: str) -> list[str]:
        """Ids of one answer: from below the prompt down to ``answer_id``, then to the end of its turn."""
        path = self.tree.path(answer_id)
        if prompt_id not in path:
            return []
        below = path[path.index(prompt_id) + 1:]
        if any(self.tree.by_id[i].role == "user" for i in below):
            return []
        return below + self.tree.turn_end(answer_id)

    # -- rows -------------------------------------------------------------------------
    def add(self, source: str, prompt_id: str, chosen_ids: list[str], rejected_ids: list[str], *,
            comparison: Comparison | None = None, prompt_override: list[dict] | None = None,
            extra: dict[str, Any] | None = None) -> None:
        if not chosen_ids or not rejected_ids:
            return
        key = (prompt_id if prompt_override is None else f"{prompt_id}+rewritten", chosen_ids[-1], rejected_ids[-1])
        existing = self.rows.get(key)
        if existing is not None and SOURCE_STRENGTH[existing["pair_source"]] >= SOURCE_STRENGTH[source]:
            return
        stats = ConversionStats()
        call_ids: dict[str, str] = {}   # one numbering of tool-call ids across prompt and both answers
        prompt_ids, prompt = self.prompt(prompt_id, stats, call_ids)
        if prompt_override is not None:
            prompt = prompt_override
        chosen_stats, rejected_stats = ConversionStats(), ConversionStats()
        chosen = self._convert(chosen_ids, chosen_stats, dict(call_ids))
        rejected = self._convert(rejected_ids, rejected_stats, dict(call_ids))
        if not prompt or prompt[-1]["role"] not in ("user", "tool"):
            return
        if not _ends_on_answer(chosen) or not _ends_on_answer(rejected):
            return
        chosen_text, rejected_text = _answer_text(chosen), _answer_text(rejected)
        uses_tools = any(m["tool_calls"] for m in chosen + rejected + prompt)
        chosen_fb = self.ratings.get(chosen_ids[-1]) or _rating_in(self.ratings, chosen_ids)
        rejected_fb = self.ratings.get(rejected_ids[-1]) or _rating_in(self.ratings, rejected_ids)
        chosen_model = next(iter(chosen_stats.models), None)
        rejected_model = next(iter(rejected_stats.models), None)
        c_msg, r_msg = self.tree.by_id[chosen_ids[-1]], self.tree.by_id[rejected_ids[-1]]
        gap = (abs(c_msg.created_at - r_msg.created_at)
               if c_msg.created_at is not None and r_msg.created_at is not None else None)
        similarity = round(SequenceMatcher(None, chosen_text[:4000], rejected_text[:4000], autojunk=False).ratio(), 4)
        flags = []
        if similarity >= 0.95:
            flags.append("near_identical_pair")
        if is_refusal(chosen_text) and is_refusal(rejected_text):
            flags.append("both_refusals")
        if source in ("regeneration", "correction"):
            flags.append("weak_pair_source")
        columns = {
            "pair_source": source,
            "comparison_source": comparison.source if comparison is not None else None,
            "chosen_is_inferred": bool(comparison.chosen_is_inferred) if comparison is not None
            else source != "side_by_side",
            "margin": SOURCE_STRENGTH[source],
            "pair_group_id": f"{self.conversation.conversation_id}:{prompt_id}",
            "branch_parent_message_id": prompt_id,
            "prompt_message_ids": prompt_ids,
            "chosen_message_ids": list(chosen_ids),
            "rejected_message_ids": list(rejected_ids),
            "chosen_model": chosen_model,
            "rejected_model": rejected_model,
            "same_model": chosen_model == rejected_model if chosen_model and rejected_model else None,
            "chosen_feedback": chosen_fb,
            "rejected_feedback": rejected_fb,
            "chosen_chars": len(chosen_text),
            "rejected_chars": len(rejected_text),
            "len_ratio": round(len(chosen_text) / max(1, len(rejected_text)), 4),
            "pair_similarity": similarity,
            "chosen_refusal": is_refusal(chosen_text),
            "rejected_refusal": is_refusal(rejected_text),
            "time_gap_s": gap,
            "prompt_rewritten": prompt_override is not None,
            "chosen_context": "saw_rejected_and_correction" if source == "correction" else "same_prompt",
            "reasoning_kind": stats.reasoning_kind(),
            "lane_flags": flags,
            **(extra or {}),
        }
        payload = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
        payload["tools"] = synthesize_tools(prompt + chosen + rejected) if uses_tools else None
        source_ids = prompt_ids + list(chosen_ids) + list(rejected_ids)
        variant = f"pair:{chosen_ids[-1]}>{rejected_ids[-1]}" + (":rewritten" if prompt_override is not None else "")
        self.rows[key] = lane_row(LANE, self.conversation, source_ids, variant, payload, columns)

    # -- sources ----------------------------------------------------------------------
    def from_comparisons(self) -> None:
        for comp in sorted(self.ctx.comparisons, key=lambda c: c.comparison_id):
            if comp.metadata.get("discard") or (comp.rating or "").lower() in TIE_RATINGS:
                continue
            explicit = comp.source in EXPLICIT_SOURCES or not comp.chosen_is_inferred
            source = "side_by_side" if explicit else "regeneration"
            prompt_id = comp.prompt_message_id
            if prompt_id is None or prompt_id not in self.tree.by_id:
                prompt_id = _common_prompt(self.tree, comp.chosen_message_ids + comp.rejected_message_ids)
            before = len(self.rows)
            for chosen_id in (comp.chosen_message_ids[:1] if prompt_id is not None else []):
                chosen = self.answer(prompt_id, chosen_id) if chosen_id in self.tree.by_id else []
                if chosen and not explicit and not _continued(self.tree, chosen):
                    continue   # an inferred choice needs the user to have gone on from the kept answer
                for rejected_id in comp.rejected_message_ids:
                    rejected = self.answer(prompt_id, rejected_id) if rejected_id in self.tree.by_id else []
                    if chosen and rejected and chosen[-1] != rejected[-1]:
                        self.add(source, prompt_id, chosen, rejected, comparison=comp)
            if len(self.rows) == before:
                # The ids did not resolve in this tree; the comparison may still carry its texts.
                for i, row in enumerate(inline_rows(comp) or []):
                    payload = {k: row.pop(k) for k in ("prompt", "chosen", "rejected", "tools")}
                    key = (f"inline:{comp.comparison_id}", str(i), "")
                    self.rows[key] = lane_row(LANE, self.conversation, [comp.comparison_id], f"inline:{i}",
                                              payload, row)

    def from_thumbs(self) -> None:
        """Thumbs pairs among the alternatives of each comparison: a thumbs-down answer is rejected
        against a thumbs-up sibling, else against the one the user kept.

        The alternatives are the comparisons' candidates (regenerations are found once, by the
        provider plugin through ``moonshine_core.provider.regeneration_comparisons``), so this lane
        never re-derives them from the tree.
        """
        for comp in sorted(self.ctx.comparisons, key=lambda c: c.comparison_id):
            prompt_id = comp.prompt_message_id
            if prompt_id is None or prompt_id not in self.tree.by_id:
                prompt_id = _common_prompt(self.tree, comp.candidate_message_ids)
            if prompt_id is None:
                continue
            chains = [chain for chain in (self.answer(prompt_id, c) for c in comp.candidate_message_ids
                                          if c in self.tree.by_id) if chain]
            if len(chains) < 2:
                continue
            rated = [self.ratings.get(chain[-1]) or _rating_in(self.ratings, chain) for chain in chains]
            kept = [i for i, chain in enumerate(chains) if any(m in self.tree.active for m in chain)]
            ups = [i for i, r in enumerate(rated) if r == "up"]
            downs = [i for i, r in enumerate(rated) if r == "down"]
            winners = ups or [i for i in kept if rated[i] is None]
            for chosen in winners[:1]:
                for rejected in downs:
                    if rejected != chosen:
                        self.add("thumbs_pair", prompt_id, chains[chosen], chains[rejected])

    def from_corrections(self) -> None:
        path = [m for m in self.tree.messages(self.tree.active_path)]
        visible = [m for m in path if not m.hidden and m.role in ("user", "assistant") and m.text.strip()]
        for i in range(len(visible) - 3):
            u1, a1, u2, a2 = visible[i:i + 4]
            if (u1.role, a1.role, u2.role, a2.role) != ("user", "assistant", "user", "assistant"):
                continue
            if not is_correction(u2.text) or not is_text_answer(a2):
                continue
            after = visible[i + 4] if i + 4 < len(visible) else None
            accepted = (after is not None and after.role == "user" and not is_correction(after.text)) or \
                self.ratings.get(a2.message_id) == "up" or (after is not None and is_confirmation(after.text))
            if not accepted or self.ratings.get(a2.message_id) == "down":
                continue
            rejected = self.answer(u1.message_id, a1.message_id)
            chosen = self.answer(u2.message_id, a2.message_id)
            if not rejected or not chosen:
                continue
            stats = ConversionStats()
            _, prompt = self.prompt(u1.message_id, stats)
            if not prompt or prompt[-1]["role"] != "user":
                continue
            rewritten = prompt[:-1] + [message("user", f"{prompt[-1]['content']}\n\n{u2.text}")]
            self.add("correction", u1.message_id, chosen, rejected, prompt_override=rewritten,
                     extra={"correction_message_id": u2.message_id})


def _rating_in(ratings: dict[str, str], ids: list[str]) -> str | None:
    for mid in reversed(ids):
        if mid in ratings:
            return ratings[mid]
    return None


def _continued(tree: ConversationTree, chain: list[str]) -> bool:
    """True when the user wrote something after this answer (the branch was continued)."""
    last = chain[-1]
    return any(tree.by_id[k].role == "user" for k in tree.children.get(last, []))


def _common_prompt(tree: ConversationTree, ids: list[str]) -> str | None:
    """The deepest user/tool message that is an ancestor of every id."""
    paths = [tree.path(i) for i in ids if i in tree.by_id]
    if not paths:
        return None
    common = None
    for items in zip(*paths):
        if len(set(items)) != 1:
            break
        if tree.by_id[items[0]].role in ("user", "tool"):
            common = items[0]
    return common


def _ends_on_answer(messages: list[dict]) -> bool:
    return bool(messages) and messages[0]["role"] == "assistant" and messages[-1]["role"] == "assistant" \
        and bool(messages[-1]["content"].strip())


def _answer_text(messages: list[dict]) -> str:
    return "\n".join(m["content"] for m in messages if m["role"] == "assistant" and m["content"])


def emit(conversation: Conversation, ctx: LaneContext) -> list[dict[str, Any]]:
    builder = _Builder(conversation, ctx)
    builder.from_comparisons()
    builder.from_thumbs()
    builder.from_corrections()
    return [builder.rows[k] for k in sorted(builder.rows)]


def inline_rows(comparison: Comparison) -> list[dict[str, Any]] | None:
    """Payload and lane columns for a comparison that carries its texts inline (no tree to resolve).

    Used by the pipeline for comparisons whose conversation is not in the
    mash. Returns ``None`` when the comparison has no usable preference.
    """
    if comparison.metadata.get("discard") or (comparison.rating or "").lower() in TIE_RATINGS:
        return None
    if not comparison.prompt or not comparison.chosen or not comparison.rejected:
        return None
    # Inline turns are role/content only: tool outputs cannot be paired with their calls, so they are
    # left out (a prompt that then ends on an assistant turn gives no row).
    prompt = merge_same_role([m for m in (_inline(x) for x in comparison.prompt)
                              if m["content"] and m["role"] in ("system", "user", "assistant")])
    chosen = [m for m in (_inline(x) for x in comparison.chosen) if m["role"] == "assistant" and m["content"]]
    rejected = [m for m in (_inline(x) for x in comparison.rejected) if m["role"] == "assistant" and m["content"]]
    if not prompt or prompt[-1]["role"] not in ("user", "tool") or not chosen or not rejected:
        return None
    chosen, rejected = merge_same_role(chosen), merge_same_role(rejected)
    ct, rt = _answer_text(chosen), _answer_text(rejected)
    if ct == rt:
        return None
    explicit = comparison.source in EXPLICIT_SOURCES or not comparison.chosen_is_inferred
    source = "side_by_side" if explicit else "regeneration"
    similarity = round(SequenceMatcher(None, ct[:4000], rt[:4000], autojunk=False).ratio(), 4)
    flags = ["inline_comparison"] + (["near_identical_pair"] if similarity >= 0.95 else []) + \
        (["weak_pair_source"] if source == "regeneration" else [])
    columns = {
        "pair_source": source, "comparison_source": comparison.source,
        "chosen_is_inferred": bool(comparison.chosen_is_inferred), "margin": SOURCE_STRENGTH[source],
        "pair_group_id": f"{comparison.conversation_id or comparison.comparison_id}:{comparison.comparison_id}",
        "branch_parent_message_id": comparison.prompt_message_id, "prompt_message_ids": [],
        "chosen_message_ids": list(comparison.chosen_message_ids),
        "rejected_message_ids": list(comparison.rejected_message_ids),
        "chosen_model": None, "rejected_model": None, "same_model": None,
        "chosen_feedback": None, "rejected_feedback": None, "chosen_chars": len(ct), "rejected_chars": len(rt),
        "len_ratio": round(len(ct) / max(1, len(rt)), 4), "pair_similarity": similarity,
        "chosen_refusal": is_refusal(ct), "rejected_refusal": is_refusal(rt), "time_gap_s": None,
        "prompt_rewritten": False, "chosen_context": "same_prompt", "reasoning_kind": "none", "lane_flags": flags,
    }
    payload = {"prompt": prompt, "chosen": chosen, "rejected": rejected, "tools": None}
    return [{**payload, **columns}]


def _inline(item: Any) -> dict:
    if not isinstance(item, dict):
        return message("user", "")
    role = item.get("role") if item.get("role") in ("system", "user", "assistant", "tool") else "user"
    content = item.get("content")
    return message(role, content if isinstance(content, str) else "")


def validate(row: dict[str, Any]) -> str | None:
    """The DPO shape: a prompt ending on a user/tool turn, two different assistant-turn answers."""
    for col in ("prompt", "chosen", "rejected"):
        problem = messages_problem(row.get(col))
        if problem:
            return f"{col}_{problem}"
    if row["prompt"][-1]["role"] not in ("user", "tool"):
        return "prompt_must_end_on_user_or_tool"
    for col in ("chosen", "rejected"):
        if row[col][0]["role"] != "assistant" or row[col][-1]["role"] != "assistant":
            return f"{col}_must_be_assistant_turn"
    if row["chosen"] == row["rejected"]:
        return "chosen_equals_rejected"
    return None


def unattached_rows(comparison: Comparison) -> list[dict[str, Any]]:
    """Rows from a comparison whose conversation is not in the mash but which carries its texts."""
    rows = inline_rows(comparison) or []
    for i, row in enumerate(rows):
        row.update({"source_message_ids": [comparison.comparison_id], "variant": f"inline:{i}"})
    return rows


LANE_SPEC = Lane(
    name=LANE,
    title="DPO preference pairs (prompt / chosen / rejected)",
    payload_columns=("prompt", "chosen", "rejected", "tools"),
    emit=emit,
    validate=validate,
    quality=lambda row: float(row.get("margin") or 0.0),
    count_columns=("pair_source", "reasoning_kind"),
    converters={"openai": partial(to_openai, LANE), "sharegpt": partial(to_sharegpt, LANE)},
    loading="from trl import DPOConfig, DPOTrainer\ntrainer = DPOTrainer(model=model, args=DPOConfig(output_dir=\"out\"),\n"
            "                     train_dataset=ds[\"train\"], processing_class=tokenizer)",
    emit_unattached=unattached_rows,
)
