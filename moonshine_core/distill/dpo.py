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
generation prompt). Prompt and answer together keep the role order strict chat
templates accept (:func:`.messages.role_order_problem`): the prompt opens on a
user turn, same-role turns are merged, every tool message follows its call.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from rapidfuzz.distance import Indel

from ..lane import SOURCES_KEY, Lane, LaneContext, lane_row, message_sources
from ..records import Comparison, Conversation, Message
from ..trees import ConversationTree
from .agentic import synthesize_tools
from .converters import to_openai, to_sharegpt
from .messages import (
    ConversionStats,
    convert,
    is_text_answer,
    merge_same_role,
    message,
    open_on_user,
    role_order_problem,
    settle_turns,
    turn_text,
)
from .textsignals import is_confirmation, is_correction, is_refusal
from .validate import messages_problem

LANE = "dpo"
EXPLICIT_SOURCES = ("model_comparisons", "paragen", "side_by_side")
TIE_RATINGS = ("same", "skip", "tie", "tie (bothbad)", "both_bad", "none")
#: Strength order used to keep one source per pair and as the default ``margin``.
SOURCE_STRENGTH = {"side_by_side": 1.0, "thumbs_pair": 0.8, "regeneration": 0.3, "correction": 0.2}
#: ``pair_similarity`` at or above this flags the pair ``near_identical_pair``.
NEAR_IDENTICAL = 0.95
#: Characters of each answer compared for ``pair_similarity``.
SIMILARITY_CHARS = 4000


def pair_similarity(chosen_text: str, rejected_text: str) -> float:
    """How alike two answers are, in [0, 1]: the Indel normalised similarity of their first
    :data:`SIMILARITY_CHARS` characters (``2 * LCS / (len(a) + len(b))``, rapidfuzz, in C),
    rounded to 4 places. 0.95 means 95% of the characters are shared, in order."""
    return round(Indel.normalized_similarity(chosen_text[:SIMILARITY_CHARS], rejected_text[:SIMILARITY_CHARS]), 4)


class Answers:
    """One conversation's prompts and answers as canonical messages: what preference rows are built from.

    Shared by the DPO lane and the KTO lane (:mod:`.kto`): a prompt is the
    branch down to a prompt message (visible turns and tool traffic, settled
    into strict role order by :func:`.messages.settle_turns`), an answer the ids
    from below the prompt to the end of the answering turn (converted by
    :meth:`answer_messages`), and a rating the thumbs feedback on an answer.
    """

    def __init__(self, conversation: Conversation, ctx: LaneContext):
        self.conversation = conversation
        self.ctx = ctx
        self.tree = ConversationTree(conversation)
        self.ratings = ctx.ratings()

    def convert(self, ids: list[str], stats: ConversionStats, call_ids: dict[str, str] | None = None) -> list[dict]:
        return convert(self.tree.messages(ids), reasoning_policy=self.ctx.settings.reasoning_policy,
                       include_tools=True, max_tool_output_chars=self.ctx.settings.max_tool_output_chars,
                       stats=stats, call_ids=call_ids)

    def prompt(self, prompt_id: str, stats: ConversionStats,
               call_ids: dict[str, str] | None = None) -> tuple[list[str], list[dict]]:
        """The branch ids down to ``prompt_id`` and the prompt messages, opening on a user turn."""
        ids = self.tree.path(prompt_id)
        return ids, settle_turns(self.convert(ids, stats, call_ids), stats)

    def answer_messages(self, ids: list[str], stats: ConversionStats, call_ids: dict[str, str]) -> list[dict]:
        """An answer's messages (tool traffic paired, same-role messages merged); ``call_ids`` is the
        prompt's numbering, copied so each answer continues it on its own."""
        return settle_turns(self.convert(ids, stats, dict(call_ids)), stats, opening=False)

    def answer(self, prompt_id: str, answer_id: str) -> list[str]:
        """Ids of one answer: from below the prompt down to ``answer_id``, then to the end of its turn."""
        path = self.tree.path(answer_id)
        if prompt_id not in path:
            return []
        below = path[path.index(prompt_id) + 1:]
        if any(self.tree.by_id[i].role == "user" for i in below):
            return []
        return below + self.tree.turn_end(answer_id)

    def rating(self, chain: list[str]) -> str | None:
        """``up`` / ``down`` for an answer: the rating of its last message, else of the latest rated one in it."""
        return self.ratings.get(chain[-1]) or _rating_in(self.ratings, chain)

    def visible_turns(self) -> list[Message]:
        """The user and assistant messages with text (or an upload) the user saw on the active branch, in order."""
        return [m for m in self.tree.messages(self.tree.active_path)
                if not m.hidden and m.role in ("user", "assistant") and turn_text(m).strip()]


