"""A realistic generated ChatGPT ``conversations.json`` for benchmarks, and 5%-changed re-exports of it.

    .venv/bin/python bench/generate_export.py --size-mb 250 --out /tmp/conversations.json --seed 1
    .venv/bin/python bench/generate_export.py --changed-from /tmp/conversations.json \\
        --changed-fraction 0.05 --out /tmp/conversations-2.json --seed 1

The shape follows docs/formats/chatgpt.md and the key sets of the real 2024-2026 exports
in ../shared/real-exports/chatgpt (no text of theirs is used): one line written the way the
official export is (``json.dumps`` defaults: ``", "`` separators, non-ASCII escaped), ordered
by ``create_time`` descending, the full early-2026 conversation key set, message metadata
(``model_slug``, ``request_id``, ``message_type``, ``finish_details``, ``citations``,
``content_references``, ...), hidden system and custom-instruction nodes, regenerations (2023
style assistant siblings and 2025 style ``rebase_system_message`` siblings) and edited prompts,
markdown answers with code blocks, lists and tables, code-interpreter calls with
``execution_output`` and ``aggregate_result``, browsing with ``tether_browsing_display`` /
``tether_quote`` and citation markers, image uploads and generated images
(``multimodal_text`` with asset pointers), voice turns, memory and canvas tool calls,
reasoning (``thoughts`` and ``reasoning_recap``), system errors, CJK / Cyrillic / accented
text and emoji, and a few huge pasted messages.

Text is drawn from large pseudo-word vocabularies built from syllables, Zipf-distributed
behind a head of real function words, so the tokeniser meets rare words the way it does in
real chats. Sentences are drawn once per run into a pool and messages are assembled from it
(a message is a random sequence of pool sentences, so every message text is distinct), which
is what makes generation fast: tokenising cost depends on the text, not on how it was made.

Everything is a function of the seed (``random.Random``), and the file is written one
conversation at a time. Calibrated against the issue's 250 MB corpus (6,599 conversations,
110k messages, 33.6 M tokens): about 38 KB and 17 messages per conversation.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# --- text ---------------------------------------------------------------------------------

#: Real English words at the head of the Zipf distribution (single o200k tokens, like real prose).
ENGLISH_HEAD = (
    "the of and to a in is that for it as with was on be by this are from at or an have not but "
    "you we can will if your which more one all has would there their what so about when they "
    "how use should also like some into other than then these only its new may any each need "
    "data file code value time way just make first example here see run set use get result "
    "because where while after before both between over such same very well most many").split()

#: Syllable onsets, nuclei and codas per script: words are 1-4 syllables.
_SCRIPTS = {
    "en": ("b c d f g h j k l m n p r s t v w y z br ch cl cr dr fl fr gl gr pl pr sc sh sk sl sp st "
           "str th tr wh".split(), "a e i o u y ai ea ee ie oo ou io ue".split(),
           ["", "", "", "n", "r", "s", "t", "l", "m", "x", "nd", "st", "ng", "rt", "ck"]),
    "fr": ("b c d f g j l m n p r s t v ch pr tr gr br".split(),
           "a e i o u é è ê à â ô ou eu ai au oi".split(), ["", "", "", "n", "r", "s", "t", "x", "l"]),
    "de": ("b d f g h k l m n p r s t w z sch st sp pf kr tr gr br".split(),
           "a e i o u ä ö ü ei au ie eu".split(), ["", "", "n", "r", "s", "t", "ch", "ng", "nd", "ß", "tz"]),
    "es": ("b c d f g j l m n p r s t v ll ñ ch pr tr".split(),
           "a e i o u á é í ó ú ia ie ue".split(), ["", "", "", "n", "r", "s", "l", "z"]),
    "ru": ("б в г д ж з к л м н п р с т ф х ц ч ш щ ст пр кр".split(),
           "а е ё и о у ы э ю я".split(), ["", "", "", "н", "р", "с", "т", "й", "л", "м"]),
}
#: Common English stems and suffixes: most of the pseudo-word tail is compounds of them, which the
#: tokeniser splits into a few known pieces (as it does real rare words), the rest pure syllables.
ENGLISH_STEMS = (
    "work time data file code line test user form page list item part state view type note case point "
    "group model graph table query index cache store build plan step task path node tree root link text "
    "word name key map set flow load read write sort find check match merge split track sync lock port "
    "host net web cloud disk log event trace stack heap queue batch block frame field value range scale "
    "rate count score shift turn base core unit sign mark tag label slot hand light sound power water "
    "fire stone wood gold iron paper glass house room door road town field market trade price cost "
    "light night day year month week hour mind heart body voice story game play sport team club class "
    "school book learn teach speak hear watch move run walk drive ship train plane car road").split()
ENGLISH_SUFFIXES = ("", "", "", "s", "ed", "ing", "er", "ers", "ly", "ness", "ment", "able", "tion", "ful", "less",
                    "ize", "ity", "al", "ive", "ous")
_HANGUL_BASE = 0xAC00
_HANGUL_INITIALS = (0, 2, 3, 5, 6, 7, 9, 11, 12, 18)   # ㄱ ㄴ ㄷ ㄹ ㅁ ㅂ ㅅ ㅇ ㅈ ㅎ
_HANGUL_VOWELS = (0, 4, 8, 13, 18, 20, 1, 6)            # ㅏ ㅓ ㅗ ㅜ ㅡ ㅣ ㅐ ㅕ
_HANGUL_FINALS = (0, 0, 0, 4, 8, 16, 21, 1)             # none, ㄴ ㄹ ㅁ ㅇ ㄱ
#: Common-ideograph range (the tokeniser knows these as it knows frequent real characters).
_CJK_COMMON = (0x4E00, 0x4FFF)
_KANA = (0x3041, 0x3096)
EMOJI = ("🙂", "🚀", "✅", "👍", "🎉", "🤔", "❤️", "🔥", "👍🏽", "📌", "⚠️", "😅", "🙏", "✨", "💡")
#: Share of conversations per language (weights).
LANGUAGES = {"en": 72, "fr": 5, "de": 4, "es": 4, "ru": 4, "zh": 4, "ja": 3, "ko": 4}
_SPACED = {"en", "fr", "de", "es", "ru", "ko"}
_FULL_STOP = {"zh": "。", "ja": "。"}


def _zipf_cum(n: int, s: float = 1.07) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank + 2.7) ** s for rank in range(n)))


class Language:
    """One language's vocabulary (Zipf-weighted) and its pool of sentences."""

    def __init__(self, code: str, rng: random.Random, vocabulary: int, pool: int):
        self.code = code
        self.rng = rng
        words = self._vocabulary(vocabulary)
        self.words = words
        self.cum = _zipf_cum(len(words))
        self.sentences = [self._sentence() for _ in range(pool)]
        self.words_pool = [w for w in rng.choices(words, cum_weights=self.cum, k=4096)]

    def _word(self) -> str:
        rng = self.rng
        if self.code == "ko":
            return "".join(chr(_HANGUL_BASE + (rng.choice(_HANGUL_INITIALS) * 21 + rng.choice(_HANGUL_VOWELS)) * 28
                               + rng.choice(_HANGUL_FINALS)) for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))
        if self.code == "zh":
            return "".join(chr(rng.randint(*_CJK_COMMON)) for _ in range(rng.choice((1, 2, 2, 2, 3))))
        if self.code == "ja":
            kana = "".join(chr(rng.randint(*_KANA)) for _ in range(rng.choice((1, 2, 3))))
            return (chr(rng.randint(*_CJK_COMMON)) + kana) if rng.random() < 0.6 else kana
        if self.code == "en" and rng.random() < 0.7:
            stems = rng.choices(ENGLISH_STEMS, k=rng.choice((1, 2, 2, 2, 3)))
            return "".join(stems) + rng.choice(ENGLISH_SUFFIXES)
        onsets, nuclei, codas = _SCRIPTS[self.code]
        syllables = rng.choices((1, 2, 3, 4), weights=(3, 5, 3, 1))[0]
        return "".join(rng.choice(onsets) + rng.choice(nuclei) for _ in range(syllables)) + rng.choice(codas)

    def _vocabulary(self, n: int) -> list[str]:
        seen: set[str] = set()
        words = list(ENGLISH_HEAD) if self.code == "en" else []
        seen.update(words)
        while len(words) < n:
            w = self._word()
            if w not in seen:
                seen.add(w)
                words.append(w)
        return words

    def _sentence(self) -> str:
        rng = self.rng
        n = rng.randint(5, 26)
        words = rng.choices(self.words, cum_weights=self.cum, k=n)
        if self.code in _SPACED:
            if rng.random() < 0.35:
                words[rng.randrange(1, n)] += ","
            if rng.random() < 0.06:
                words[rng.randrange(n)] = f"`{words[rng.randrange(n)]}_{words[rng.randrange(n)]}`"
            text = " ".join(words)
            text = text[:1].upper() + text[1:]
            end = rng.choices((".", "?", "!", ":"), weights=(80, 10, 5, 5))[0]
        else:
            text = "".join(words)
            end = _FULL_STOP.get(self.code, ".")
        if rng.random() < 0.03:
            end += " " + rng.choice(EMOJI)
        return text + end

    def prose(self, n: int) -> str:
        """``n`` pool sentences as one paragraph."""
        joiner = " " if self.code in _SPACED else ""
        return joiner.join(self.rng.choices(self.sentences, k=n))

    def phrase(self, n: int) -> str:
        """``n`` words (a title, a heading, a search query)."""
        joiner = " " if self.code in _SPACED else ""
        return joiner.join(self.rng.choices(self.words_pool, k=n))


