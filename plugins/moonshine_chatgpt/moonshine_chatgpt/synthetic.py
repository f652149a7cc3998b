"""Synthetic ChatGPT exports, written from docs/formats/chatgpt.md §2 (never from a real export).

Used by the plugin's tests and to build the shipped samples. Each builder
returns plain JSON data for one era of the format:

- :func:`conversation_2023` — no ``conversation_id``, placeholder system node
  whose ``message.id`` differs from its node id, custom instructions as a
  hidden system message, regenerations as assistant siblings, browser tool
  with ``【n†source】`` markers, code interpreter run that fails;
- :func:`conversation_2025` — ``conversation_id``, reasoning (``thoughts``,
  ``reasoning_recap``), ``user_editable_context``, hidden rebase system nodes
  between a prompt and its regenerated answers, ``paragen`` choice, web search
  with private-use citation markers, memory (``bio``), canvas, image
  generation, file search, agent mode, multimodal user input with voice
  transcription, an unknown content type;
- :func:`conversation_2026_slim` — sorted keys, nodes without ``children``,
  messages without ``status``/``weight``/``recipient`` (and user messages
  without ``metadata``);
- side files: :func:`feedback_records`, :func:`comparison_records`,
  :func:`shared_records`, :func:`user_record`.

:func:`write_export` lays them out as a folder or zip in any layout.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

T0 = 1_700_000_000.0


class TreeBuilder:
    """Builds a ``mapping`` tree node by node (parents are given explicitly)."""

    def __init__(self, *, slim: bool = False, root_id: str = "client-created-root"):
        self.slim = slim
        self.mapping: dict[str, dict[str, Any]] = {}
        self.root_id = root_id
        self.mapping[root_id] = self._node(root_id, None, None)
        self.clock = T0

    def _node(self, node_id: str, parent: str | None, message: Any) -> dict[str, Any]:
        if self.slim:
            return {"id": node_id, "message": message, "parent": parent}
        return {"id": node_id, "message": message, "parent": parent, "children": []}

    def add(self, node_id: str, parent: str | None, role: str, content: dict[str, Any], *,
            name: str | None = None, recipient: str | None = "all", metadata: dict[str, Any] | None = None,
            channel: str | None = None, weight: float = 1.0, end_turn: bool | None = None,
            create_time: float | None | str = "auto", message_id: str | None = None) -> str:
        """Add a node with a message; returns ``node_id``."""
        if create_time == "auto":
            self.clock += 7.0
            create_time = self.clock
        if self.slim:
            message: dict[str, Any] = {"author": {"name": name, "role": role}, "content": content,
                                       "create_time": create_time, "id": message_id or node_id}
            if metadata is not None:
                message["metadata"] = metadata
        else:
            message = {
                "id": message_id or node_id,
                "author": {"role": role, "name": name, "metadata": {}},
                "create_time": create_time, "update_time": None, "content": content,
                "status": "finished_successfully", "end_turn": end_turn, "weight": weight,
                "metadata": metadata if metadata is not None else {}, "recipient": recipient, "channel": channel,
            }
        self.mapping[node_id] = self._node(node_id, parent, message)
        if parent is not None and parent in self.mapping and not self.slim:
            self.mapping[parent]["children"].append(node_id)
        return node_id


def text(*parts: Any) -> dict[str, Any]:
    return {"content_type": "text", "parts": list(parts)}


def conversation_2023(conv_id: str = "5f0c2a1e-1111-4a6b-9c1d-2023aaaa0001") -> dict[str, Any]:
    """A 2023-05-style conversation (see the module docstring)."""
    t = TreeBuilder(root_id="aaa1c0de-0000-4000-8000-000000000001")
    t.add("node-sys", t.root_id, "system", text(""), message_id="msg-sys-different", weight=1.0, end_turn=True)
    t.add("node-ci", "node-sys", "system", text(""), weight=1.0, metadata={
        "is_user_system_message": True,
        "user_context_message_data": {"about_user_message": "I am a synthetic tester.",
                                      "about_model_message": "Answer briefly."}})
    t.add("u1", "node-ci", "user", text("What is the boiling point of water?"))
    # Two regenerated answers: the first one was abandoned.
    t.add("a1", "u1", "assistant", text("It boils at 90 C."), metadata={"model_slug": "text-davinci-002-render-sha"},
          end_turn=True)
    t.add("a2", "u1", "assistant", text("At sea level water boils at 100 C 【1†source】."),
          metadata={"model_slug": "text-davinci-002-render-sha"}, end_turn=True)
    t.add("u2", "a2", "user", text("Search the web for the record low pressure boiling point."))
    t.add("a3", "u2", "assistant", {"content_type": "code", "language": "unknown",
                                    "text": "search(\"boiling point low pressure\")"},
          recipient="browser", metadata={"model_slug": "gpt-4-browsing"})
    t.add("t1", "a3", "tool", {"content_type": "tether_browsing_display", "result": "【0†Boiling†example.org】 ...",
                               "summary": None}, name="browser", weight=0.0)
    t.add("t2", "t1", "tool", {"content_type": "tether_quote", "url": "https://example.org", "domain": "example.org",
                               "title": "Boiling", "text": "Water boils at lower temperatures at altitude."},
          name="browser", weight=0.0)
    t.add("a4", "t2", "assistant", text("At lower pressure it boils below 100 C 【0†source】."),
          metadata={"model_slug": "gpt-4-browsing"}, end_turn=True)
    t.add("u3", "a4", "user", text("Plot it."))
    t.add("a5", "u3", "assistant", {"content_type": "code", "language": "python", "text": "plot(x)"},
          recipient="python", metadata={"model_slug": "gpt-4-code-interpreter"})
    t.add("t3", "a5", "tool", {"content_type": "execution_output", "text": "NameError: name 'plot' is not defined"},
          name="python", metadata={"aggregate_result": {
              "status": "failed_with_in_kernel_exception", "code": "plot(x)",
              "in_kernel_exception": {"name": "NameError"}, "messages": [], "jupyter_messages": []}})
    t.add("a6", "t3", "assistant", text("Sorry, the plot failed."), metadata={}, end_turn=True)
    return {"title": "Boiling point", "create_time": T0, "update_time": T0 + 500, "mapping": t.mapping,
            "moderation_results": [], "current_node": "a6", "plugin_ids": None, "id": conv_id}


def conversation_2025(conv_id: str = "67a00000-2025-8000-9000-00000000beef") -> dict[str, Any]:
    """A 2025-style conversation with reasoning and tools (see the module docstring)."""
    t = TreeBuilder()
    t.add("sys0", t.root_id, "system", text(""), weight=0.0, create_time=None,
          metadata={"is_visually_hidden_from_conversation": True})
    t.add("uec", "sys0", "user", {"content_type": "user_editable_context",
                                  "user_profile": "Profile: tester.", "user_instructions": "Be terse."},
          create_time=None, metadata={"is_visually_hidden_from_conversation": True,
                                      "user_context_message_data": {"about_user_message": "tester"},
                                      "is_user_system_message": True})
    t.add("u1", "uec", "user", {"content_type": "multimodal_text", "parts": [
        {"content_type": "image_asset_pointer", "asset_pointer": "sediment://file_0001", "size_bytes": 1234,
         "width": 10, "height": 10, "metadata": None},
        {"content_type": "audio_transcription", "text": "What is in this picture?", "direction": "in"},
        {"content_type": "audio_asset_pointer", "asset_pointer": "sediment://file_0002", "format": "wav",
         "size_bytes": 99},
        {"content_type": "hologram_pointer", "asset_pointer": "sediment://file_0003"},
    ]}, metadata={"attachments": [{"id": "file_0001", "name": "cat.png", "mime_type": "image/png", "size": 1234}]})
    # Regeneration through hidden rebase system nodes: two alternatives under u1.
    t.add("rb1", "u1", "system", text(""), weight=0.0, metadata={"rebase_system_message": True})
    t.add("th1", "rb1", "assistant", {"content_type": "thoughts", "thoughts": [
        {"summary": "Looking at the image", "content": "It shows a cat.", "chunks": [], "finished": True}],
        "source_analysis_msg_id": "x"}, channel="analysis", metadata={"model_slug": "o3"})
    t.add("rr1", "th1", "assistant", {"content_type": "reasoning_recap", "content": "Thought for 3s"},
          metadata={"model_slug": "o3"})
    t.add("ans1", "rr1", "assistant", text("A cat \ue200cite\ue202turn0search0\ue201."), channel="final",
          metadata={"model_slug": "o3"}, end_turn=True)
    t.add("rb2", "u1", "system", text(""), weight=0.0, metadata={"rebase_system_message": True})
    t.add("ans2", "rb2", "assistant", text("It is a small \ue200entity\ue202[\"animal\",\"cat\",\"x\"]\ue201."),
          channel="final", metadata={}, end_turn=True)
    # Paragen: the user picked the second variant, but the conversation continued from the first one.
    t.add("u2", "ans1", "user", text("Remember that I like cats."), metadata={
        "paragen_variants_info": {"type": "num_variants_in_stream", "num_variants_in_stream": 2,
                                  "display_treatment": "skippable"},
        "paragen_variant_choice": "pv2"})
    t.add("pv1", "u2", "assistant", text("{\"content\": \"likes cats\"}"), recipient="bio",
          metadata={"model_slug": "gpt-4o"})
    t.add("bio1", "pv1", "tool", text("Model set context updated."), name="bio", weight=0.0)
    t.add("pv1b", "bio1", "assistant", text("Noted: you like cats."), metadata={"model_slug": "gpt-4o"},
          end_turn=True)
    t.add("pv2", "u2", "assistant", text("Got it, cats it is."), metadata={"model_slug": "gpt-4o"}, end_turn=True)
    t.add("u3", "pv1b", "user", text("Search the news, draw a cat, and write a doc."))
    t.add("c1", "u3", "assistant", text("Searching first."), channel="commentary", metadata={"model_slug": "gpt-5"})
    t.add("c2", "c1", "assistant", {"content_type": "code", "language": "json",
                                    "text": "{\"search_query\": [{\"q\": \"cats\"}]}"},
          recipient="web.run", channel="commentary", metadata={"model_slug": "gpt-5"})
    t.add("w1", "c2", "tool", {"content_type": "sonic_webpage", "url": "https://example.org/cats",
                               "title": "Cats", "text": "Cats are popular."}, name="web.run", weight=0.0)
    t.add("fs0", "w1", "assistant", text("{\"queries\": [\"cats\"]}"), recipient="file_search.msearch",
          metadata={"model_slug": "gpt-5"})
    t.add("fs1", "fs0", "tool", {"content_type": "tether_quote", "url": "file-1", "title": "notes.txt",
                                 "text": "cat notes"}, name="file_search", weight=0.0)
    t.add("img0", "fs1", "assistant", text("{\"prompt\": \"a cat\"}"), recipient="t2uay3k.sj1i4kz",
          metadata={"model_slug": "gpt-5"})
    t.add("img1", "img0", "tool", {"content_type": "multimodal_text", "parts": [
        {"content_type": "image_asset_pointer", "asset_pointer": "sediment://file_0009", "size_bytes": 5,
         "metadata": {"dalle": None, "generation": {"gen_id": "g1"}}}]}, name="t2uay3k.sj1i4kz", weight=0.0)
    t.add("cv0", "img1", "assistant", text("{\"name\": \"doc\", \"content\": \"# Cats\"}"),
          recipient="canmore.create_textdoc", metadata={"model_slug": "gpt-5"})
    t.add("cv1", "cv0", "tool", text("Successfully created text document 'doc'"), name="canmore.create_textdoc",
          weight=0.0)
    t.add("ag0", "cv1", "assistant", {"content_type": "code", "language": "json", "text": "{\"action\": \"click\"}"},
          recipient="computer.do", metadata={"model_slug": "agent-mode"})
    t.add("ag1", "ag0", "tool", {"content_type": "computer_output", "computer_id": "c1", "state": {"url": "x"},
                                 "screenshot": {"content_type": "image_asset_pointer",
                                                "asset_pointer": "sediment://file_0010"},
                                 "is_ephemeral": True}, name="computer.do", weight=0.0)
    t.add("odd", "ag1", "assistant", {"content_type": "quantum_widget", "text": "???"}, metadata={})
    t.add("fin", "odd", "assistant", text("Done: news found, cat drawn, doc written."), channel="final",
          metadata={}, end_turn=True)
    return {"title": "Cats", "create_time": T0, "update_time": T0 + 900, "mapping": t.mapping,
            "moderation_results": [], "current_node": "fin", "plugin_ids": None, "conversation_id": conv_id,
            "conversation_template_id": None, "gizmo_id": None, "gizmo_type": None, "is_archived": False,
            "is_starred": None, "safe_urls": [], "blocked_urls": [], "default_model_slug": "gpt-5",
            "conversation_origin": None, "voice": None, "async_status": None, "disabled_tool_ids": [],
            "is_do_not_remember": False, "memory_scope": "global_enabled", "id": conv_id}


def conversation_2026_slim(conv_id: str = "68c00000-2026-8000-9000-000000000001", *, update_time: float = T0 + 100,
                           title: str = "Slim chat", extra_turn: bool = False) -> dict[str, Any]:
    """A mid-2026 slim conversation with alphabetically sorted keys (see the module docstring)."""
    t = TreeBuilder(slim=True, root_id="client-created-root")
    t.add("s-u1", t.root_id, "user", text("Hello from 2026."), metadata=None)
    t.add("s-a1", "s-u1", "assistant", text("Hi! \ue203Highlighted\ue204 answer."), metadata={"model_slug": "gpt-5-2"})
    last = "s-a1"
    if extra_turn:
        t.add("s-u2", "s-a1", "user", text("And again?"), metadata=None)
        last = t.add("s-a2", "s-u2", "assistant", text("Again."), metadata={})
    conversation = {
        "conversation_id": conv_id, "conversation_template_id": None, "create_time": T0, "current_node": last,
        "default_model_slug": "gpt-5-2", "id": conv_id, "is_archived": False, "is_do_not_remember": False,
        "is_read_only": None, "is_starred": None, "is_study_mode": False, "mapping": t.mapping,
        "memory_scope": "global_enabled", "pinned_time": None, "plugin_ids": None, "title": title,
        "update_time": update_time, "voice": None,
    }
    return dict(sorted(conversation.items()))


def feedback_records() -> list[dict[str, Any]]:
    """All three feedback shapes, both rating spellings, one un-hyphenated conversation id, one repeat."""
    return [
        {"message_id": "a2", "conversation_id": "5f0c2a1e11114a6b9c1d2023aaaa0001", "user_id": "user-synthetic",
         "rating": "thumbsUp", "content": "{}"},
        {"id": "a2", "conversation_id": "5f0c2a1e-1111-4a6b-9c1d-2023aaaa0001", "user_id": "user-synthetic",
         "rating": "thumbsUp", "create_time": "2023-05-01T10:00:00+00:00", "workspace_id": None,
         "content": "{\"text\": \"Right answer\"}", "storage_protocol": "zstd::1.5.5.1"},
        {"id": "a1", "conversation_id": "5f0c2a1e-1111-4a6b-9c1d-2023aaaa0001", "user_id": "user-synthetic",
         "rating": "thumbsDown", "create_time": "2023-05-01T10:01:00Z", "workspace_id": None,
         "content": "{\"tags\": [\"not-helpful\"], \"tag_choices\": [\"Not factually correct\", \"Other\"]}",
         "storage_protocol": "utf-8"},
        {"id": "fin", "conversation_id": "67a00000-2025-8000-9000-00000000beef", "user_id": "user-synthetic",
         "rating": "thumbs_up", "create_time": "2025-02-01T10:00:00Z", "workspace_id": None, "content": "{}",
         "evaluation_name": None, "evaluation_treatment": None, "update_time": "2025-02-01T10:00:01Z"},
        {"id": "gone-msg", "conversation_id": "00000000-dead-4000-8000-000000000000", "user_id": "user-synthetic",
         "rating": "thumbs_down", "create_time": "2025-02-02T10:00:00Z", "content": "not json"},
    ]


def _inline_message(mid: str, role: str, body: str, **extra: Any) -> dict[str, Any]:
    message = {"id": mid, "author": {"role": role, "name": extra.pop("name", None)}, "create_time": None,
               "update_time": None, "content": extra.pop("content", text(body)), "status": "finished_successfully",
               "end_turn": True, "weight": 1.0, "recipient": extra.pop("recipient", "all")}
    message.update(extra)
    return message


def comparison_records() -> list[dict[str, Any]]:
    """Shapes A (inline), B (wrapped) and C (flat ids; resolved against :func:`conversation_2025`)."""
    inline = {
        "input": {"prompt_convo": {"id": "prompt-convo-id", "messages": [
            _inline_message("p-sys", "system", "You are ChatGPT. Knowledge cutoff: 2021-09"),
            _inline_message("u1", "user", "What is the boiling point of water?", recipient="all")]},
            "conversation_id": "5f0c2a1e-1111-4a6b-9c1d-2023aaaa0001"},
        "output": {"feedback_version": "inline_regen_feedback:a:1.0",
                   "feedback_step_1": {"rating": "none", "critique_text": "", "tags": []},
                   "feedback_step_2": {"original_turn": [_inline_message("a1", "assistant", "It boils at 90 C.")],
                                       "new_turn": [_inline_message("a2", "assistant", "100 C at sea level.")],
                                       "completion_comparison_rating": "new",
                                       "new_completion_placement": "not-applicable"}},
    }
    shape_a = {"id": "cmp-a", "user_id": "user-synthetic", **inline,
               "metadata": {"is_paid_user": False, "cf_headers": {"cf-ipcountry": "ZZ"}},
               "create_time": "2023-05-01T10:05:00+00:00"}
    shape_b = {"id": "cmp-b", "conversation_id": "prompt-convo-id", "user_id": "user-synthetic",
               "create_time": "2024-08-01T10:00:00Z", "workspace_id": None, "storage_protocol": "zstd::1.5.5",
               "content": {**json.loads(json.dumps(inline)), "metadata": {"cf_headers": {"cf-ipcity": "Nowhere"}}}}
    shape_b["content"]["output"]["feedback_step_2"]["completion_comparison_rating"] = "original"
    shape_b["content"]["output"]["feedback_step_2"]["new_turn"] = [
        _inline_message("nt-code", "assistant", "", content={"content_type": "code", "language": "python",
                                                               "text": "print(1)"}, recipient="python"),
        _inline_message("nt-out", "tool", "", name="python",
                        content={"content_type": "execution_output", "text": "1"}),
        _inline_message("nt-final", "assistant", "It printed 1.")]
    shape_c = {"message_id": "u1", "conversation_id": "67a00000-2025-8000-9000-00000000beef",
               "original_message_id": "rb1", "new_message_id": "rb2", "rating": "new", "placement": "right",
               "ui_variant": 2, "evaluation_name": "synthetic_eval", "evaluation_treatment": "ab",
               "evaluation_type": None, "message_metadatas": {}, "received_timestamp": 1738959653,
               "source_timestamp": 1738959649329, "user_id": "user-synthetic", "product_surface": 1,
               "create_time": "2025-02-07T20:20:53Z", "update_time": "2025-02-07T20:20:54Z"}
    shape_c_skip = {**shape_c, "original_message_id": "zz-missing-1", "new_message_id": "zz-missing-2",
                    "rating": "skip"}
    return [shape_a, shape_b, shape_c, shape_c_skip]


def shared_records() -> list[dict[str, Any]]:
    return [{"id": "share-1", "conversation_id": "67a00000-2025-8000-9000-00000000beef", "title": "Cats",
             "is_anonymous": True}]


def user_record() -> dict[str, Any]:
    return {"id": "user-synthetic", "email": "tester@example.invalid", "chatgpt_plus_user": False,
            "birth_year": 1999}


def _dump(path: Path, data: Any, *, indent: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=indent), encoding="utf-8")


def export_files(layout: str = "single", *, sides: bool = True) -> dict[str, Any]:
    """Member name -> JSON data for an export in ``layout`` (``single``, ``sharded`` or ``wrapped``)."""
    files: dict[str, Any] = {}
    if layout == "single":
        files["conversations.json"] = [conversation_2025(), conversation_2023()]
    elif layout == "wrapped":
        files["conversations.json"] = {"conversations": [conversation_2025(), conversation_2023()]}
    elif layout == "sharded":
        files["conversations-000.json"] = [conversation_2026_slim(), conversation_2026_slim(
            "68c00000-2026-8000-9000-000000000002", title="Old copy")]
        files["conversations-001.json"] = [conversation_2026_slim(
            "68c00000-2026-8000-9000-000000000002", update_time=T0 + 999, title="New copy", extra_turn=True)]
        files["export_manifest.json"] = {"export_files": [{"path": "conversations-000.json", "size_bytes": 1}]}
    else:
        raise ValueError(f"unknown layout {layout!r}")
    if sides:
        files["message_feedback.json"] = feedback_records()
        files["model_comparisons.json"] = comparison_records()
        files["shared_conversations.json"] = shared_records()
        files["user.json"] = user_record()
    return files


def write_export(target: str | Path, files: dict[str, Any], *, as_zip: bool = False) -> Path:
    """Write ``files`` (name -> data) as a folder, or as a zip when ``as_zip``; returns the path."""
    target = Path(target)
    if as_zip:
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                archive.writestr(name, json.dumps(data, ensure_ascii=False))
        return target
    for name, data in files.items():
        _dump(target / name, data)
    return target


def write_many_conversations(path: str | Path, count: int) -> Path:
    """A single-line ``conversations.json`` with ``count`` small conversations (for streaming tests)."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as handle:
        handle.write("[")
        for i in range(count):
            if i:
                handle.write(",")
            conversation = conversation_2026_slim(f"68c00000-0000-8000-9000-{i:012d}", extra_turn=bool(i % 2))
            handle.write(json.dumps(conversation, ensure_ascii=False))
        handle.write("]")
    return path
