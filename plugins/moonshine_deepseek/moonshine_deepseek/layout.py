"""Recognising a DeepSeek export and planning how to stream it.

Detection and parsing share one look at the export (:func:`inspect_export`):
which members hold conversations, at which ijson prefix, in which shape, and
how sure we are. Only the head of each JSON member is read (``sniff_json``).

Shapes (``Layout.variant``):

``official-export``
    ``conversations.json`` — an array of ``{id, title, inserted_at,
    updated_at, mapping}`` — alone or with ``user.json`` (zip or folder).
``web-api-flat`` / ``web-api-fragments``
    A saved ``/api/v0/chat/history_messages`` response
    (``{code, msg, data: {biz_data: {chat_session, chat_messages}}}``), the bare
    ``biz_data`` object, or an array of either; ``flat`` when messages carry
    ``content``/``thinking_content``, ``fragments`` when they carry ``fragments``.
``wrapped-export``
    A JSON object holding official-shape conversations under some key (one
    conversation, or a list), as re-wrapping tools and templates write them.
``not-an-export``
    A text file that quotes a DeepSeek export (console output of a script that
    opened one) but is not one. Detected with a very low confidence so the
    user is told what it is; parsing refuses it with a clear error.

A ChatGPT export also has ``mapping`` trees. It is never claimed: any of
``current_node``, ``create_time``, ``update_time``, ``conversation_id`` on the
conversation, or ``author``/``content``/``create_time``/``recipient`` on a node's
message, rules DeepSeek out; and a positive DeepSeek marker (``inserted_at`` on
the conversation, ``fragments``/``inserted_at`` on a node's message) is required.
"""

from __future__ import annotations

import re

import attrs

from moonshine_core.errors import MoonshineError
from moonshine_core.sources import ExportSource, JsonSniff

OFFICIAL = "official-export"
WRAPPED = "wrapped-export"
API_FLAT = "web-api-flat"
API_FRAGMENTS = "web-api-fragments"
NOT_AN_EXPORT = "not-an-export"

#: What a DeepSeek conversations file must look like, quoted in refusals.
EXPECTED = ("conversations.json (a JSON array of conversations, each with id, inserted_at and a "
            "'mapping' tree whose messages carry 'fragments') or a saved web-API history_messages "
            "response ({data: {biz_data: {chat_session, chat_messages}}})")

_CHATGPT_CONV_KEYS = ("current_node", "create_time", "update_time", "conversation_id")
_CHATGPT_MSG_KEYS = re.compile(r"mapping\.[^.]+\.message\.(author|content|create_time|recipient|end_turn)$")
_DEEPSEEK_MSG_KEYS = re.compile(r"mapping\.[^.]+\.message\.(fragments|inserted_at)$")
_USER_JSON_MARKERS = ("mobile", "oauth_profiles")
# Text that quotes a DeepSeek export: the conversation keys that only DeepSeek has, side by side.
_TEXT_TELLTALES = (b"mapping", b"inserted_at")
_MAX_JSON_MEMBERS = 200


@attrs.define
class Stream:
    """One place conversations live: a member, the ijson prefix of each conversation, its shape."""

    member: str
    prefix: str
    shape: str  # "export" (mapping tree) or "api" (chat_session + chat_messages)


@attrs.define
class Layout:
    """What :func:`inspect_export` found."""

    variant: str
    confidence: float
    evidence: str
    streams: list[Stream] = attrs.field(factory=list)
    user_member: str | None = None
    refusal: str | None = None


def _under(prefixes: set[str], base: str) -> set[str]:
    """The prefixes below ``base`` with ``base.`` stripped (all of them when ``base`` is empty)."""
    if not base:
        return prefixes
    cut = len(base) + 1
    return {p[cut:] for p in prefixes if p.startswith(base + ".")}


def _looks_like_export_conversation(keys: set[str]) -> tuple[bool, str]:
    """Judge the key paths of one conversation level (``mapping``, ``inserted_at``, ...)."""
    if "mapping" not in keys:
        return False, "no mapping"
    chatgpt = [k for k in _CHATGPT_CONV_KEYS if k in keys]
    chatgpt += sorted({m.group(1) for k in keys if (m := _CHATGPT_MSG_KEYS.search(k))})
    if chatgpt:
        return False, f"ChatGPT markers ({', '.join(chatgpt)})"
    markers = [k for k in ("inserted_at", "updated_at") if k in keys]
    markers += sorted({"message." + m.group(1) for k in keys if (m := _DEEPSEEK_MSG_KEYS.search(k))})
    if not markers:
        return False, "mapping without DeepSeek markers"
    return True, "mapping with " + ", ".join(markers)


def _api_variant(keys: set[str]) -> str:
    if any(k.startswith("chat_messages.item.fragments") for k in keys):
        return API_FRAGMENTS
    return API_FLAT