_CODE_LANGS = ("python", "python", "python", "javascript", "typescript", "bash", "sql", "json", "rust", "go")
_CODE_TEMPLATES = {
    "python": ("def {a}({b}, {c}=None):", "    {a} = {b}.{c}({d})", "    return {a}[{n}:]",
               "for {a} in {b}:", "    if {a} > {n}:", "        {a}.append({b})", "import {a}",
               "from {a} import {b}, {c}", "{a} = {{\"{b}\": {n}, \"{c}\": \"{d}\"}}", "    # {comment}",
               "class {A}({B}):", "    raise ValueError(f\"{a} {{{b}!r}}\")", "print({a}, len({b}))",
               "with open(\"{a}.json\") as f:", "    {a} = json.load(f)", "df = pd.read_csv(\"/mnt/data/{a}.csv\")"),
    "javascript": ("const {a} = await {b}({c});", "function {a}({b}, {c}) {{", "  return {a}.map(x => x.{b});",
                   "}}", "export default {A};", "  if (!{a}) throw new Error(\"{b}\");", "// {comment}",
                   "let {a} = {{ {b}: {n}, {c}: '{d}' }};"),
    "typescript": ("interface {A} {{ {a}: string; {b}: number }}", "export async function {a}({b}: {A}) {{",
                   "  const {a}: {A}[] = [];", "}}", "// {comment}", "type {A} = {B} | null;"),
    "bash": ("{a} --{b} {c} | grep {d}", "export {A}={n}", "cd /srv/{a} && make {b}", "# {comment}",
             "for f in *.{a}; do {b} \"$f\"; done", "pip install {a}=={n}.{n}"),
    "sql": ("SELECT {a}, count(*) FROM {b} GROUP BY {a};", "CREATE TABLE {a} ({b} TEXT, {c} INTEGER);",
            "  JOIN {a} ON {a}.{b} = {c}.{b}", "WHERE {a} > {n} AND {b} IS NOT NULL", "-- {comment}"),
    "json": ("{{\"{a}\": {n}, \"{b}\": \"{c}\"}},", "  \"{a}\": [\"{b}\", \"{c}\"],", "  \"{a}\": true,"),
    "rust": ("fn {a}({b}: &str) -> Result<{A}, Error> {{", "    let {a} = {b}.{c}()?;", "}}", "// {comment}",
             "use std::{a}::{A};", "    Ok({A} {{ {a}, {b} }})"),
    "go": ("func {A}({a} string) ({B}, error) {{", "\t{a}, err := {b}.{A}({c})", "\tif err != nil {{",
           "\t\treturn nil, err", "\t}}", "}}", "// {comment}"),
}