class _Builder(Answers):
    def __init__(self, conversation: Conversation, ctx: LaneContext):
        super().__init__(conversation, ctx)
        self.rows: dict[tuple[str, str, str], dict[str, Any]] = {}

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
        chosen = self.answer_messages(chosen_ids, chosen_stats, call_ids)
        rejected = self.answer_messages(rejected_ids, rejected_stats, call_ids)
        if not prompt or prompt[-1]["role"] not in ("user", "tool"):
            return
        if not _ends_on_answer(chosen) or not _ends_on_answer(rejected):
            return
        chosen, opener_stripped = settle_opener(chosen, prompt, source)
        chosen_text, rejected_text = answer_text(chosen), answer_text(rejected)
        uses_tools = any(m["tool_calls"] for m in chosen + rejected + prompt)
        chosen_fb, rejected_fb = self.rating(chosen_ids), self.rating(rejected_ids)
        chosen_model = next(iter(chosen_stats.models), None)
        rejected_model = next(iter(rejected_stats.models), None)
        c_msg, r_msg = self.tree.by_id[chosen_ids[-1]], self.tree.by_id[rejected_ids[-1]]
        gap = (abs(c_msg.created_at - r_msg.created_at)
               if c_msg.created_at is not None and r_msg.created_at is not None else None)
        similarity = pair_similarity(chosen_text, rejected_text)
        flags = []
        if similarity >= NEAR_IDENTICAL:
            flags.append("near_identical_pair")
        if is_refusal(chosen_text) and is_refusal(rejected_text):
            flags.append("both_refusals")
        if source in ("regeneration", "correction"):
            flags.append("weak_pair_source")
        if stats.leading_turns_cut:
            flags.append("leading_turns_cut")
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
            "chosen_opener_stripped": opener_stripped,
            "reasoning_kind": stats.reasoning_kind(),
            "lane_flags": flags,
            **(extra or {}),
        }
        payload = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
        payload["tools"] = synthesize_tools(prompt + chosen + rejected) if uses_tools else None
        variant = f"pair:{chosen_ids[-1]}>{rejected_ids[-1]}" + (":rewritten" if prompt_override is not None else "")
        self.rows[key] = lane_row(LANE, self.conversation, [], variant, payload, columns)

    # -- sources ----------------------------------------------------------------------
    def from_comparisons(self) -> None:
        for comp in sorted(self.ctx.comparisons, key=lambda c: c.comparison_id):
            if comp.metadata.get("discard") or (comp.rating or "").lower() in TIE_RATINGS:
                continue
            explicit = comp.source in EXPLICIT_SOURCES or not comp.chosen_is_inferred
            source = "side_by_side" if explicit else "regeneration"
            prompt_id = comp.prompt_message_id
            if prompt_id is None or prompt_id not in self.tree.by_id:
                prompt_id = common_prompt(self.tree, comp.chosen_message_ids + comp.rejected_message_ids)
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
                prompt_id = common_prompt(self.tree, comp.candidate_message_ids)
            if prompt_id is None:
                continue
            chains = [chain for chain in (self.answer(prompt_id, c) for c in comp.candidate_message_ids
                                          if c in self.tree.by_id) if chain]
            if len(chains) < 2:
                continue
            rated = [self.rating(chain) for chain in chains]
            kept = [i for i, chain in enumerate(chains) if any(m in self.tree.active for m in chain)]
            ups = [i for i, r in enumerate(rated) if r == "up"]
            downs = [i for i, r in enumerate(rated) if r == "down"]
            winners = ups or [i for i in kept if rated[i] is None]
            for chosen in winners[:1]:
                for rejected in downs:
                    if rejected != chosen:
                        self.add("thumbs_pair", prompt_id, chains[chosen], chains[rejected])

    def from_corrections(self) -> None:
        visible = self.visible_turns()
        for i in range(len(visible) - 3):
            u1, a1, u2, a2 = visible[i:i + 4]
            if (u1.role, a1.role, u2.role, a2.role) != ("user", "assistant", "user", "assistant"):
                continue
            if not is_correction(u2.text) or not is_text_answer(a2):
                continue
            after = visible[i + 4] if i + 4 < len(visible) else None
            if after is not None and not after.text.strip():
                after = None   # a turn that is only an upload says nothing about the answer before it
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
            rewritten = prompt[:-1] + [{**message("user", f"{prompt[-1]['content']}\n\n{u2.text}"),
                                        SOURCES_KEY: message_sources(prompt[-1:]) + [u2.message_id]}]
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