def classify_json(member: str, sniff: JsonSniff) -> tuple[Layout | None, str]:
    """Classify one JSON member from its sniff; returns the layout (or ``None``) and why."""
    prefixes = sniff.prefixes
    if sniff.top == "array":
        items = _under(prefixes, "item")
        ok, why = _looks_like_export_conversation(items)
        if ok:
            return Layout(OFFICIAL, 0.95, f"{member}: array of conversations, {why}",
                          [Stream(member, "item", "export")]), why
        if "chat_session" in items and "chat_messages" in items:
            return Layout(_api_variant(items), 0.9, f"{member}: array of web-API chat sessions",
                          [Stream(member, "item", "api")]), "array of chat sessions"
        envelope = _under(items, "data.biz_data")
        if "chat_session" in envelope and "chat_messages" in envelope:
            return Layout(_api_variant(envelope), 0.9, f"{member}: array of web-API history responses",
                          [Stream(member, "item", "api")]), "array of history responses"
        return None, why
    if sniff.top == "object":
        envelope = _under(prefixes, "data.biz_data")
        for keys, where in ((envelope, "history_messages response"), (prefixes, "chat_session object")):
            if "chat_session" in keys and "chat_messages" in keys:
                return Layout(_api_variant(keys), 0.9, f"{member}: web-API {where}",
                              [Stream(member, "", "api")]), where
        ok, why = _looks_like_export_conversation(prefixes)
        if ok:
            return Layout(WRAPPED, 0.7, f"{member}: one conversation object, {why}",
                          [Stream(member, "", "export")]), why
        streams = []
        for key in sniff.first_item_keys:
            if "." in key:  # ijson prefixes cannot address a key with a dot in it
                continue
            for sub in (key, f"{key}.item"):
                inner = _under(prefixes, sub)
                if _looks_like_export_conversation(inner)[0]:
                    streams.append(Stream(member, sub, "export"))
        if streams:
            return Layout(WRAPPED, 0.6, f"{member}: conversations wrapped under "
                          + ", ".join(s.prefix for s in streams), streams), "wrapped"
        return None, why if "mapping" in prefixes else "no DeepSeek conversations"
    return None, sniff.error or "not JSON"


def _text_refusal(source: ExportSource, member: str) -> Layout | None:
    """A non-JSON text member that quotes a DeepSeek export (the debug-output excerpt, for one)."""
    head = source.head(member, 64 * 1024)
    if not all(t in head for t in _TEXT_TELLTALES):
        return None
    mentions = [n for n in (b"conversations.json", b"user.json") if n in head]
    evidence = (f"{member}: text, not JSON; it quotes a DeepSeek export ("
                + ", ".join(t.decode() for t in _TEXT_TELLTALES + tuple(mentions)) + ") but is not one")
    refusal = (f"not a DeepSeek export: this is text output quoting one (not JSON). Missing: {EXPECTED}. "
               "Give the zip from chat.deepseek.com (Settings > Data > Export data) or its conversations.json")
    return Layout(NOT_AN_EXPORT, 0.05, evidence, refusal=refusal)


def _user_json_is_deepseek(source: ExportSource, member: str) -> bool:
    try:
        if source.size(member) > 1024 * 1024:
            return False
        data = source.load_json(member)
    except (MoonshineError, OSError, KeyError, ValueError):
        return False
    return isinstance(data, dict) and any(k in data for k in _USER_JSON_MARKERS)


def inspect_export(source: ExportSource) -> Layout | None:
    """Find the DeepSeek conversations in ``source``; ``None`` when it is not a DeepSeek export.

    A returned layout with ``refusal`` set is recognised but cannot be parsed.
    """
    conversations = sorted(source.find(r"conversations\.json"), key=lambda n: (n.count("/"), n))
    users = sorted(source.find(r"user\.json"), key=lambda n: (n.count("/"), n))
    if conversations:
        member = conversations[0]
        sniff = source.sniff_json(member)
        layout, why = classify_json(member, sniff)
        if layout is None and sniff.top == "array" and sniff.complete and not sniff.prefixes and not sniff.error \
                and users and _user_json_is_deepseek(source, users[0]):
            # An account with no chats: an empty array beside a DeepSeek user.json.
            layout = Layout(OFFICIAL, 0.9, f"{member}: empty array beside a DeepSeek user.json",
                            [Stream(member, "item", "export")])
        if layout is None:
            return None
        if users:
            layout.user_member = users[0]
            if layout.variant == OFFICIAL and _user_json_is_deepseek(source, users[0]):
                layout.confidence = 0.99
                layout.evidence += f"; {users[0]} has DeepSeek account keys (mobile/oauth_profiles)"
        return layout
    members = source.names()
    if source.kind != "file":
        members = [n for n in members if n.lower().endswith(".json")][:_MAX_JSON_MEMBERS]
    found: list[Layout] = []
    for member in members:
        sniff = source.sniff_json(member)
        layout, _ = classify_json(member, sniff)
        if layout is not None:
            found.append(layout)
        elif sniff.top in ("invalid", "scalar") and source.kind == "file":
            return _text_refusal(source, member)
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    # A folder of saved per-chat dumps: stream them all, report the most common shape.
    variants = [f.variant for f in found]
    best = max(set(variants), key=variants.count)
    return Layout(best, min(f.confidence for f in found), f"{len(found)} DeepSeek JSON files",
                  [s for f in found for s in f.streams])
