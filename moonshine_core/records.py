"""The canonical record model every provider plugin produces.

These attrs classes are the contract between plugins and the core: a plugin's
``moonshine_normalize`` turns one raw record into a list of them, and the core
stores, counts, merges and distils them without knowing which provider they
came from. Every field except the identifying ones is optional, because every
export field is.

Enumerations are open: ``role`` is usually ``user``/``assistant``/``system``/
``tool`` but any string is kept; ``reasoning_kind`` is ``raw`` or ``summary``.
Times are UTC epoch seconds (see :func:`moonshine_core.timeutil.to_epoch`).
``raw`` fields hold the provider's JSON exactly as read, so a better parser can
re-read it later without the export.
"""

from __future__ import annotations

from typing import Any, Union

import attrs

#: Roles the core knows how to treat; others are kept as they are.
KNOWN_ROLES = ("user", "assistant", "system", "tool")
#: Kinds of reasoning text: the full chain of thought, or a provider's summary of it.
REASONING_KINDS = ("raw", "summary")


@attrs.define(kw_only=True)
class Attachment:
    """A reference to a file, image, audio or video that belongs to a message.

    Only references are stored (the bytes stay in the export). ``extracted_text``
    holds text the provider extracted from the file, when the export has it.
    """

    kind: str = "file"
    name: str | None = None
    pointer: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None
    extracted_text: str | None = None
    raw: Any = None


@attrs.define(kw_only=True)
class ToolCall:
    """A call the assistant made to a tool (code interpreter, browser, Bash, ...).

    ``arguments`` is structured when the export has structure (a dict), else the
    text the assistant sent (code, a query). ``call_id`` pairs it with its
    :class:`ToolResult`.
    """

    name: str
    arguments: Any = None
    call_id: str | None = None
    raw: Any = None


@attrs.define(kw_only=True)
class ToolResult:
    """What a tool returned. ``content`` is its text form, ``structured`` any
    structured payload (for example the code-interpreter ``aggregate_result``).
    ``is_error`` is ``None`` when the export does not say."""

    content: str = ""
    call_id: str | None = None
    name: str | None = None
    is_error: bool | None = None
    status: str | None = None
    structured: Any = None
    raw: Any = None


@attrs.define(kw_only=True)
class Message:
    """One node of a conversation tree.

    ``text`` is the visible text, cleaned of provider markup (citation markers);
    ``raw_text`` keeps the text before cleaning when it differs. ``hidden``
    marks messages the user never saw (platform plumbing, hidden system
    prompts); ``hidden_reason`` says which rule hid it. ``content_kind`` is the
    provider's content type, kept for diagnostics. ``metadata`` holds small
    structured facts a lane may need (for example ChatGPT's
    ``paragen_variant_choice``); ``usage`` holds provider token usage.
    """

    message_id: str
    role: str
    parent_id: str | None = None
    text: str = ""
    raw_text: str | None = None
    reasoning: str | None = None
    reasoning_kind: str | None = None
    tool_calls: list[ToolCall] = attrs.field(factory=list)
    tool_results: list[ToolResult] = attrs.field(factory=list)
    attachments: list[Attachment] = attrs.field(factory=list)
    hidden: bool = False
    hidden_reason: str | None = None
    content_kind: str | None = None
    model: str | None = None
    model_inferred: bool = False
    created_at: float | None = None
    updated_at: float | None = None
    status: str | None = None
    author_name: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)
    usage: dict[str, Any] | None = None
    raw: Any = None


@attrs.define(kw_only=True)
class Conversation:
    """A conversation: a tree of messages linked by ``parent_id``.

    ``current_leaf_id`` is the leaf of the branch the user last saw; when the
    export does not say, the plugin infers it and sets
    ``active_branch_inferred``. ``order_inferred`` says the tree was rebuilt from
    timestamps because the export has no parent links. ``raw_message_count`` is
    the number of message-bearing nodes in the raw export, which the ingest
    compares with ``len(messages)`` (a raw-only gate). ``unknown_shapes`` lists
    content types or fields the plugin did not understand (kept raw, counted
    in the run's unknown-shapes report).
    """

    conversation_id: str
    messages: list[Message] = attrs.field(factory=list)
    title: str | None = None
    created_at: float | None = None
    updated_at: float | None = None
    model: str | None = None
    current_leaf_id: str | None = None
    active_branch_inferred: bool = False
    order_inferred: bool = False
    format_variant: str | None = None
    raw_message_count: int | None = None
    unknown_shapes: list[str] = attrs.field(factory=list)
    metadata: dict[str, Any] = attrs.field(factory=dict)
    raw: Any = None