def common_prompt(tree: ConversationTree, ids: list[str]) -> str | None:
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


def answer_text(messages: list[dict]) -> str:
    return "\n".join(m["content"] for m in messages if m["role"] == "assistant" and m["content"])


# -- chosen answers that open by acknowledging a turn the prompt does not hold ---------------
#
# A correction pair's chosen answer was written after the rejected one and the user's pushback,
# so it often opens "You're right, I apologize for the confusion." -- replying to an answer its
# prompt does not contain. Such an opener is stripped when what remains is a complete answer
# (``chosen_opener_stripped``); otherwise the row breaks the lane's rule
# (``invalid_row:chosen_acknowledges_absent_turn``).

_ACK = re.compile(
    r"[\s*_>#]*(?:(?:ah|oh|ok(?:ay)?|yes|indeed|right)[\s,!.]+)?"
    r"(?:you(?:'re|’re| are) (?:absolutely |completely |totally |quite |entirely |so )?(?:right|correct)"
    r"|i (?:sincerely |truly |do |really )?apologi[sz]e|(?:my )?(?:sincere |deepest )?apologies"
    r"|(?:i'?m |i’m |i am )?(?:so |very |really |terribly )?sorry(?! to hear)"
    r"|(?:i'?m |i’m |i am )?(?:so |very |really )?sorry to hear(?=[^.!?\n]*\b(?:didn'?t|did not|doesn'?t|does not"
    r"|isn'?t|is not|wasn'?t|was not|still|previous|earlier)\b)"
    r"|i stand corrected|(?:good|great|nice) catch|well spotted|my (?:mistake|bad|error)|oops"
    r"|thanks?(?: you)? for (?:catching|pointing|spotting|noticing|the correction|correcting|clarifying"
    r"|the clarification|your patience|bearing with me|letting me know)"
    r"|vous avez (?:tout à fait |entièrement |bien )?raison|tu as (?:tout à fait |bien )?raison|je m'excuse"
    r"|je suis (?:vraiment )?désolée?|désolée?|toutes mes excuses|mes excuses"
    r"|tienes? razón|lo siento|disculpa(?:s|me)?|mis disculpas|perdón"
    r"|(?:du hast|sie haben) (?:völlig |absolut )?recht|entschuldigung|es tut mir leid"
    r"|você tem razão|desculpe|peço desculpas"
    r"|你说得对|您说得对|你是对的|很抱歉|非常抱歉|抱歉|对不起)(?![a-zà-ÿ])",
    re.IGNORECASE)