class TextEngine:
    """All the text of one generated export: prose per language, markdown answers, code, ids."""

    def __init__(self, rng: random.Random, size_mb: float):
        self.rng = rng
        scale = max(0.2, min(size_mb / 250.0, 4.0))
        total = sum(LANGUAGES.values())
        self.languages = {}
        for code, weight in LANGUAGES.items():
            share = weight / total
            vocabulary = int(max(3000, 60000 * share * min(1.0, scale * 2)))
            pool = int(max(1500, 250000 * share * scale))
            self.languages[code] = Language(code, random.Random(rng.getrandbits(64)), vocabulary, pool)
        self.codes = list(LANGUAGES)
        self.code_weights = list(itertools.accumulate(LANGUAGES.values()))
        self.identifiers = [self._identifier() for _ in range(6000)]
        self.code_lines = {lang: [self._code_line(lang) for _ in range(2500)] for lang in _CODE_TEMPLATES}

    def language(self) -> Language:
        return self.languages[self.rng.choices(self.codes, cum_weights=self.code_weights)[0]]

    def _identifier(self) -> str:
        en = self.languages["en"]
        return "_".join(self.rng.choices(en.words[60:3000], k=self.rng.choice((1, 2, 2, 3))))

    def _code_line(self, lang: str) -> str:
        rng = self.rng
        ids = rng.choices(self.identifiers, k=4)
        caps = ["".join(p.capitalize() for p in i.split("_")) for i in rng.choices(self.identifiers, k=2)]
        comment = self.languages["en"].phrase(rng.randint(3, 9))
        return rng.choice(_CODE_TEMPLATES[lang]).format(a=ids[0], b=ids[1], c=ids[2], d=ids[3], A=caps[0],
                                                        B=caps[1], n=rng.randint(0, 4096), comment=comment)

    def code(self, lang: str, lines: int) -> str:
        return "\n".join(self.rng.choices(self.code_lines[lang], k=lines))

    def markdown(self, lang: Language, blocks: int, code_share: float = 0.25) -> str:
        """A markdown answer: paragraphs, headings, lists, code blocks and now and then a table."""
        rng = self.rng
        out = [lang.prose(rng.randint(1, 4))]
        for _ in range(blocks - 1):
            kind = rng.random()
            if kind < code_share:
                code_lang = rng.choice(_CODE_LANGS)
                out.append(f"```{code_lang}\n{self.code(code_lang, rng.randint(3, 40))}\n```")
            elif kind < code_share + 0.12:
                out.append(f"{rng.choice(('##', '###', '####'))} {lang.phrase(rng.randint(2, 6))}")
            elif kind < code_share + 0.30:
                bullet = rng.choice(("-", "*", "1."))
                out.append("\n".join(f"{bullet} **{lang.phrase(rng.randint(1, 3))}**: {lang.prose(1)}"
                                     for _ in range(rng.randint(2, 7))))
            elif kind < code_share + 0.33:
                cols = rng.randint(2, 4)
                rows = [" | ".join(lang.phrase(rng.randint(1, 3)) for _ in range(cols)) for _ in range(rng.randint(2, 6))]
                out.append("| " + rows[0] + " |\n|" + "---|" * cols + "\n" + "\n".join(f"| {r} |" for r in rows[1:]))
            else:
                out.append(lang.prose(rng.randint(1, 4)))
        return "\n\n".join(out)

    def hexid(self, bits: int = 128) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def uuid(self, prefix: str = "") -> str:
        h = prefix + self.hexid()[len(prefix):]
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def base62(self, n: int) -> str:
        alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        return "".join(self.rng.choices(alphabet, k=n))


# --- conversations ------------------------------------------------------------------------

#: Models by the era of the conversation (``create_time``), as they appear in real exports.
_MODELS = ((1.735e9, ("gpt-4o", "gpt-4o", "gpt-4o-mini", "o1-preview", "gpt-4")),
           (1.755e9, ("gpt-4o", "gpt-4o", "o3-mini-high", "o4-mini", "gpt-4-5", "o3")),
           (1.768e9, ("gpt-5", "gpt-5", "gpt-5-thinking", "gpt-5-t-mini", "gpt-4o", "gpt-5-1")),
           (9e9, ("gpt-5-2", "gpt-5-2-thinking", "gpt-5-1", "gpt-5-2", "auto")))
_REASONING = ("o1", "o3", "o4", "thinking", "t-mini")
_AIRPORTS = ("ICN", "IAD", "SJC", "FRA", "CDG", "NRT", "LHR", "AMS", "SIN", "GRU", "ORD", "DFW")
START_TIME = 1_704_067_200.0   # 2024-01-01
END_TIME = 1_777_593_600.0     # 2026-05-01
#: The early-2026 conversation key set, in export order (``mapping`` and ``id`` filled in by the builder).
CONVERSATION_KEYS = (
    "title", "create_time", "update_time", "mapping", "moderation_results", "current_node", "plugin_ids",
    "conversation_id", "conversation_template_id", "gizmo_id", "gizmo_type", "is_archived", "is_starred",
    "safe_urls", "blocked_urls", "default_model_slug", "conversation_origin", "is_read_only", "voice",
    "async_status", "disabled_tool_ids", "is_do_not_remember", "memory_scope", "context_scopes",
    "sugar_item_id", "sugar_item_visible", "pinned_time", "is_study_mode", "owner", "id")
_EMPTY_IMAGE_META = {
    "dalle": None, "gizmo": None, "generation": None, "container_pixel_height": None,
    "container_pixel_width": None, "emu_omit_glimpse_image": None, "emu_patches_override": None,
    "lpe_keep_patch_ijhw": None, "lpe_delta_encoding_channel": None, "sanitized": True,
    "asset_pointer_link": None, "watermarked_asset_pointer": None, "is_no_auth_placeholder": None}