@attrs.define(kw_only=True)
class Feedback:
    """A user's rating of one message (thumbs up/down and optional text).

    ``rating`` is normalised to ``thumbs_up`` / ``thumbs_down`` where possible,
    otherwise kept as the provider wrote it.
    """

    feedback_id: str
    rating: str
    conversation_id: str | None = None
    message_id: str | None = None
    text: str | None = None
    tags: list[str] = attrs.field(factory=list)
    created_at: float | None = None
    unknown_shapes: list[str] = attrs.field(factory=list)
    metadata: dict[str, Any] = attrs.field(factory=dict)
    raw: Any = None


@attrs.define(kw_only=True)
class Comparison:
    """A preference between answers to one prompt.

    When the answers live in a conversation tree, ``chosen_message_ids`` and
    ``rejected_message_ids`` name them (``conversation_id`` says which tree).
    When the export carries the texts inline instead, ``prompt``/``chosen``/
    ``rejected`` hold them as lists of ``{"role", "content"}`` dicts.
    ``source`` says where the preference came from (``model_comparisons``,
    ``paragen``, ``regeneration``, ``side_by_side``, ...); ``chosen_is_inferred``
    is true when no user explicitly chose (for example "the branch the user
    continued").
    """

    comparison_id: str
    source: str
    conversation_id: str | None = None
    prompt_message_id: str | None = None
    chosen_message_ids: list[str] = attrs.field(factory=list)
    rejected_message_ids: list[str] = attrs.field(factory=list)
    candidate_message_ids: list[str] = attrs.field(factory=list)
    chosen_is_inferred: bool = False
    prompt: list[dict[str, Any]] | None = None
    chosen: list[dict[str, Any]] | None = None
    rejected: list[dict[str, Any]] | None = None
    rating: str | None = None
    created_at: float | None = None
    unknown_shapes: list[str] = attrs.field(factory=list)
    metadata: dict[str, Any] = attrs.field(factory=dict)
    raw: Any = None


@attrs.define(kw_only=True)
class SideRecord:
    """Anything else an export carries: projects, memories, user profile, ...

    ``personal`` marks personal data (``user.json``, account details): it is
    stored for provenance but never reaches a dataset.
    """

    kind: str
    record_id: str
    personal: bool = False
    data: Any = None
    unknown_shapes: list[str] = attrs.field(factory=list)
    raw: Any = None


@attrs.define(kw_only=True)
class Score:
    """A named quality score or flag for a conversation, from ``moonshine_score``.

    ``value`` is a number where one makes sense; ``flags`` are short labels
    (``refusal``, ``pii:email``, ...); ``detail`` carries evidence.
    """

    name: str
    value: float | None = None
    flags: list[str] = attrs.field(factory=list)
    detail: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class RawRecord:
    """One item a plugin's parser streams out of an export.

    ``kind`` is ``conversation``, ``feedback``, ``comparison`` or ``side``;
    ``data`` is the JSON exactly as read; ``member`` names the file inside the
    export it came from and ``index`` its position there; ``variant`` the
    format variant the parser recognised. ``context`` carries what the parser
    learned that normalising needs (kept small: ids, not whole trees).
    """

    kind: str
    data: Any
    member: str | None = None
    index: int | None = None
    variant: str | None = None
    context: dict[str, Any] = attrs.field(factory=dict)

    def location(self) -> str:
        """Where the record came from, for messages: ``member#index``."""
        return f"{self.member or 'export'}#{self.index}"


@attrs.define(kw_only=True)
class Detection:
    """A plugin's answer to ``moonshine_detect``: which provider, which format
    variant, how sure (0.0 to 1.0), and the evidence it saw."""

    provider: str
    variant: str
    confidence: float
    evidence: str = ""


#: What ``moonshine_normalize`` may return, one raw record giving several.
Record = Union[Conversation, Feedback, Comparison, SideRecord]
RECORD_TYPES = (Conversation, Feedback, Comparison, SideRecord)