#: What may follow an apology before its clause ends ("I apologize for the confusion in my previous answer,").
_ACK_OBJECT = re.compile(
    r"\s+(?:for|about)\s+(?:the|my|any|this|that)\s+(?:\w+\s+){0,3}?(?:confusion|mistakes?|errors?|oversight"
    r"|misunderstanding|inconvenience|omission|frustration|trouble)(?:\s+(?:in|with|on|from)\s+(?:my|the)\s+"
    r"(?:previous|earlier|last|initial|above|original)\s+(?:\w+\s+)?(?:response|answer|message|reply"
    r"|explanation|code|solution|example))?", re.IGNORECASE)
_CLAUSE_END = re.compile(r"[\s*_]*[,.!;:—–\-，。！；：]+[\s*_]*")
_SENTENCE = re.compile(r"[^\n]*?(?:[.!?](?=\s|$)|[。！？]|\n|$)")
_CONJUNCTION = re.compile(r"(?:and|but|so|et|mais|y|pero|und|aber)\s+", re.IGNORECASE)
#: An opener that still points back at the answer the prompt lacks ("Here's the corrected code").
_BACK_REFERENCE = re.compile(
    r"\b(?:previous(?:ly)?|earlier|initially|originally|(?:the|as|see) above|above (?:code|answer|response|example)"
    r"|last (?:response|answer|message|reply|time)"
    r"|again|once more|instead|still|another|additional|(?:a )?step back|different (?:approach|method|way|solution)"
    r"|(?:I|we) (?:missed|overlooked|misunderstood|misread|forgot|made|mixed|confused|should have)"
    r"|my (?:mistake|error|oversight|response|answer|reply|explanation|code)"
    r"|the (?:mistake|oversight|confusion|misunderstanding)"
    r"|correct(?:ed)? (?:version|code|answer|solution|implementation|formula|approach|one)"
    r"|(?:updated|revised|fixed|amended) (?:version|code|answer|solution|implementation|one)"
    r"|précédente?|plus tôt|à nouveau|encore|nouvelle version|version (?:corrigée|améliorée)"
    r"|anterior|de nuevo|otra vez|vorherige|erneut)\b|之前|刚才|上面的|上一个", re.IGNORECASE)
#: Shortest remainder that counts as an answer once the opener is gone.
MIN_ANSWER_CHARS = 20


def _first_sentence(text: str) -> str:
    match = _SENTENCE.match(text.lstrip())
    return match.group(0) if match else text


def opens_with_acknowledgement(text: str) -> bool:
    """True when an answer opens by agreeing with or apologising for a pushback ("You're right",
    "I apologize for the confusion", "Sorry, you're correct", "Vous avez raison"); refusals
    ("I'm sorry, but I can't") are not acknowledgements."""
    return bool(_ACK.match(text)) and not is_refusal(_first_sentence(text))


def strip_acknowledgement(text: str) -> str | None:
    """``text`` without its acknowledgement opener when the rest is a complete answer (``None`` when
    it is not; ``text`` itself when it has no such opener).

    Openers are removed clause by clause ("You're right, and I apologize for the confusion." goes
    whole); the rest must hold at least ``MIN_ANSWER_CHARS`` characters and its first sentence must
    not point back at the answer the prompt lacks ("Here's the corrected code", "I missed ...").
    """
    rest = text
    for _ in range(4):
        if not opens_with_acknowledgement(rest):
            break
        match = _ACK.match(rest)
        after = rest[match.end():]
        obj = _ACK_OBJECT.match(after)
        after = after[obj.end():] if obj else after
        end = _CLAUSE_END.match(after)
        rest = after[end.end():] if end else after[_SENTENCE.match(after).end():]
        rest = rest.lstrip()
        conjunction = _CONJUNCTION.match(rest)
        rest = rest[conjunction.end():] if conjunction else rest
        rest = rest[:1].upper() + rest[1:]
    if opens_with_acknowledgement(rest) or len(rest.strip()) < MIN_ANSWER_CHARS:
        return None
    if _BACK_REFERENCE.search(_first_sentence(rest)):
        return None
    return rest


