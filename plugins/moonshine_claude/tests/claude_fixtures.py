"""Synthetic Claude exports for the tests, one builder per era of docs/formats/claude.md (§2, §11).

Everything here is invented; nothing is copied from a real export. The same
builders wrote the sample exports shipped in ``moonshine_claude/samples``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

ROOT = "00000000-0000-4000-8000-000000000000"
ACCOUNT = "acc00000-0000-4000-8000-000000000001"
PLACEHOLDER = "\n```\nThis block is not supported on your current device yet.\n```\n"


def _block_times(t: str) -> dict[str, Any]:
    return {"start_timestamp": t, "stop_timestamp": t, "flags": None}


def conversation_2024() -> dict[str, Any]:
    """Mid/late-2024: no content blocks, scrambled order, a turn's pair sharing one timestamp,
    inline antThinking/antArtifact, an attachment mirrored in files."""
    t1, t2 = "2024-10-17T03:28:33.480257Z", "2024-10-17T03:30:01.000001Z"
    msg = lambda uuid, sender, text, t, **extra: {  # noqa: E731
        "uuid": uuid, "text": text, "sender": sender, "created_at": t, "updated_at": t,
        "attachments": [], "files": [], **extra}
    return {
        "uuid": "c2024000-0000-4000-8000-000000000001", "name": "Tiny calculator",
        "created_at": t1, "updated_at": t2, "account": {"uuid": ACCOUNT},
        "chat_messages": [
            msg("m2024-h1", "human", "Build me a tiny calculator page", t1),
            msg("m2024-h2", "human", "Make the buttons blue, here is my stylesheet", t2,
                attachments=[{"file_name": "style.css", "file_size": 23, "file_type": "text/css",
                              "extracted_content": "button { color: red; }"}],
                files=[{"file_name": "style.css"}]),
            msg("m2024-a1", "assistant",
                " <antThinking>A self-contained page is a good artifact.</antThinking>Here it is.\n\n"
                "<antArtifact identifier=\"calc\" type=\"text/html\" title=\"Calculator\">\n<html>1+1</html>\n"
                "</antArtifact>\n\nEnjoy.", t1),
            msg("m2024-a2", "assistant",
                "<antThinking>Update the existing artifact.</antThinking>Blue buttons:\n\n"
                "<antArtifact identifier=\"calc\" type=\"text/html\" title=\"Calculator\">\n"
                "<html><button style=\"color:blue\">=</button></html>\n</antArtifact>", t2),
        ],
    }


def conversation_2025() -> dict[str, Any]:
    """2025: content blocks, thinking glued into the flat text, tool blocks without ids, a placeholder."""
    th = "The user wants a haiku; keep it short."
    answer = "Here is your haiku."
    return {
        "uuid": "c2025000-0000-4000-8000-000000000002", "name": "Haiku", "summary": "",
        "created_at": "2025-07-06T03:10:13.076141Z", "updated_at": "2025-07-06T03:11:27.139200Z",
        "account": {"uuid": ACCOUNT},
        "chat_messages": [
            {"uuid": "m2025-a1", "sender": "assistant", "created_at": "2025-07-06T03:10:40.000000Z",
             "updated_at": "2025-07-06T03:10:40.000000Z", "attachments": [], "files": [],
             "text": th + answer + PLACEHOLDER + "Saved it as an artifact.",
             "content": [
                 {**_block_times("2025-07-06T03:10:14Z"), "type": "thinking", "thinking": th,
                  "summaries": [{"summary": "Planning a haiku"}], "cut_off": False,
                  "alternative_display_type": None},
                 {**_block_times("2025-07-06T03:10:20Z"), "type": "text", "text": answer, "citations": []},
                 {**_block_times("2025-07-06T03:10:21Z"), "type": "tool_use", "name": "artifacts",
                  "input": {"id": "haiku", "type": "text/markdown", "title": "Haiku", "command": "create",
                            "content": "old pond / a frog jumps / splash"}},
                 {"start_timestamp": None, "stop_timestamp": None, "flags": None, "type": "tool_result",
                  "name": "artifacts", "content": [{"type": "text", "text": "OK"}], "is_error": False},
                 {**_block_times("2025-07-06T03:10:22Z"), "type": "text", "text": "Saved it as an artifact.",
                  "citations": [{"uuid": "cit1", "start_index": 0, "end_index": 5,
                                 "details": {"type": "web_search_citation", "url": "https://example.org/haiku"}}]},
             ]},
            {"uuid": "m2025-h1", "sender": "human", "created_at": "2025-07-06T03:10:13.605158Z",
             "updated_at": "2025-07-06T03:10:13.605158Z", "text": "Write a haiku about a frog",
             "content": [{**_block_times("2025-07-06T03:10:13Z"), "type": "text",
                          "text": "Write a haiku about a frog", "citations": []}],
             "attachments": [], "files": []},
            {"uuid": "m2025-h2", "sender": "human", "created_at": "2025-07-06T03:11:00.000000Z",
             "updated_at": "2025-07-06T03:11:00.000000Z", "text": "Thanks! Another one?", "content": [],
             "attachments": [], "files": []},
            {"uuid": "m2025-a2", "sender": "assistant", "created_at": "2025-07-06T03:11:27.000000Z",
             "updated_at": "2025-07-06T03:11:27.000000Z", "text": "Autumn moon rises.",
             "content": [{**_block_times("2025-07-06T03:11:26Z"), "type": "text", "text": "",
                          "citations": []}], "attachments": [], "files": []},
        ],
    }


def conversation_2026() -> dict[str, Any]:
    """Mid-2026: a tree with the root sentinel, a retried answer, tool ids, an error then a fix,
    hidden thinking, token_budget, an injected prompt block and an unknown block type."""
    def m(uuid: str, parent: str, sender: str, t: str, content: list, **extra: Any) -> dict[str, Any]:
        return {"uuid": uuid, "parent_message_uuid": parent, "sender": sender, "created_at": t,
                "updated_at": t, "text": "", "content": content, "attachments": [], "files": [], **extra}
    text = lambda s, t: {**_block_times(t), "type": "text", "text": s, "citations": []}  # noqa: E731
    return {
        "uuid": "c2026000-0000-7000-8000-000000000003", "name": "Disk usage", "summary": "**Overview**",
        "created_at": "2026-06-01T10:00:00.000000Z", "updated_at": "2026-06-01T10:05:00.000000Z",
        "account": {"uuid": ACCOUNT},
        "chat_messages": [
            m("019a0000-0000-7000-8000-0000000000h1", ROOT, "human", "2026-06-01T10:00:00.000000Z",
              [{**_block_times("2026-06-01T10:00:00Z"), "type": "injected_prompt_block",
                "injection_source": "date_note", "prompt": "Today is Monday."},
               text("How big is my home folder?", "2026-06-01T10:00:00Z")],
              files=[{"file_uuid": "f0000000-0000-4000-8000-000000000009", "file_name": "screenshot.png"}]),
            m("019a0000-0000-7000-8000-0000000000a1", "019a0000-0000-7000-8000-0000000000h1", "assistant",
              "2026-06-01T10:00:30.000000Z", [text("I cannot see your disk.", "2026-06-01T10:00:29Z")]),
            m("019a0000-0000-7000-8000-0000000000a2", "019a0000-0000-7000-8000-0000000000h1", "assistant",
              "2026-06-01T10:01:30.000000Z", [
                  {**_block_times("2026-06-01T10:01:00Z"), "type": "token_budget"},
                  {**_block_times("2026-06-01T10:01:01Z"), "type": "thinking", "thinking": "",
                   "summaries": [{"summary": "Deciding to run du"}], "thinking_hidden": True,
                   "signature": None},
                  {**_block_times("2026-06-01T10:01:02Z"), "type": "tool_use", "id": "toolu_01",
                   "name": "bash_tool", "input": {"command": "du -sh ~", "description": "size"}},
                  {**_block_times("2026-06-01T10:01:03Z"), "type": "tool_result", "tool_use_id": "toolu_01",
                   "name": "bash_tool", "is_error": True, "meta": {"error_type": "tool_error"},
                   "content": [{"type": "text", "text": "du: permission denied"}]},
                  {**_block_times("2026-06-01T10:01:04Z"), "type": "tool_use", "id": "toolu_02",
                   "name": "bash_tool", "input": {"command": "du -sh ~ 2>/dev/null", "description": "size"}},
                  {**_block_times("2026-06-01T10:01:05Z"), "type": "tool_result", "tool_use_id": "toolu_02",
                   "name": "bash_tool", "is_error": False,
                   "content": [{"type": "text", "text": "{\"returncode\":0,\"stdout\":\"4.0G\"}"}]},
                  {**_block_times("2026-06-01T10:01:06Z"), "type": "sparkle_widget", "payload": {"x": 1}},
                  text("Your home folder uses 4.0G.", "2026-06-01T10:01:07Z"),
              ]),
            m("019a0000-0000-7000-8000-0000000000h2", "019a0000-0000-7000-8000-0000000000a2", "human",
              "2026-06-01T10:04:00.000000Z", [text("Thanks", "2026-06-01T10:04:00Z")]),
            m("019a0000-0000-7000-8000-0000000000a3", "019a0000-0000-7000-8000-0000000000h2", "assistant",
              "2026-06-01T10:05:00.000000Z", [text("You're welcome.", "2026-06-01T10:05:00Z")]),
        ],
    }


def users() -> list[dict[str, Any]]:
    return [{"uuid": ACCOUNT, "full_name": "Test Person", "email_address": "person@example.invalid",
             "verified_phone_number": None}]


def project(uuid: str = "p0000000-0000-4000-8000-000000000001") -> dict[str, Any]:
    return {"uuid": uuid, "name": "Demo project", "description": "A made-up project", "is_private": True,
            "is_starter_project": False, "prompt_template": "Be brief.",
            "created_at": "2025-01-01T00:00:00+00:00", "updated_at": "2025-01-01T00:00:00+00:00",
            "creator": {"uuid": ACCOUNT, "full_name": "Test Person"},
            "docs": [{"uuid": "d0000000-0000-4000-8000-000000000001", "filename": "notes.md",
                      "content": "# Notes", "created_at": "2025-01-01T00:00:00+00:00"}]}


def memories_legacy() -> list[dict[str, Any]]:
    return [{"conversations_memory": "Likes haiku.", "project_memories": {}, "account_uuid": ACCOUNT}]


def memory_2026() -> dict[str, Any]:
    return {"conversations_memory": "Likes haiku.", "account_uuid": ACCOUNT,
            "memory_files": [{"path": "/profile.md", "content": "---\n---\n- likes haiku",
                              "updated_at": "2026-06-01T00:00:00+00:00"}]}


def design_chat() -> dict[str, Any]:
    return {"uuid": "dc000000-0000-4000-8000-000000000001", "title": "Chat",
            "project": {"uuid": "dp000000-0000-4000-8000-000000000001", "name": "Landing"},
            "created_at": "2026-06-02T00:00:00.123456789Z", "updated_at": "2026-06-02T00:00:00Z",
            "messages": [{"uuid": "dm1", "role": "user", "content": {"contentBlocks": [{"type": "text"}]}}]}


def manifest(files: list[tuple[str, str]]) -> dict[str, Any]:
    return {"created_at": "2026-09-01T00:00:00+00:00", "version": "1.0", "instructions": "Download each file.",
            "total_files": len(files),
            "data_files": [{"batch_index": 0, "category": category, "part": 0, "filename": name,
                            "export_url": f"https://secret.invalid/{name}?token=SECRET"}
                           for category, name in files]}


# -- Claude Code -------------------------------------------------------------------
SESSION = "5e551000-0000-4000-8000-000000000001"


def _env(uuid: str, parent: str | None, t: str, **extra: Any) -> dict[str, Any]:
    return {"parentUuid": parent, "isSidechain": False, "userType": "external", "cwd": "/home/dev/demo",
            "sessionId": SESSION, "version": "2.1.0", "gitBranch": "main", "timestamp": t, "uuid": uuid,
            **extra}


def _assistant(uuid: str, parent: str, t: str, api_id: str, block: dict, out: int) -> dict[str, Any]:
    return _env(uuid, parent, t, type="assistant", requestId="req_1", message={
        "model": "claude-opus-4-6", "id": api_id, "type": "message", "role": "assistant", "content": [block],
        "stop_reason": None, "usage": {"input_tokens": 3, "output_tokens": out}})


def _result(uuid: str, parent: str, t: str, call: str, text: str, error: bool = False) -> dict[str, Any]:
    return _env(uuid, parent, t, type="user", sourceToolAssistantUUID=parent,
                toolUseResult={"stdout": text, "stderr": "", "interrupted": False},
                message={"role": "user", "content": [
                    {"tool_use_id": call, "type": "tool_result", "content": text, "is_error": error}]})


def session_records() -> list[dict[str, Any]]:
    """A session: split assistant records, progress lines in the parent chain, parallel tool calls
    whose results are siblings, a tool error, meta/command/interrupt records, a system record and
    plumbing records (snapshot, queue, summary, an unknown type)."""
    T = "2026-02-10T22:57:"
    return [
        {"type": "file-history-snapshot", "messageId": "u1", "snapshot": {"trackedFileBackups": {}},
         "isSnapshotUpdate": False},
        _env("p1", None, T + "50.000Z", type="progress", data={"type": "hook_progress"}, toolUseID="h1"),
        _env("u1", "p1", T + "51.000Z", type="user", message={"role": "user", "content": "list the files"},
             permissionMode="default"),
        _assistant("a1", "u1", T + "52.000Z", "msg_A", {"type": "thinking", "thinking": "Use ls twice.",
                                                          "signature": "c2ln"}, 5),
        _assistant("a2", "a1", T + "52.100Z", "msg_A", {"type": "text", "text": "Listing."}, 9),
        _assistant("a3", "a2", T + "52.200Z", "msg_A",
                   {"type": "tool_use", "id": "toolu_A", "name": "Bash", "input": {"command": "ls"}}, 12),
        _env("p2", "a3", T + "52.300Z", type="progress", data={"type": "bash_progress"}, toolUseID="toolu_A"),
        _assistant("a4", "p2", T + "52.400Z", "msg_A",
                   {"type": "tool_use", "id": "toolu_B", "name": "Bash", "input": {"command": "ls /nope"}}, 20),
        _result("r2", "a4", T + "53.000Z", "toolu_B", "ls: /nope: No such file", error=True),
        _result("r1", "a3", T + "53.100Z", "toolu_A", "README.md"),
        {"type": "queue-operation", "operation": "enqueue", "timestamp": T + "53.200Z", "sessionId": SESSION},
        _assistant("a5", "r1", T + "54.000Z", "msg_B", {"type": "text", "text": "There is a README.md."}, 7),
        _env("u2", "a5", T + "55.000Z", type="user", isMeta=True, message={
            "role": "user", "content": "<local-command-caveat>Caveat: local commands.</local-command-caveat>"}),
        _env("u3", "u2", T + "55.100Z", type="user", message={
            "role": "user", "content": "<command-name>/clear</command-name>\n<command-args></command-args>"}),
        _env("s1", "u3", T + "55.200Z", type="system", subtype="local_command", level="info",
             content="<local-command-stdout>ok</local-command-stdout>", isMeta=False),
        _env("u4", "s1", T + "56.000Z", type="user", message={
            "role": "user", "content": [{"type": "text", "text": "[Request interrupted by user]"}]}),
        _env("u5", "u4", T + "57.000Z", type="user", message={"role": "user", "content": [
            {"type": "text", "text": "thanks, show this"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0" * 100}}]}),
        _assistant("a6", "u5", T + "58.000Z", "msg_C", {"type": "text", "text": "Nice picture."}, 4),
        {"type": "summary", "summary": "Listing files", "leafUuid": "a6"},
        {"type": "mystery-record", "payload": 1},
    ]


def subagent_records() -> list[dict[str, Any]]:
    T = "2026-02-10T22:58:"
    base = {"isSidechain": True, "agentId": "abc123"}
    return [
        {**_env("sa1", None, T + "00.000Z", type="user", message={"role": "user", "content": "find TODOs"}),
         **base},
        {**_assistant("sa2", "sa1", T + "01.000Z", "msg_S", {"type": "text", "text": "No TODOs."}, 3), **base},
    ]


def jsonl(records: list[Any], malformed: bool = False) -> str:
    lines = [json.dumps(r) for r in records]
    if malformed:
        lines.insert(len(lines) // 2, '{"type": "user", "uuid": "broken", ')
    return "\n".join(lines) + "\n"


# -- writers ----------------------------------------------------------------------
def write_json(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def write_legacy_folder(root: Path) -> Path:
    """A legacy (2024-2025) export folder: conversations.json plus the three side files."""
    write_json(root / "conversations.json", [conversation_2024(), conversation_2025()])
    write_json(root / "users.json", users())
    write_json(root / "projects.json", [project()])
    write_json(root / "memories.json", memories_legacy())
    return root


def write_2026_folder(root: Path) -> Path:
    """A mid-2026 export folder: projects/, memories/, design_chats/ per-object files."""
    write_json(root / "conversations.json", [conversation_2026()])
    write_json(root / "users.json", users())
    proj = project("p2026000-0000-4000-8000-000000000002")
    write_json(root / "projects" / f"{proj['uuid']}.json", proj)
    write_json(root / "memories" / f"{ACCOUNT}.json", memory_2026())
    write_json(root / "design_chats" / f"{design_chat()['uuid']}.json", design_chat())
    write_json(root / "reflections" / "r0000000-0000-4000-8000-000000000001.json", {"notes": "schema unknown"})
    return root


def write_claude_code_folder(root: Path, malformed: bool = False) -> Path:
    """A ``~/.claude/projects`` folder with one session and its sub-agent file."""
    project_dir = root / "-home-dev-demo"
    project_dir.mkdir(parents=True, exist_ok=True)
    (project_dir / f"{SESSION}.jsonl").write_text(jsonl(session_records(), malformed), encoding="utf-8")
    sub = project_dir / SESSION / "subagents"
    sub.mkdir(parents=True, exist_ok=True)
    (sub / "agent-abc123.jsonl").write_text(jsonl(subagent_records()), encoding="utf-8")
    return root


def write_zip(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def write_manifest_folder(root: Path) -> Path:
    """Late 2026: a manifest beside the per-category zips it lists (frames missing on purpose)."""
    root.mkdir(parents=True, exist_ok=True)
    proj = project("p2026000-0000-4000-8000-000000000003")
    write_zip(root / "light_metadata-000.zip", {"users.json": dumps(users())})
    write_zip(root / "conversations-000.zip", {"conversations.json": dumps([conversation_2026()])})
    write_zip(root / "projects-000.zip", {f"projects/{proj['uuid']}.json": dumps(proj)})
    write_zip(root / "memories-000.zip", {f"memories/{ACCOUNT}.json": dumps(memory_2026())})
    write_zip(root / "design_chats-000.zip", {f"design_chats/{design_chat()['uuid']}.json": dumps(design_chat())})
    files = [("light_metadata", "light_metadata-000.zip"), ("conversations", "conversations-000.zip"),
             ("projects", "projects-000.zip"), ("memories", "memories-000.zip"),
             ("design_chats", "design_chats-000.zip"), ("frames", "frames-000.zip")]
    write_json(root / "manifest-abc-1756684800-deadbeef-2026-09-01.json", manifest(files))
    return root