@dataclass
class _Turn:
    """State of one assistant turn being written: its request id, model and clock."""

    request_id: str
    model: str
    default_model: str
    clock: float


@dataclass
class ConversationBuilder:
    """Builds one conversation's ``mapping`` node by node."""

    engine: TextEngine
    lang: Language
    created: float
    model: str
    gizmo_id: str | None
    mapping: dict = field(default_factory=dict)
    safe_urls: list = field(default_factory=list)

    @property
    def rng(self) -> random.Random:
        return self.engine.rng

    # nodes -------------------------------------------------------------------------------
    def node(self, parent: str | None, message: dict | None, node_id: str | None = None) -> str:
        nid = node_id or (message["id"] if message else self.engine.uuid())
        self.mapping[nid] = {"id": nid, "message": message, "parent": parent, "children": []}
        if parent is not None:
            self.mapping[parent]["children"].append(nid)
        return nid

    def message(self, role: str, content: dict, *, name: str | None = None, create_time: float | None,
                metadata: dict, recipient: str = "all", weight: float = 1.0, end_turn: bool | None = None,
                channel: str | None = None, status: str = "finished_successfully", mid: str | None = None,
                author_metadata: dict | None = None, update_time: float | None = None) -> dict:
        return {"id": mid or self.engine.uuid(), "author": {"role": role, "name": name, "metadata": author_metadata or {}},
                "create_time": create_time, "update_time": update_time, "content": content, "status": status,
                "end_turn": end_turn, "weight": weight, "metadata": metadata, "recipient": recipient,
                "channel": channel}

    def assistant_meta(self, turn: _Turn, parent: str, *, stop: bool = True, message_type: str | None = "next",
                       **extra) -> dict:
        meta: dict = {}
        if stop:
            meta["finish_details"] = {"type": "stop", "stop_tokens": [200002]}
            meta["is_complete"] = True
        meta.update({"citations": [], "content_references": [], "message_type": message_type,
                     "model_slug": turn.model, "default_model_slug": turn.default_model, "parent_id": parent,
                     "request_id": turn.request_id, "timestamp_": "absolute"})
        if self.gizmo_id:
            meta["gizmo_id"] = self.gizmo_id
        meta.update(extra)
        return meta

    def tick(self, turn: _Turn, low: float = 0.5, high: float = 20.0) -> float:
        turn.clock += self.rng.uniform(low, high)
        return turn.clock

    # pieces of a conversation ------------------------------------------------------------
    def hidden_system(self, parent: str | None, **meta) -> str:
        msg = self.message("system", {"content_type": "text", "parts": [""]}, create_time=None, weight=0.0,
                           end_turn=True, metadata={"is_visually_hidden_from_conversation": True, **meta})
        return self.node(parent, msg)

    def custom_instructions(self, parent: str) -> str:
        about_user = self.lang.prose(self.rng.randint(1, 4))
        about_model = self.lang.prose(self.rng.randint(1, 5))
        content = {"content_type": "user_editable_context",
                   "user_profile": "The user provided the following information about themselves. This user "
                                   "profile is shown to you in all conversations they have -- this means it is "
                                   f"not relevant to 99% of requests.\nBefore answering, quietly think about "
                                   f"whether the user's request is \"directly related\", \"related\", "
                                   f"\"tangentially related\", or \"not related\" to the user profile provided.\n"
                                   f"Only acknowledge the profile when the request is directly related.\n"
                                   f"User profile:\n```{about_user}```",
                   "user_instructions": f"The user provided the additional info about how they would like you "
                                        f"to respond:\n```{about_model}```"}
        msg = self.message("user", content, create_time=None, metadata={
            "is_visually_hidden_from_conversation": True,
            "user_context_message_data": {"about_user_message": about_user, "about_model_message": about_model},
            "is_user_system_message": True})
        return self.node(parent, msg)

    def user(self, parent: str, clock: float, *, huge: bool = False) -> tuple[str, dict]:
        rng, lang = self.rng, self.lang
        roll = rng.random()
        meta = {"selected_sources": [], "selected_github_repos": [],
                "serialization_metadata": {"custom_symbol_offsets": []},
                "request_id": f"{self.engine.hexid(64)}-{rng.choice(_AIRPORTS)}", "message_source": None,
                "timestamp_": "absolute", "message_type": None}
        if huge:
            # A pasted log or file: hundreds of kilobytes in one message.
            lines = rng.randint(2500, 12000)
            body = "\n".join(f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} "
                             f"{rng.choice(('INFO', 'WARN', 'DEBUG', 'ERROR'))} {rng.choice(self.engine.identifiers)}: "
                             f"{lang.phrase(rng.randint(4, 14))}" for _ in range(lines))
            content = {"content_type": "text", "parts": [f"{lang.prose(1)}\n\n```\n{body}\n```"]}
        elif roll < 0.07:
            file_id = f"file_{self.engine.hexid()}"
            width, height = rng.choice(((1024, 768), (1400, 1050), (828, 1792), (1920, 1080)))
            size = rng.randint(40_000, 2_500_000)
            content = {"content_type": "multimodal_text", "parts": [
                {"content_type": "image_asset_pointer", "asset_pointer": f"sediment://{file_id}",
                 "size_bytes": size, "width": width, "height": height, "fovea": None, "metadata": dict(_EMPTY_IMAGE_META)},
                lang.prose(rng.randint(1, 3))]}
            meta["attachments"] = [{"id": file_id, "size": size, "name": f"{self.engine.uuid()}.png",
                                    "mime_type": "image/png", "width": width, "height": height}]
        elif roll < 0.085:
            content = {"content_type": "multimodal_text", "parts": [
                {"content_type": "audio_transcription", "text": lang.prose(rng.randint(1, 3)), "direction": "in",
                 "decoding_id": None},
                {"expiry_datetime": "2026-07-14T10:12:31.826465+00:00", "content_type": "audio_asset_pointer",
                 "asset_pointer": f"sediment://file_{self.engine.hexid()}", "size_bytes": rng.randint(20_000, 400_000),
                 "format": "wav", "tool_audio_direction": None,
                 "metadata": {"start_timestamp": None, "end_timestamp": None, "pretokenized_vq": None,
                              "interruptions": None, "original_audio_source": None, "transcription": None,
                              "word_transcription": None, "start": 0.0, "end": round(rng.uniform(1, 30), 1)}}]}
            meta["voice_mode_message"] = True
            meta["real_time_audio_has_video"] = False
        else:
            if roll < 0.20:
                text = f"{lang.prose(rng.randint(1, 3))}\n\n```{rng.choice(_CODE_LANGS)}\n" \
                       f"{self.engine.code('python', rng.randint(4, 40))}\n```"
            else:
                text = lang.prose(max(1, int(rng.lognormvariate(0.6, 0.8))))
            content = {"content_type": "text", "parts": [text]}
            if rng.random() < 0.2:
                meta["dictation"] = False
        mid = self.engine.uuid(prefix="aaa2" if rng.random() < 0.5 else "")
        msg = self.message("user", content, create_time=clock, metadata=meta, mid=mid)
        return self.node(parent, msg), msg

    def answer_text(self, long: bool = False) -> str:
        rng = self.rng
        blocks = int(rng.lognormvariate(1.0, 0.6)) + 1
        if long:
            blocks = rng.randint(30, 70)
        return self.engine.markdown(self.lang, blocks)

    def final_answer(self, parent: str, turn: _Turn, *, text: str | None = None, channel: str | None = None,
                     message_type: str | None = "next", cited: bool = False) -> str:
        rng = self.rng
        text = text if text is not None else self.answer_text(long=rng.random() < 0.01)
        extra: dict = {}
        if cited:
            refs, groups = [], []
            for i in range(rng.randint(2, 5)):
                marker = f"\ue200cite\ue202turn0search{i}\ue201"
                pos = rng.randrange(len(text) + 1)
                text = text[:pos] + marker + text[pos:]
                url = self.url()
                refs.append({"matched_text": marker, "start_idx": pos, "end_idx": pos + len(marker),
                             "safe_urls": [url], "refs": [{"turn_index": 0, "ref_type": "search", "ref_index": i}],
                             "alt": f"([{self.domain(url)}]({url}))", "prompt_text": None, "type": "grouped_webpages",
                             "items": [{"title": self.lang.phrase(rng.randint(3, 8)), "url": url,
                                        "pub_date": None, "snippet": self.lang.prose(1), "attribution": self.domain(url)}]})
                groups.append({"type": "search_result_group", "domain": self.domain(url), "entries": [
                    {"type": "search_result", "url": url, "title": self.lang.phrase(rng.randint(3, 8)),
                     "snippet": self.lang.prose(1), "ref_id": {"turn_index": 0, "ref_type": "search", "ref_index": i},
                     "pub_date": rng.choice((None, round(rng.uniform(1.5e9, 1.77e9), 1))),
                     "attribution": self.domain(url)}]})
            extra = {"content_references": refs, "search_result_groups": groups, "safe_urls": [r["safe_urls"][0] for r in refs]}
        meta = self.assistant_meta(turn, parent, message_type=message_type)
        meta.update(extra)
        status = "finished_successfully"
        if rng.random() < 0.015:
            meta["finish_details"] = {"type": "interrupted", "reason": "client_stopped"}
            status = "in_progress"
        msg = self.message("assistant", {"content_type": "text", "parts": [text]}, create_time=self.tick(turn),
                           metadata=meta, end_turn=True, channel=channel, status=status)
        return self.node(parent, msg)

    def url(self) -> str:
        words = self.engine.languages["en"].words_pool
        url = f"https://www.{self.rng.choice(words)}{self.rng.choice(('.com', '.org', '.io', '.dev', '.net'))}/" \
              f"{self.rng.choice(words)}/{self.rng.choice(words)}-{self.rng.choice(words)}"
        self.safe_urls.append(url)
        return url

    @staticmethod
    def domain(url: str) -> str:
        return url.split("/")[2]

    def reasoning(self, parent: str, turn: _Turn) -> str:
        rng = self.rng
        thoughts = [{"summary": self.lang.phrase(rng.randint(2, 5)), "content": self.lang.prose(rng.randint(2, 7)),
                     "chunks": [], "finished": True} for _ in range(rng.randint(1, 5))]
        msg = self.message("assistant", {"content_type": "thoughts", "thoughts": thoughts,
                                         "source_analysis_msg_id": self.engine.uuid()},
                           create_time=self.tick(turn), end_turn=False,
                           metadata=self.assistant_meta(turn, parent, stop=False, reasoning_status="is_reasoning"))
        parent = self.node(parent, msg)
        seconds = rng.randint(2, 95)
        msg = self.message("assistant", {"content_type": "reasoning_recap", "content": f"Thought for {seconds}s"},
                           create_time=self.tick(turn, 0.0, 0.1), end_turn=False,
                           metadata=self.assistant_meta(turn, parent, stop=False, reasoning_status="reasoning_ended",
                                                        finished_duration_sec=seconds))
        return self.node(parent, msg)

    def code_interpreter(self, parent: str, turn: _Turn) -> str:
        rng = self.rng
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            code = self.engine.code("python", rng.randint(5, 45))
            call = self.message("assistant", {"content_type": "code", "language": "unknown", "response_format_name": None,
                                              "text": code}, create_time=self.tick(turn), end_turn=False,
                                recipient="python", metadata=self.assistant_meta(turn, parent))
            parent = self.node(parent, call)
            start = self.tick(turn, 0.2, 3)
            end = start + rng.uniform(0.1, 8)
            if rng.random() < 0.04:
                out = self.message("tool", {"content_type": "system_error", "name": "ConnectionClosedError",
                                            "text": "Encountered exception: <class 'websockets.exceptions."
                                                    "ConnectionClosedError'>."}, name="python", create_time=start,
                                   update_time=start, metadata={"message_type": None, "model_slug": turn.model,
                                                                "default_model_slug": turn.default_model,
                                                                "parent_id": parent, "request_id": turn.request_id,
                                                                "timestamp_": "absolute"})
                parent = self.node(parent, out)
                continue
            failed = rng.random() < 0.12
            if failed:
                text = (f"---------------------------------------------------------------------------\n"
                        f"KeyError                                  Traceback (most recent call last)\n"
                        f"Cell In[{rng.randint(1, 40)}], line {rng.randint(1, 30)}\n"
                        + self.engine.code("python", rng.randint(2, 8)) + f"\n\nKeyError: '{rng.choice(self.engine.identifiers)}'")
            else:
                rows = rng.randint(1, 25)
                text = "\n".join(f"{i:>4}  {rng.choice(self.engine.identifiers):<24} {rng.uniform(-1e4, 1e4):>12.4f}"
                                 for i in range(rows))
            msg_id = f"{self.engine.hexid(32)}-{self.engine.hexid(32)}{self.engine.hexid(32)}_3_1"
            aggregate = {"status": "failed_with_in_kernel_exception" if failed else "success",
                         "run_id": self.engine.uuid(), "start_time": start, "update_time": end, "code": code,
                         "end_time": end, "final_expression_output": None if failed else text,
                         "in_kernel_exception": {"name": "KeyError", "traceback": text.splitlines()[:6],
                                                 "args": [], "notes": []} if failed else None,
                         "system_exception": None, "messages": [], "jupyter_messages": [
                             {"msg_type": "status", "parent_header": {"msg_id": msg_id, "version": "5.3"},
                              "content": {"execution_state": "busy"}},
                             {"msg_type": "execute_input", "parent_header": {"msg_id": msg_id, "version": "5.3"}},
                             {"msg_type": "error" if failed else "execute_result",
                              "parent_header": {"msg_id": msg_id, "version": "5.3"},
                              "content": {"data": {"text/plain": text}}}],
                         "timeout_triggered": None}
            if not failed and rng.random() < 0.15:
                aggregate["messages"].append({"message_type": "image", "time": end, "sender": "server",
                                              "image_payload": None,
                                              "image_url": f"file-service://file-{self.engine.base62(22)}",
                                              "width": 1000, "height": 600})
            out = self.message("tool", {"content_type": "execution_output", "text": text}, name="python",
                               create_time=start, update_time=end,
                               metadata={"is_complete": True, "aggregate_result": aggregate, "message_type": None,
                                         "model_slug": turn.model, "default_model_slug": turn.default_model,
                                         "parent_id": parent, "request_id": turn.request_id, "timestamp_": "absolute"})
            parent = self.node(parent, out)
        return parent

    def browse(self, parent: str, turn: _Turn) -> str:
        rng = self.rng
        queries = [self.lang.phrase(rng.randint(2, 6)) for _ in range(rng.randint(1, 3))]
        call = self.message("assistant", {"content_type": "code", "language": "unknown", "response_format_name": None,
                                          "text": json.dumps({"search_query": [{"q": q} for q in queries],
                                                              "response_length": "short"}, ensure_ascii=False)},
                            create_time=self.tick(turn), end_turn=False, recipient="web.run",
                            author_metadata={"real_author": "tool:web", "sonicberry_model_id": "alpha.sonicberry_2s_p",
                                             "source": "sonic_tool"},
                            metadata=self.assistant_meta(turn, parent, search_queries=[{"type": "search", "q": q}
                                                                                        for q in queries],
                                                         search_display_string="Searching the web...",
                                                         searched_display_string="Searched the web..."))
        parent = self.node(parent, call)
        url = self.url()
        result = "\n".join(f"【{i}†{self.lang.phrase(rng.randint(2, 6))}†{self.domain(self.url())}】\n{self.lang.prose(rng.randint(1, 3))}"
                           for i in range(rng.randint(3, 8)))
        meta = {"command": "search", "status": "finished", "message_type": None, "model_slug": turn.model,
                "default_model_slug": turn.default_model, "parent_id": parent, "request_id": turn.request_id,
                "timestamp_": "absolute"}
        display = self.message("tool", {"content_type": "tether_browsing_display", "result": result, "summary": "",
                                        "assets": None, "tether_id": None}, name="web.run",
                               create_time=self.tick(turn, 0.5, 4), weight=0.0, metadata=meta)
        parent = self.node(parent, display)
        quote = self.message("tool", {"content_type": "tether_quote", "url": url, "domain": self.domain(url),
                                      "text": self.lang.prose(rng.randint(2, 8)),
                                      "title": self.lang.phrase(rng.randint(3, 8)), "tether_id": None},
                             name="web.run", create_time=self.tick(turn, 0.0, 0.1),
                             metadata={**meta, "command": "context_stuff", "is_visually_hidden_from_conversation": False,
                                       "parent_id": parent})
        return self.node(parent, quote)

    def small_tool(self, parent: str, turn: _Turn) -> str:
        """A memory write, a canvas document or a generated image: call then tool reply."""
        rng = self.rng
        kind = rng.choice(("bio", "canmore.create_textdoc", "t2uay3k.sj1i4kz"))
        if kind == "bio":
            args = self.lang.prose(1)
        elif kind == "canmore.create_textdoc":
            args = json.dumps({"name": rng.choice(self.engine.identifiers), "type": "document",
                               "content": self.engine.markdown(self.lang, rng.randint(3, 10))}, ensure_ascii=False)
        else:
            args = json.dumps({"prompt": self.lang.prose(rng.randint(1, 3)), "size": "1024x1024", "n": 1},
                              ensure_ascii=False, indent=2)
        call = self.message("assistant", {"content_type": "text", "parts": [args]}, create_time=self.tick(turn),
                            end_turn=False, recipient=kind, metadata=self.assistant_meta(turn, parent))
        parent = self.node(parent, call)
        tool_meta = {"message_type": None, "model_slug": turn.model, "default_model_slug": turn.default_model,
                     "parent_id": parent, "request_id": turn.request_id, "timestamp_": "absolute"}
        if kind == "t2uay3k.sj1i4kz":
            gen_id = self.engine.uuid()
            image = {"content_type": "image_asset_pointer", "asset_pointer": f"sediment://file_{self.engine.hexid()}",
                     "size_bytes": rng.randint(800_000, 3_000_000), "width": 1024, "height": 1024, "fovea": None,
                     "metadata": {**_EMPTY_IMAGE_META, "sanitized": False,
                                  "generation": {"gen_id": gen_id, "gen_size": "xlimage", "seed": None,
                                                 "parent_gen_id": None, "height": 1024, "width": 1024,
                                                 "transparent_background": False, "serialization_title":
                                                     "Image Generation metadata", "orientation": None}}}
            reply = self.message("tool", {"content_type": "multimodal_text", "parts": [image]}, name=kind,
                                 create_time=self.tick(turn, 5, 40), metadata={**tool_meta, "image_gen_title":
                                                                               self.lang.phrase(3)})
        elif kind == "bio":
            reply = self.message("tool", {"content_type": "text", "parts": ["Model set context updated."]}, name="bio",
                                 create_time=self.tick(turn, 0.2, 2), recipient="assistant", metadata=tool_meta)
        else:
            reply = self.message("tool", {"content_type": "text", "parts": [
                f"Successfully created text document '{rng.choice(self.engine.identifiers)}' which will be "
                f"referenced in all future messages with the unique identifier textdoc_id: '{self.engine.hexid(96)}'"]},
                name=kind, create_time=self.tick(turn, 0.2, 2), recipient="assistant", weight=0.0, metadata=tool_meta)
        return self.node(parent, reply)

    def assistant_turn(self, parent: str, clock: float, *, message_type: str = "next") -> tuple[str, float]:
        """One assistant response to the user node ``parent``; returns its last node and the clock."""
        rng = self.rng
        reasoning_model = any(r in self.model for r in _REASONING)
        turn = _Turn(request_id=f"{self.engine.hexid(64)}-{rng.choice(_AIRPORTS)}", model=self.model,
                     default_model=self.model, clock=clock)
        channel = None
        if reasoning_model or rng.random() < 0.08:
            parent = self.reasoning(parent, turn)
            channel = "final" if self.created > 1.755e9 else None
        roll = rng.random()
        cited = False
        if roll < 0.10:
            parent = self.code_interpreter(parent, turn)
        elif roll < 0.18:
            parent = self.browse(parent, turn)
            cited = True
        elif roll < 0.22:
            parent = self.small_tool(parent, turn)
        last = self.final_answer(parent, turn, channel=channel, message_type=message_type, cited=cited)
        return last, turn.clock


