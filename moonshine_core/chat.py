"""Lane messages in the form Hugging Face chat templates render correctly.

Lane files keep every message with all six keys and tool-call ``arguments`` as
a JSON *string* (``moonshine_core.distill.messages``): that gives one Arrow
type for a whole file. Chat templates want something else, and each family
wants its own thing:

- Qwen 2.5, Llama 3.1 and Mistral render ``arguments | tojson``: a string is
  encoded a second time (``"{\\"cmd\\": ...}"``). They need objects.
- Llama 3.1 raises on an assistant message with more than one call and drops
  the text said beside a call.
- Mistral (7B-Instruct-v0.3's template) needs call ids of exactly 9
  alphanumeric characters, user/assistant turns that alternate (tool steps
  aside), drops text beside calls, and renders the system prompt only when the
  conversation ends on a user turn.
- Gemma 3 has no tool support at all and needs strictly alternating turns.

:func:`template_messages` rewrites one message list for a
:class:`TemplateProfile` (what a template can render) without losing text:
arguments become objects, parallel calls become one call per step (each call
followed by its result), text beside calls becomes its own message, turns are
merged until they alternate, and for templates without tools, calls and
results become text. :data:`PROFILES` holds the profiles of the templates the
tests render (``tests/data/chat_templates``); :func:`probe_profile` finds the
profile of any template by rendering probe conversations with it.

For TRL, :func:`template_dataset` applies this to a ``datasets`` dataset and
stores the messages with the ``datasets.Json`` type (datasets >= 4.7), so each
message keeps its own keys and its arguments stay objects; ``SFTTrainer``
then renders them as they are (docs/lanes.md, "Chat templates and tool calls").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

__all__ = [
    "PROFILES",
    "TemplateProfile",
    "probe_profile",
    "render_row",
    "template_dataset",
    "template_messages",
    "template_tools",
]


@attrs.frozen
class TemplateProfile:
    """What a chat template can render; :func:`template_messages` works around the rest."""

    #: Several calls in one assistant message (Llama 3.1: no).
    parallel_calls: bool = True
    #: Text next to the calls of an assistant message (Llama 3.1, Mistral: dropped).
    text_beside_calls: bool = True
    #: ``tool_calls`` and ``tool`` messages at all (Gemma 3: no; they become text).
    native_tools: bool = True
    #: User and assistant turns must alternate; call steps and tool messages do not count
    #: when ``native_tools`` (Mistral), everything counts otherwise (Gemma 3).
    alternation: bool = False
    #: Call ids must be exactly this many alphanumeric characters (Mistral: 9).
    call_id_length: int | None = None
    #: A leading system prompt is lost unless folded into the first user turn (Mistral).
    system_in_first_user: bool = False


#: Profiles of the templates rendered in tests/test_chat_templates.py; ``probe_profile`` finds
#: the same ones from the templates themselves.
PROFILES: dict[str, TemplateProfile] = {
    "openai": TemplateProfile(),
    "qwen2.5": TemplateProfile(),
    "qwen3": TemplateProfile(),
    "llama3.1": TemplateProfile(parallel_calls=False, text_beside_calls=False),
    "mistral": TemplateProfile(text_beside_calls=False, alternation=True, call_id_length=9,
                               system_in_first_user=True),
    "gemma3": TemplateProfile(native_tools=False, alternation=True),
}


def _profile(profile: TemplateProfile | str) -> TemplateProfile:
    if isinstance(profile, TemplateProfile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown template profile {profile!r}; known: {', '.join(PROFILES)}") from None


# --- arguments and tools ---------------------------------------------------------------------


def _arguments(value: Any) -> dict[str, Any]:
    """Call arguments as an object: lane files hold JSON strings of objects."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {"input": value}   # the lane's own rule for text arguments
    if value is None:
        return {}
    return value if isinstance(value, dict) else {"input": value}


