"""Turning one raw Qwen conversation into canonical records.

The tree is ``chat.history.messages`` (a map keyed by message id, in no
particular order, linked by ``parentId``/``childrenIds``) with
``chat.history.currentId`` (or the top-level ``currentId``) as the active leaf.
When that map is empty or missing, the ``chat.messages`` list (a projection of
the current path) is used instead. Assistant text comes from ``content_list``
phases (see :mod:`moonshine_qwen.phases`), falling back to ``content``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from moonshine_core.errors import NormalizeError
from moonshine_core.provider import (
    MappingTree,
    as_dict,
    as_id,
    as_int,
    as_list,
    as_str,
    fallback_id,
    latest_time,
    normalize_rating,
    regeneration_comparisons,
)
from moonshine_core.records import (
    Attachment,
    Comparison,
    Conversation,
    Feedback,
    Message,
    RawRecord,
    SideRecord,
)
from moonshine_core.timeutil import to_epoch
from moonshine_core.trees import ConversationTree, choose_active_leaf, final_answer, link_by_time, repair_tree

from .phases import read_content_list
from .text import as_bool, normalize_tags, split_inline_reasoning

#: Message fields copied into ``Message.metadata`` when present (small facts lanes may use).
_MESSAGE_META_KEYS = ("chat_type", "sub_chat_type", "edited", "turn_id", "is_stop", "done", "info")
_FEATURE_KEYS = ("thinking_enabled", "thinking_budget", "thinking_mode", "thinking_format", "auto_thinking",
                 "auto_search", "research_mode", "output_schema")


def normalize(raw: RawRecord) -> list[Any]:
    """Records for one raw record: a conversation (with its feedback and comparisons) or an account record."""
    if raw.kind == "side":
        user_id = as_id(as_dict(raw.data).get("user_id"))
        if user_id is None:
            raise NormalizeError("account record without a user_id")
        return [SideRecord(kind="user", record_id=f"user:{user_id}", personal=True,
                           data={"user_id": user_id}, raw=raw.data)]
    if raw.kind != "conversation":
        raise NormalizeError(f"unknown raw record kind {raw.kind!r}")
    if not isinstance(raw.data, dict):
        raise NormalizeError(f"conversation is a JSON {type(raw.data).__name__}, not an object")
    return ConversationBuilder(raw).build()


class ConversationBuilder:
    """Builds the records of one conversation; keeps the unknown shapes it meets."""

    def __init__(self, raw: RawRecord):
        self.raw = raw
        self.data: dict[str, Any] = raw.data
        self.unknown: list[str] = []
        self.feedback: list[Feedback] = []
        self.conversation_id = as_id(self.data.get("id"))
        self.id_inferred = self.conversation_id is None
        if self.conversation_id is None:
            # Stable across runs of the same export: the hash of the conversation as written.
            self.conversation_id = fallback_id(self.data)
        chat = as_dict(self.data.get("chat"))
        self.chat = chat
        self.history = as_dict(chat.get("history"))
        self.conv_models = [m for m in as_list(chat.get("models")) or as_list(self.data.get("models"))
                            if isinstance(m, str) and m]

    # -- the whole conversation ---------------------------------------------------
    def build(self) -> list[Any]:
        nodes = self.history.get("messages")
        pointer = as_id(self.history.get("currentId")) or as_id(self.data.get("currentId"))
        if "chat" in self.data and not isinstance(self.data.get("chat"), dict):
            self.unknown.append(f"chat:{type(self.data.get('chat')).__name__}")
        if isinstance(nodes, dict) and nodes:
            messages = self._from_history(nodes)
            raw_count, message_source, order_inferred = len(nodes), "history", False
        else:
            if nodes is not None and not isinstance(nodes, dict):
                self.unknown.append(f"history.messages:{type(nodes).__name__}")
            items = self.chat.get("messages")
            if items is None and isinstance(self.data.get("messages"), list):
                items = self.data.get("messages")
            if items is not None and not isinstance(items, list):
                self.unknown.append(f"chat.messages:{type(items).__name__}")
            items = as_list(items)
            messages, order_inferred = self._from_list(items)
            raw_count, message_source = len(items), "messages_list"
        repairs = repair_tree(messages)
        leaf, inferred = choose_active_leaf(messages, pointer)
        metadata = self._conversation_metadata(message_source, pointer, repairs)
        conversation = Conversation(
            conversation_id=self.conversation_id,
            messages=messages,
            title=self.data.get("title") if isinstance(self.data.get("title"), str) else None,
            created_at=to_epoch(self.data.get("created_at")),
            updated_at=to_epoch(self.data.get("updated_at")),
            model=self.conv_models[0] if len(set(self.conv_models)) == 1 else None,
            current_leaf_id=leaf,
            active_branch_inferred=inferred,
            order_inferred=order_inferred,
            format_variant=f"{self.raw.variant or 'unknown'}/{message_source}",
            raw_message_count=raw_count,
            unknown_shapes=sorted(set(self.unknown)),
            metadata=metadata,
            raw=self.data,
        )
        return [conversation, *self.feedback, *self._comparisons(conversation)]

    def _conversation_metadata(self, message_source: str, pointer: str | None, repairs: list[str]) -> dict[str, Any]:
        meta = as_dict(self.data.get("meta"))
        out: dict[str, Any] = {"message_source": message_source}
        if "tags" in meta:
            out["tags"] = normalize_tags(meta.get("tags"))
        for key in ("pinned", "archived"):
            if key in self.data:
                flag = as_bool(self.data.get(key))
                if flag is not None:
                    out[key] = flag
        for key in ("share_id", "folder_id", "project_id", "chat_type"):
            if as_str(self.data.get(key)):
                out[key] = self.data[key]
        if self.conv_models:
            out["models"] = list(self.conv_models)
        responses = self._current_response_ids()
        if responses:
            out["current_response_ids"] = responses
        if pointer is not None:
            out["current_id"] = pointer
        if self.id_inferred:
            out["conversation_id_inferred"] = True
        if repairs:
            out["tree_repairs"] = repairs
        return out

    def _current_response_ids(self) -> list[str]:
        value = self.data.get("currentResponseIds")
        if value is None:
            value = self.chat.get("currentResponseIds")
        return [i for i in (as_id(v) for v in as_list(value)) if i]

    # -- the two sources of messages ------------------------------------------------
    def _from_history(self, nodes: dict[str, Any]) -> list[Message]:
        keys = [str(k) for k in nodes]
        raw_by_id = {str(k): v for k, v in nodes.items()}
        # Every node is a message (a broken one becomes a placeholder), so nothing is plumbing.
        links = MappingTree({key: as_dict(node) for key, node in raw_by_id.items()}, has_message=lambda node: True,
                            parent_key="parentId", children_key="childrenIds")
        self.unknown.extend(links.unknown)
        parent_of = links.parent_of
        order = _tree_order(keys, raw_by_id, parent_of)
        messages = []
        for key in order:
            parent_id = parent_of[key]
            parent_raw = raw_by_id.get(parent_id) if parent_id is not None else None
            message = self._message(key, raw_by_id[key], parent_id, parent_raw)
            if "parentId" not in as_dict(raw_by_id[key]) and parent_id is not None:
                message.metadata["parent_from_children_ids"] = True
            messages.append(message)
        return messages

    def _from_list(self, items: list[Any]) -> tuple[list[Message], bool]:
        has_links = any(isinstance(it, dict) and as_id(it.get("parentId")) is not None for it in items)
        messages: list[Message] = []
        previous_id: str | None = None
        previous_raw: Any = None
        raw_by_id: dict[str, Any] = {}
        for index, item in enumerate(items):
            node = as_dict(item)
            message_id = as_id(node.get("id")) or f"index:{index}"
            parent_id: str | None = None
            parent_guess = False
            if has_links:
                if "parentId" in node:
                    parent_id = as_id(node.get("parentId"))
                else:
                    parent_id, parent_guess = previous_id, previous_id is not None
            parent_raw = raw_by_id.get(parent_id) if parent_id else previous_raw
            message = self._message(message_id, item, parent_id, parent_raw)
            if parent_guess:
                message.metadata["parent_inferred"] = True
            messages.append(message)
            raw_by_id.setdefault(message_id, item)
            previous_id, previous_raw = message_id, item
        if not has_links:
            link_by_time(messages)
        return messages, not has_links

    # -- one message ---------------------------------------------------------------
    def _message(self, message_id: str, node: Any, parent_id: str | None, parent_raw: Any) -> Message:
        if not isinstance(node, dict):
            self.unknown.append(f"message:{type(node).__name__}")
            return Message(message_id=message_id, role="unknown", parent_id=parent_id, hidden=True,
                           hidden_reason="not_a_message_object", raw=node)
        role = node.get("role") if isinstance(node.get("role"), str) and node.get("role") else "unknown"
        if role == "unknown":
            self.unknown.append("role:<missing>")
        metadata: dict[str, Any] = {}
        node_id = as_id(node.get("id"))
        if node_id is not None and node_id != message_id:
            metadata["node_id"] = node_id

        content_text = self._content_text(node, metadata)
        phases = read_content_list(node.get("content_list"), message_id)
        self.unknown.extend(phases.unknown)
        if node.get("content_list") is not None and not isinstance(node.get("content_list"), list):
            self.unknown.append(f"content_list:{type(node.get('content_list')).__name__}")

        text = "\n\n".join(phases.answers) if phases.answers else content_text
        reasoning, kind = None, None
        if phases.raw_reasoning:
            reasoning, kind = "\n\n".join(phases.raw_reasoning), "raw"
            if phases.summary:
                metadata["reasoning_summary"] = "\n\n".join(phases.summary)
        elif phases.summary:
            reasoning, kind = "\n\n".join(phases.summary), "summary"
        elif isinstance(node.get("reasoning_content"), str) and node["reasoning_content"].strip():
            reasoning, kind = node["reasoning_content"].strip(), "raw"
        raw_text = None
        cleaned, inline = split_inline_reasoning(text)
        if inline is not None or cleaned != text:
            raw_text, text = text, cleaned.strip()
            if inline and reasoning is None:
                reasoning, kind = inline, "raw"
            elif inline:
                metadata["inline_reasoning"] = inline

        for key in _MESSAGE_META_KEYS:
            if node.get(key) is not None:
                metadata[key] = node[key]
        features = {k: v for k, v in as_dict(node.get("feature_config")).items() if k in _FEATURE_KEYS}
        if features:
            metadata["feature_config"] = features
        if node.get("error") not in (None, "", {}):
            metadata["error"] = node["error"]
        for key in ("feedbackId", "annotation"):
            if key in node:
                metadata[key] = node[key]
        if as_str(node.get("modelName")):
            metadata["model_name"] = node["modelName"]
        if as_int(node.get("modelIdx")) is not None:
            metadata["model_idx"] = as_int(node.get("modelIdx"))
        requested = [m for m in as_list(node.get("models")) if isinstance(m, str) and m]
        if role == "user" and requested:
            metadata["requested_models"] = requested
        if phases.phases:
            metadata["phases"] = phases.phases
        extra = as_dict(node.get("extra"))
        if extra.get("endTime") is not None:
            metadata["end_time"] = to_epoch(extra.get("endTime"))

        model, model_inferred = self._model(role, node, parent_raw)
        attachments = self._attachments(node, metadata)
        created_at = to_epoch(node.get("timestamp"))
        message = Message(
            message_id=message_id,
            role=role,
            parent_id=parent_id,
            text=text,
            raw_text=raw_text,
            reasoning=reasoning,
            reasoning_kind=kind,
            tool_calls=phases.tool_calls,
            tool_results=phases.tool_results,
            attachments=attachments,
            content_kind="content_list" if phases.phases else ("content" if content_text else None),
            model=model,
            model_inferred=model_inferred,
            created_at=created_at,
            updated_at=metadata.get("end_time"),
            status=self._status(node, phases.statuses),
            metadata=metadata,
            usage=phases.usage,
            raw=node,
        )
        self._feedback(message_id, node)
        return message

    def _content_text(self, node: dict[str, Any], metadata: dict[str, Any]) -> str:
        content = node.get("content")
        if content is None or isinstance(content, str):
            return content or ""
        if isinstance(content, list):
            # Open WebUI's multimodal form: [{type: text, text}, {type: image_url, ...}]
            parts = []
            for part in content:
                if isinstance(part, str):
                    parts.append(part)
                elif isinstance(part, dict) and isinstance(part.get("text"), str):
                    parts.append(part["text"])
                elif isinstance(part, dict):
                    self.unknown.append(f"content_part:{part.get('type') if isinstance(part.get('type'), str) else 'object'}")
            metadata["content_parts"] = len(content)
            return "\n".join(p for p in parts if p)
        self.unknown.append(f"content:{type(content).__name__}")
        return ""

    def _model(self, role: str, node: dict[str, Any], parent_raw: Any) -> tuple[str | None, bool]:
        if role != "assistant":
            return None, False
        model = as_str(node.get("model"))
        if model:
            return model, False
        index = as_int(node.get("modelIdx")) or 0
        own = [m for m in as_list(node.get("models")) if isinstance(m, str) and m]
        if len(own) == 1 or (own and as_int(node.get("modelIdx")) is not None and index < len(own)):
            return own[index] if index < len(own) else own[0], False
        if as_str(node.get("modelName")):
            return node["modelName"], False
        requested = [m for m in as_list(as_dict(parent_raw).get("models")) if isinstance(m, str) and m]
        if requested:
            return requested[index] if index < len(requested) else requested[0], True
        if len(set(self.conv_models)) == 1:
            return self.conv_models[0], True
        return None, False

    def _attachments(self, node: dict[str, Any], metadata: dict[str, Any]) -> list[Attachment]:
        files = node.get("files")
        if files is not None and not isinstance(files, list):
            self.unknown.append(f"files:{type(files).__name__}")
        out: list[Attachment] = []
        uploaded: dict[str, float] = {}
        for entry in as_list(files):
            if not isinstance(entry, dict):
                self.unknown.append(f"file:{type(entry).__name__}")
                continue
            inner = as_dict(entry.get("file"))
            inner_meta = as_dict(inner.get("meta"))
            mime = as_str(entry.get("file_type")) or as_str(inner_meta.get("content_type"))
            kind_hint = entry.get("type") if isinstance(entry.get("type"), str) else ""
            is_image = kind_hint == "image" or entry.get("file_class") == "image" or (mime or "").startswith("image/")
            url = as_str(entry.get("url"))
            file_id = as_id(entry.get("id")) or as_id(inner.get("id"))
            # The signed ?key= part expires and grants access: the pointer keeps only the stable path.
            pointer = url.split("?", 1)[0] if url else (f"qwen-file:{file_id}" if file_id else None)
            size = as_int(entry.get("size"))
            if size is None:
                size = as_int(inner_meta.get("size"))
            created = to_epoch(inner.get("created_at"))
            if created is not None and file_id:
                uploaded[file_id] = created
            out.append(Attachment(
                kind="image" if is_image else "file",
                name=as_str(entry.get("name")) or as_str(inner.get("filename")) or as_str(inner_meta.get("name")),
                pointer=pointer,
                mime_type=mime,
                size_bytes=size,
                raw=entry,
            ))
        if out:
            # Qwen exports file metadata only, never the document text.
            metadata["context_incomplete"] = True
        if uploaded:
            metadata["file_uploaded_at"] = uploaded
        return out

    def _status(self, node: dict[str, Any], statuses: Sequence[str]) -> str | None:
        if node.get("error") not in (None, "", {}):
            return "error"
        if as_bool(node.get("is_stop")):
            return "stopped"
        if "done" in node and as_bool(node.get("done")) is False:
            return "incomplete"
        if statuses:
            return "incomplete" if any(s == "typing" for s in statuses) else statuses[-1]
        return None

    def _feedback(self, message_id: str, node: dict[str, Any]) -> None:
        feedback_id = as_id(node.get("feedbackId"))
        annotation = node.get("annotation")
        if feedback_id is None and annotation in (None, {}, ""):
            return
        if annotation not in (None, {}) and not isinstance(annotation, dict):
            self.unknown.append(f"annotation:{type(annotation).__name__}")
        ann = as_dict(annotation)
        text = as_str(ann.get("comment")) or as_str(ann.get("reason"))
        tags = [t for t in as_list(ann.get("tags")) if isinstance(t, str)]
        metadata = {k: ann[k] for k in ("reason", "details", "model") if ann.get(k) is not None}
        self.feedback.append(Feedback(
            feedback_id=feedback_id or f"annotation:{self.conversation_id}:{message_id}",
            rating=normalize_rating(ann.get("rating")),
            conversation_id=self.conversation_id,
            message_id=message_id,
            text=text,
            tags=tags,
            created_at=to_epoch(ann.get("timestamp")),
            metadata=metadata,
            raw={"feedbackId": node.get("feedbackId"), "annotation": annotation},
        ))

    # -- preference signal -------------------------------------------------------------
    def _comparisons(self, conversation: Conversation) -> list[Comparison]:
        """Side-by-side comparisons (Qwen's multi-model chats), then the toolkit's regeneration comparisons."""
        tree = ConversationTree(conversation)
        column = _column_of(tree)
        out = [self._side_by_side(prompt.message_id, columns, tree)
               for prompt, columns in _side_by_side_prompts(tree, column)]
        out += regeneration_comparisons(
            conversation, group_key=column, tree=tree,
            metadata=lambda fork: {"models": {a: tree.by_id[a].model for a in fork.answers}})
        return out

    def _side_by_side(self, prompt_id: str, columns: dict[str, list[str]], tree: ConversationTree) -> Comparison:
        shown = set(self._current_response_ids())
        ratings = {f.message_id: f.rating for f in self.feedback}
        candidates = [_shown_answer(tree, prompt_id, group, shown) for group in columns.values()]
        liked = [c for c in candidates if ratings.get(c) == "thumbs_up"]
        continued = [c for c in candidates if tree.children.get(c)]
        chosen: list[str] = []
        inferred = False
        how = "none"
        if len(liked) == 1:
            chosen, how = liked, "annotation"
        elif len(continued) == 1:
            chosen, inferred, how = continued, True, "continued"
        elif len(continued) > 1 and any(c in tree.active for c in continued):
            chosen, inferred, how = [c for c in continued if c in tree.active], True, "continued_active"
        return Comparison(
            comparison_id=f"sbs:{self.conversation_id}:{prompt_id}",
            source="side_by_side",
            conversation_id=self.conversation_id,
            prompt_message_id=prompt_id,
            candidate_message_ids=candidates,
            chosen_message_ids=chosen,
            rejected_message_ids=[c for c in candidates if c not in chosen] if chosen else [],
            chosen_is_inferred=inferred,
            created_at=latest_time(tree.by_id[c].created_at for c in candidates),
            metadata={"columns": list(columns), "models": {c: tree.by_id[c].model for c in candidates},
                      "chosen_by": how},
        )


def _column_key(message: Message, multi_model: bool) -> str:
    """Which side-by-side column an answer belongs to: its ``modelIdx``, else (multi-model prompt) its model."""
    index = message.metadata.get("model_idx")
    if index is not None:
        return f"m{index}"
    if multi_model and message.model:
        return f"model={message.model}"
    return "m0"


def _column_of(tree: ConversationTree):
    """The column of a message (see :func:`_column_key`); its parent says whether the prompt was multi-model.

    Used as the regeneration ``group_key``: answers in different columns of a multi-model chat are not
    alternatives of each other.
    """
    def column(message: Message) -> str:
        prompt = tree.by_id.get(message.parent_id) if message.parent_id is not None else None
        multi_model = prompt is not None and len(prompt.metadata.get("requested_models", [])) > 1
        return _column_key(message, multi_model)
    return column


def _side_by_side_prompts(tree: ConversationTree, column: Any) -> list[tuple[Message, dict[str, list[str]]]]:
    """Each user prompt whose assistant answers fall in more than one column, with the answers by column."""
    out = []
    for prompt in tree.conversation.messages:
        if prompt.role != "user":
            continue
        columns: dict[str, list[str]] = {}
        for child in tree.children.get(prompt.message_id, []):
            if tree.by_id[child].role == "assistant":
                columns.setdefault(column(tree.by_id[child]), []).append(child)
        if len(columns) > 1:
            out.append((prompt, columns))
    return out


def _shown_answer(tree: ConversationTree, prompt_id: str, group: list[str], shown: set[str]) -> str:
    """The answer a column showed: on the active branch, else listed in ``currentResponseIds``, else the latest.

    Active-else-latest is the toolkit's :func:`final_answer` rule, walked over this column's answers only.
    """
    if not any(a in tree.active for a in group):
        for answer in group:
            if answer in shown:
                return answer
    members = set(group)
    found = final_answer(tree, prompt_id, is_answer=lambda m: m.message_id in members,
                         in_turn=lambda m: m.message_id in members)
    return found if found is not None else group[-1]


def _tree_order(keys: list[str], raw_by_id: dict[str, Any], parent_of: dict[str, str | None]) -> list[str]:
    """Message ids in tree order: roots by time, then depth first following each node's ``childrenIds``.

    The history map is not in time order; this order is stable for the same
    export and puts parents before children. Nodes unreachable from a root
    (parent cycles) follow in map order.
    """
    position = {k: i for i, k in enumerate(keys)}

    def when(key: str) -> tuple[float, int]:
        stamp = to_epoch(as_dict(raw_by_id.get(key)).get("timestamp"))
        return (stamp if stamp is not None else float("inf"), position[key])

    kids: dict[str, list[str]] = {}
    roots: list[str] = []
    for key in keys:
        parent = parent_of[key]
        if parent is None or parent not in raw_by_id or parent == key:
            roots.append(key)
        else:
            kids.setdefault(parent, []).append(key)
    for parent, group in kids.items():
        listed = [c for c in (as_id(x) for x in as_list(as_dict(raw_by_id.get(parent)).get("childrenIds"))) if c]
        rank = {c: i for i, c in enumerate(dict.fromkeys(listed))}
        group.sort(key=lambda k: (rank.get(k, len(rank)), when(k)))
    order: list[str] = []
    seen: set[str] = set()
    stack = sorted(roots, key=when, reverse=True)
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        order.append(key)
        stack.extend(reversed(kids.get(key, [])))
    order.extend(k for k in keys if k not in seen)
    return order