def _conversation(engine: TextEngine, created: float, huge: bool) -> dict:
    rng = engine.rng
    era = next(models for limit, models in _MODELS if created < limit)
    model = rng.choice(era)
    gizmo = f"g-{engine.hexid(128)}" if rng.random() < 0.08 else None
    b = ConversationBuilder(engine=engine, lang=engine.language(), created=created, model=model, gizmo_id=gizmo)
    root_id = "client-created-root" if created > 1.73e9 and rng.random() < 0.5 else engine.uuid()
    top = b.node(None, None, root_id)
    top = b.hidden_system(top)
    if rng.random() < 0.3:
        top = b.custom_instructions(top)
    clock = created
    turns = max(1, min(40, int(rng.lognormvariate(1.25, 0.7))))
    huge_at = rng.randrange(turns) if huge else -1
    leaf = top
    for t in range(turns):
        clock += rng.uniform(5, 900)
        user_id, _ = b.user(leaf, clock, huge=(t == huge_at))
        if rng.random() < 0.05 and t < turns - 1:
            # An edited prompt: the first version keeps its own answer on an abandoned branch.
            b.assistant_turn(user_id, clock + 2)
            clock += rng.uniform(5, 120)
            user_id, _ = b.user(leaf, clock)
        regen = rng.random()
        if regen < 0.05:
            # 2023-style regeneration: sibling assistant answers under the user node.
            for _ in range(rng.randint(1, 2)):
                b.assistant_turn(user_id, clock + 1, message_type="variant")
            leaf, clock = b.assistant_turn(user_id, clock + 30, message_type="variant")
        elif regen < 0.09 and created > 1.735e9:
            # 2025-style regeneration: sibling hidden rebase system nodes, each with its answer chain.
            for _ in range(rng.randint(1, 2)):
                b.assistant_turn(b.hidden_system(user_id, rebase_system_message=True), clock + 1,
                                 message_type="variant")
            leaf, clock = b.assistant_turn(b.hidden_system(user_id, rebase_system_message=True), clock + 30,
                                           message_type="variant")
        else:
            leaf, clock = b.assistant_turn(user_id, clock)
    items = list(b.mapping.items())
    if len(items) > 3:
        # Real mappings are not in tree order (the root is not the first key).
        cut = rng.randrange(1, len(items))
        items = items[cut:] + items[:cut]
    conv_id = engine.uuid(prefix=f"{int(created):08x}")  # time-ordered, as 2024+ ids are
    values = {
        "title": b.lang.phrase(rng.randint(2, 6)).capitalize(), "create_time": created, "update_time": clock + rng.uniform(0, 5),
        "mapping": dict(items), "moderation_results": [], "current_node": leaf, "plugin_ids": None,
        "conversation_id": conv_id, "conversation_template_id": gizmo, "gizmo_id": gizmo,
        "gizmo_type": "gpt" if gizmo else None, "is_archived": rng.random() < 0.3,
        "is_starred": None, "safe_urls": sorted(set(b.safe_urls)), "blocked_urls": [],
        "default_model_slug": model, "conversation_origin": None, "is_read_only": None,
        "voice": rng.choice(("juniper", "orbit", "ember")) if rng.random() < 0.05 else None,
        "async_status": None, "disabled_tool_ids": [], "is_do_not_remember": None,
        "memory_scope": "global_enabled", "context_scopes": None, "sugar_item_id": None,
        "sugar_item_visible": False, "pinned_time": None, "is_study_mode": False, "owner": None, "id": conv_id}
    return {k: values[k] for k in CONVERSATION_KEYS}