def template_tools(tools: str | Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    """A row's ``tools`` (a JSON string in lane files) as the list ``apply_chat_template(tools=...)`` takes."""
    if tools is None or tools == "":
        return None
    decoded = json.loads(tools) if isinstance(tools, str) else tools
    return [dict(tool) for tool in decoded] or None


# --- the rewrite -------------------------------------------------------------------------------


def _plain(message: Mapping[str, Any]) -> dict[str, Any]:
    """A message with its null keys left out (Llama 3.1 tests ``'tool_calls' in message``)
    and its call arguments decoded."""
    out = {key: value for key, value in message.items() if value is not None}
    out["content"] = message.get("content") or ""
    if out.get("tool_calls"):
        out["tool_calls"] = [
            {**call, "type": call.get("type") or "function",
             "function": {**call["function"], "arguments": _arguments(call["function"].get("arguments"))}}
            for call in message["tool_calls"]]
    else:
        out.pop("tool_calls", None)
    return out


def _joined(*texts: str | None) -> str:
    return "\n\n".join(t for t in texts if t)


def _merge_into(target: dict[str, Any], message: dict[str, Any]) -> None:
    target["content"] = _joined(target.get("content"), message.get("content"))
    reasoning = _joined(target.get("reasoning_content"), message.get("reasoning_content"))
    if reasoning:
        target["reasoning_content"] = reasoning


def _is_call(m: Mapping[str, Any]) -> bool:
    return m["role"] == "assistant" and bool(m.get("tool_calls"))


def _fixed_ids(messages: list[dict[str, Any]], length: int) -> list[dict[str, Any]]:
    """Call ids of exactly ``length`` alphanumeric characters (``call00001``), the same in calls and results."""
    new_ids: dict[str, str] = {}

    def new_id(old: str) -> str:
        if old not in new_ids:
            number = str(len(new_ids) + 1)
            prefix = "call"[: max(0, length - len(number))]
            new_ids[old] = (prefix + number.rjust(length - len(prefix), "0"))[-length:]
        return new_ids[old]

    out = []
    for m in messages:
        m = dict(m)
        if m.get("tool_calls"):
            m["tool_calls"] = [{**c, "id": new_id(c.get("id") or f"_missing_{len(new_ids)}")} for c in m["tool_calls"]]
        if m["role"] == "tool" and m.get("tool_call_id"):
            m["tool_call_id"] = new_id(m["tool_call_id"])
        out.append(m)
    return out


def _split_text_from_calls(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """assistant(text + calls) -> assistant(text), assistant(calls): the text keeps its place."""
    out = []
    for m in messages:
        if _is_call(m) and (m["content"].strip() or m.get("reasoning_content")):
            text = {"role": "assistant", "content": m["content"]}
            if m.get("reasoning_content"):
                text["reasoning_content"] = m["reasoning_content"]
            calls = {k: v for k, v in m.items() if k != "reasoning_content"}
            calls["content"] = ""
            out += [text, calls]
        else:
            out.append(m)
    return out


def _single_calls(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One call per assistant message, each followed by its own result.

    Parallel calls are independent, so calling them one after the other, each
    answered before the next, is the same trajectory in single-call form.
    """
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(messages):
        m = messages[i]
        i += 1
        if not (_is_call(m) and len(m["tool_calls"]) > 1):
            out.append(m)
            continue
        results: list[dict[str, Any]] = []
        while i < len(messages) and messages[i]["role"] == "tool":
            results.append(messages[i])
            i += 1
        for n, call in enumerate(m["tool_calls"]):
            step = {**m, "tool_calls": [call]}
            if n:   # text and reasoning belong to the first step only
                step["content"] = ""
                step.pop("reasoning_content", None)
            out.append(step)
            answer = next((r for r in results if r.get("tool_call_id") == call.get("id")), None)
            if answer is not None:
                results.remove(answer)
                out.append(answer)
        out += results   # results naming no call of this message keep their order at the end
    return out


def _fence(text: str, info: str) -> str:
    """``text`` in a Markdown code fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text}\n{ticks}"


def _tools_as_text(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Calls become text in their assistant message, results become user turns (for templates without tools)."""
    out = []
    for m in messages:
        if _is_call(m):
            calls = [_fence(json.dumps({"name": c["function"]["name"], "arguments": c["function"]["arguments"]},
                                       ensure_ascii=False), "tool_call") for c in m["tool_calls"]]
            text = {k: v for k, v in m.items() if k != "tool_calls"}
            text["content"] = _joined(m["content"], *calls)
            out.append(text)
        elif m["role"] == "tool":
            out.append({"role": "user", "content": _fence(m["content"], "tool_output")})
        else:
            out.append(m)
    return out


def _alternate(messages: list[dict[str, Any]], native_tools: bool) -> list[dict[str, Any]]:
    """Turns that alternate user/assistant after an optional leading system message.

    Consecutive user messages (and later system messages, which strict
    templates refuse) merge into one user turn. With native tools, the
    assistant texts of one turn (between two user messages) merge into one
    message after the turn's tool steps: the templates have no slot for text
    between calls, and placing it after the results keeps every text after
    what it knew. A turn that ends on tool steps before the next user turn
    gets an empty closing assistant message: the assistant said nothing more.
    """
    head = [messages[0]] if messages and messages[0]["role"] == "system" else []
    body = [dict(m, role="user") if m["role"] == "system" else m for m in messages[len(head):]]
    if body and body[0]["role"] != "user":
        raise ValueError("roles cannot be made to alternate: the conversation starts with an assistant turn, "
                         "and a strict template needs a user turn first")
    out: list[dict[str, Any]] = list(head)
    turn: list[dict[str, Any]] = []   # the assistant side of the current turn

    def close_turn(before_user: bool) -> None:
        if not native_tools:   # everything is text already: merge neighbours of the same role
            for m in turn:
                if out and out[-1]["role"] == m["role"]:
                    _merge_into(out[-1], m)
                else:
                    out.append(dict(m))
            turn.clear()
            return
        texts = [m for m in turn if m["role"] == "assistant" and not m.get("tool_calls")]
        steps = [m for m in turn if not (m["role"] == "assistant" and not m.get("tool_calls"))]
        out.extend(steps)
        if texts:
            closing = dict(texts[0])
            for m in texts[1:]:
                _merge_into(closing, m)
            out.append(closing)
        elif steps and before_user:
            out.append({"role": "assistant", "content": ""})
        turn.clear()

    for m in body:
        if m["role"] == "user":
            if turn:
                close_turn(before_user=True)
            if out and out[-1]["role"] == "user":
                _merge_into(out[-1], m)
            else:
                out.append(dict(m))
        else:
            turn.append(m)
    close_turn(before_user=False)
    return out


def _system_into_first_user(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(messages) < 2 or messages[0]["role"] != "system" or messages[1]["role"] != "user":
        return messages
    first = dict(messages[1], content=_joined(messages[0]["content"], messages[1]["content"]))
    return [first, *messages[2:]]


def template_messages(messages: Iterable[Mapping[str, Any]],
                      profile: TemplateProfile | str = "openai") -> list[dict[str, Any]]:
    """Lane messages rewritten for a chat template with ``profile`` (a :class:`TemplateProfile`
    or a name in :data:`PROFILES`), ready for ``tokenizer.apply_chat_template``.

    Every text of the input is still there afterwards (merged turns are joined
    with a blank line); null keys are left out; call arguments are objects.
    Raises ``ValueError`` when alternation is required and the conversation
    starts with an assistant turn (lane rows never do).
    """
    profile = _profile(profile)
    out = [_plain(m) for m in messages]
    if profile.call_id_length:
        out = _fixed_ids(out, profile.call_id_length)
    if not profile.native_tools:
        out = _tools_as_text(out)
    else:
        if not profile.text_beside_calls:
            out = _split_text_from_calls(out)
        if not profile.parallel_calls:
            out = _single_calls(out)
    if profile.alternation:
        out = _alternate(out, profile.native_tools)
    if profile.system_in_first_user:
        out = _system_into_first_user(out)
    return out


# --- probing a template ------------------------------------------------------------------------

_NAME, _KEY, _VALUE, _RESULT = "probe_tool_q7", "probe_key_q7", "probe_value_q7", "probe_result_q7"
_TEXT, _SYSTEM, _SECOND = "probe_text_q7", "probe_system_q7", "probe_second_q7"
_TOOLS = [{"type": "function", "function": {
    "name": _NAME, "description": "probe",
    "parameters": {"type": "object", "properties": {_KEY: {"type": "string"}}, "required": [_KEY]}}}]


def _call(call_id: str, value: str = _VALUE) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": _NAME, "arguments": {_KEY: value}}}


def probe_profile(tokenizer: Any, chat_template: str | None = None) -> TemplateProfile:
    """The :class:`TemplateProfile` of a tokenizer's chat template (or of ``chat_template``),
    found by rendering small probe conversations with ``tokenizer.apply_chat_template``.

    A probe that raises or whose marker text is missing from the rendering
    means the template cannot render that form.
    """
    def render(messages: list[dict[str, Any]], tools: list | None = None) -> str | None:
        try:
            return tokenizer.apply_chat_template(messages, tools=tools, tokenize=False,
                                                 chat_template=chat_template)
        except Exception:   # a template refuses a form by raising (raise_exception, TypeError, ...)
            return None

    user = {"role": "user", "content": "probe"}

    def trajectory(call_id: str, calls: list | None = None, text: str = "") -> list[dict[str, Any]]:
        calls = calls or [_call(call_id)]
        results = [{"role": "tool", "tool_call_id": c["id"], "name": _NAME, "content": _RESULT} for c in calls]
        return [user, {"role": "assistant", "content": text, "tool_calls": calls}, *results,
                {"role": "assistant", "content": "done"}]

    call_id_length = None
    rendered = render(trajectory("call_1"), _TOOLS)
    if rendered is None:
        rendered = render(trajectory("call00001"), _TOOLS)
        call_id_length = 9 if rendered is not None else None
    native = rendered is not None and _NAME in rendered and _VALUE in rendered and _RESULT in rendered
    short_id = "call00001" if call_id_length else "call_1"
    second_id = "call00002" if call_id_length else "call_2"
    if native:
        parallel = render(trajectory(short_id, [_call(short_id), _call(second_id, _SECOND)]), _TOOLS)
        text = render(trajectory(short_id, text=_TEXT), _TOOLS)
        parallel_calls = parallel is not None and _SECOND in parallel
        text_beside_calls = text is not None and _TEXT in text
    else:
        parallel_calls = text_beside_calls = True   # irrelevant: calls become text
    assistant = {"role": "assistant", "content": "answer"}
    alternation = render([user, user, assistant]) is None or render([user, assistant, assistant]) is None
    with_system = render([{"role": "system", "content": _SYSTEM}, user, assistant])
    system_in_first_user = with_system is not None and _SYSTEM not in with_system
    return TemplateProfile(parallel_calls=parallel_calls, text_beside_calls=text_beside_calls,
                           native_tools=native, alternation=alternation,
                           call_id_length=call_id_length if native else None,
                           system_in_first_user=system_in_first_user)


# --- rendering and datasets --------------------------------------------------------------------


def render_row(tokenizer: Any, row: Mapping[str, Any], profile: TemplateProfile | str | None = None,
               **kwargs: Any) -> Any:
    """``tokenizer.apply_chat_template`` on a lane row's ``messages`` and ``tools``, rewritten for
    ``profile`` (probed from the tokenizer when ``None``); ``tokenize=False`` unless given."""
    profile = probe_profile(tokenizer, kwargs.get("chat_template")) if profile is None else profile
    kwargs.setdefault("tokenize", False)
    return tokenizer.apply_chat_template(template_messages(row["messages"], profile),
                                         tools=template_tools(row.get("tools")), **kwargs)


def template_dataset(dataset: Any, profile: TemplateProfile | str, *,
                     columns: Sequence[str] = ("messages",), num_proc: int | None = None) -> Any:
    """A ``datasets.Dataset`` (or ``DatasetDict``) of lane rows with ``columns`` rewritten by
    :func:`template_messages`, typed ``List(Json())`` so each message keeps exactly its own
    keys and its arguments stay objects when read back (Arrow structs would give every
    message every key, and give arguments of different calls each other's keys as nulls).

    ``tools`` stays a JSON string, which ``SFTTrainer`` decodes itself. Needs datasets >= 4.7.
    """
    try:
        from datasets import Dataset, DatasetDict, IterableDatasetDict, Json, List
    except ImportError as exc:   # Json() arrived in datasets 4.7
        raise ImportError("template_dataset needs datasets >= 4.7 (the Json feature type)") from exc
    profile = _profile(profile)
    if isinstance(dataset, (DatasetDict, IterableDatasetDict)):   # splits may differ in column types
        return type(dataset)({name: template_dataset(split, profile, columns=columns, num_proc=num_proc)
                              for name, split in dataset.items()})
    features = dataset.features.copy()
    for column in columns:
        features[column] = List(Json())

    def rewrite(row: dict[str, Any]) -> dict[str, Any]:
        return {column: template_messages(row[column], profile) for column in columns if row[column] is not None}

    if isinstance(dataset, Dataset):   # IterableDataset.map takes neither num_proc nor desc
        return dataset.map(rewrite, features=features, num_proc=num_proc, desc="Chat template form")
    return dataset.map(rewrite, features=features)