def acknowledges_unseen_turn(pair_source: str | None, prompt: list[dict]) -> bool:
    """Whether an acknowledgement opening the chosen answer can only be about a turn the prompt lacks:
    in a correction pair it answers the rejected answer; with no assistant turn in the prompt there
    is nothing it could acknowledge."""
    return pair_source == "correction" or not any(m["role"] == "assistant" for m in prompt)


def settle_opener(chosen: list[dict], prompt: list[dict], pair_source: str) -> tuple[list[dict], bool]:
    """The chosen answer with an acknowledgement of an absent turn stripped, and whether it was.

    When stripping would not leave a complete answer the answer is returned as it is, and the
    lane's :func:`validate` leaves the row out."""
    if not chosen or not acknowledges_unseen_turn(pair_source, prompt) \
            or not opens_with_acknowledgement(chosen[0]["content"]):
        return chosen, False
    rest = strip_acknowledgement(chosen[0]["content"])
    if rest is None:
        return chosen, False
    return [{**chosen[0], "content": rest}, *chosen[1:]], True


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
    # left out (a prompt that then ends on an assistant turn gives no row). The prompt opens on its
    # first user turn; the platform's system prompt, repeated mid-conversation, is kept once, first.
    stats = ConversionStats()
    prompt = merge_same_role(open_on_user([m for m in (_inline(x) for x in comparison.prompt)
                                           if m["content"] and m["role"] in ("system", "user", "assistant")],
                                          stats))
    chosen = [m for m in (_inline(x) for x in comparison.chosen) if m["role"] == "assistant" and m["content"]]
    rejected = [m for m in (_inline(x) for x in comparison.rejected) if m["role"] == "assistant" and m["content"]]
    if not prompt or prompt[-1]["role"] not in ("user", "tool") or not chosen or not rejected:
        return None
    chosen, rejected = merge_same_role(chosen), merge_same_role(rejected)
    explicit = comparison.source in EXPLICIT_SOURCES or not comparison.chosen_is_inferred
    source = "side_by_side" if explicit else "regeneration"
    chosen, opener_stripped = settle_opener(chosen, prompt, source)
    ct, rt = answer_text(chosen), answer_text(rejected)
    if ct == rt:
        return None
    similarity = pair_similarity(ct, rt)
    flags = ["inline_comparison"] + (["near_identical_pair"] if similarity >= NEAR_IDENTICAL else []) + \
        (["weak_pair_source"] if source == "regeneration" else []) + \
        (["leading_turns_cut"] if stats.leading_turns_cut else [])
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
        "prompt_rewritten": False, "chosen_context": "same_prompt", "chosen_opener_stripped": opener_stripped,
        "reasoning_kind": "none", "lane_flags": flags,
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
    """The DPO shape: a prompt ending on a user/tool turn, two different assistant-turn answers, each
    in strict role order after the prompt, and a chosen answer that does not open by acknowledging a
    turn its prompt lacks."""
    for col in ("prompt", "chosen", "rejected"):
        problem = messages_problem(row.get(col))
        if problem:
            return f"{col}_{problem}"
    if row["prompt"][-1]["role"] not in ("user", "tool"):
        return "prompt_must_end_on_user_or_tool"
    for col in ("chosen", "rejected"):
        if row[col][0]["role"] != "assistant" or row[col][-1]["role"] != "assistant":
            return f"{col}_must_be_assistant_turn"
        problem = role_order_problem(row["prompt"] + row[col])
        if problem:
            return f"{col}_{problem}"
    if row["chosen"] == row["rejected"]:
        return "chosen_equals_rejected"
    if acknowledges_unseen_turn(row.get("pair_source"), row["prompt"]) and \
            opens_with_acknowledgement(row["chosen"][0]["content"]):
        return "chosen_acknowledges_absent_turn"
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