# --- files --------------------------------------------------------------------------------

#: Bytes per conversation the size target is spread over (measured: the generator's average).
BYTES_PER_CONVERSATION = 38_000
#: One huge pasted message per this many conversations.
HUGE_EVERY = 900


def dumps(conversation: dict) -> str:
    """One conversation as the official export writes it (``json.dumps`` defaults)."""
    return json.dumps(conversation)


@dataclass
class ExportStats:
    """What a generated file holds."""

    path: str
    bytes: int
    conversations: int
    messages: int
    seconds: float
    changed_ids: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"path": self.path, "bytes": self.bytes, "conversations": self.conversations,
                "messages": self.messages, "seconds": round(self.seconds, 3),
                "changed": len(self.changed_ids)}


def _count_messages(conversation: dict) -> int:
    return sum(1 for node in conversation["mapping"].values() if node["message"] is not None)


def write_export(path: str | Path, size_mb: float, seed: int = 1) -> ExportStats:
    """Write a generated ``conversations.json`` of about ``size_mb`` MB (10^6 bytes) to ``path``.

    Conversations are spread evenly from 2024-01 to 2026-04 and written newest first;
    the file is complete once ``size_mb`` is reached. Same seed and size, same bytes.
    """
    t0 = time.perf_counter()
    rng = random.Random(seed)
    engine = TextEngine(rng, size_mb)
    target = int(size_mb * 1e6)
    expected = max(1, target // BYTES_PER_CONVERSATION)
    step = (END_TIME - START_TIME) / expected
    written = conversations = messages = 0
    with open(path, "w", encoding="ascii", newline="") as out:
        out.write("[")
        written = 1
        index = 0
        while written < target or conversations == 0:
            created = round(END_TIME - index * step - rng.uniform(0, step * 0.9), 6)
            if created < START_TIME - 3e7:
                created = START_TIME - rng.uniform(0, 3e7)
            huge = rng.randrange(HUGE_EVERY) == 0 and target > 5e6
            conv = _conversation(engine, created, huge)
            text = (", " if conversations else "") + dumps(conv)
            out.write(text)
            written += len(text)
            conversations += 1
            messages += _count_messages(conv)
            index += 1
        out.write("]")
        written += 1
    return ExportStats(str(path), written, conversations, messages, time.perf_counter() - t0)


def _changed(index: int, fraction: float, offset: float) -> bool:
    # Systematic sampling: exactly round(n * fraction) of n conversations, spread through the file.
    return math.floor((index + 1) * fraction + offset) > math.floor(index * fraction + offset)


def _change(conv: dict, engine: TextEngine, created_after: float) -> None:
    """Edit one conversation the way a user's later chat does: new turns, or an edited prompt."""
    rng = engine.rng
    mapping = conv["mapping"]
    first_user = next((n for n in mapping.values()
                       if n["message"] and n["message"]["author"]["role"] == "user"
                       and n["message"]["content"]["content_type"] == "text"), None)
    lang = engine.language()
    b = ConversationBuilder(engine=engine, lang=lang, created=conv["create_time"],
                            model=conv["default_model_slug"] or "gpt-4o", gizmo_id=conv["gizmo_id"], mapping=mapping)
    clock = max(created_after, conv["update_time"]) + rng.uniform(3600, 30 * 86400)
    leaf = conv["current_node"]
    if first_user is not None and rng.random() < 0.4:
        # An edited prompt: a new sibling of the first user message and a new answer; the view moves there.
        user_id, _ = b.user(first_user["parent"], clock)
        leaf, clock = b.assistant_turn(user_id, clock)
    for _ in range(rng.randint(1, 3)):
        clock += rng.uniform(5, 600)
        user_id, _ = b.user(leaf, clock)
        leaf, clock = b.assistant_turn(user_id, clock)
    conv["current_node"] = leaf
    conv["update_time"] = clock + rng.uniform(0, 5)
    conv["safe_urls"] = sorted(set(conv["safe_urls"]) | set(b.safe_urls))


def write_changed_export(source: str | Path, path: str | Path, fraction: float = 0.05,
                         seed: int = 1) -> ExportStats:
    """Write to ``path`` a re-export of the generated ``source`` where ``fraction`` of the
    conversations changed (new turns or an edited prompt, a later ``update_time``).

    The other conversations are written byte for byte as in ``source`` (parsed and dumped
    again with the same serialiser; generated floats round-trip exactly). The changed ids
    are in the returned stats.
    """
    import ijson

    t0 = time.perf_counter()
    rng = random.Random(f"{seed}:changed")
    engine = TextEngine(rng, 1.0)
    offset = rng.random()
    written = conversations = messages = 0
    changed: list[str] = []
    with open(source, "rb") as src, open(path, "w", encoding="ascii", newline="") as out:
        out.write("[")
        written = 1
        for index, conv in enumerate(ijson.items(src, "item", use_float=True)):
            if _changed(index, fraction, offset):
                _change(conv, engine, conv["update_time"])
                changed.append(conv["id"])
            text = (", " if index else "") + dumps(conv)
            out.write(text)
            written += len(text)
            conversations += 1
            messages += _count_messages(conv)
        out.write("]")
        written += 1
    return ExportStats(str(path), written, conversations, messages, time.perf_counter() - t0, changed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=25.0, help="target size in MB (10^6 bytes)")
    parser.add_argument("--out", required=True, help="file to write")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--changed-from", metavar="PATH",
                        help="write a re-export of this generated file instead, with --changed-fraction changed")
    parser.add_argument("--changed-fraction", type=float, default=0.05)
    args = parser.parse_args(argv)
    if args.changed_from:
        stats = write_changed_export(args.changed_from, args.out, args.changed_fraction, args.seed)
    else:
        stats = write_export(args.out, args.size_mb, args.seed)
    info = stats.to_dict()
    info["mb_per_s"] = round(stats.bytes / 1e6 / stats.seconds, 1)
    print(json.dumps(info), file=sys.stderr)


if __name__ == "__main__":
    main()
