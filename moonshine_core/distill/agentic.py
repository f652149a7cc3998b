"""Agentic-code lane: multi-step tool-using trajectories as ``messages`` + ``tools`` (distillation.md 4.5).

One row per conversation whose active branch holds tool calls with results
and at least one **code** call (:func:`tool_call_kind`: running code, a shell
command, or editing a file); trajectories with only other tool use (plugins,
browsing, image tools) are left out as ``invalid_row:no_code_tool_call``. A row
is the branch with its tool traffic (hidden plumbing included: that *is* the
trajectory), tool outputs cut to ``max_tool_output_chars`` (head and tail),
ending on the last assistant message, in the role order strict chat templates
accept (``messages.role_order_problem``): opening on a user turn, every tool
message right after the call it answers. The outcome
(:func:`judge_outcome`) comes from evidence in the records, listed in
``outcome_evidence``: how the code runs ended (``is_error`` / ``status``, exit
codes), test runs and their output, and the user's next turn. Exports carry no
tool schemas, so ``tools`` is synthesised from the calls seen
(``tools_synthesized``).
"""

from __future__ import annotations

from functools import partial
from typing import Any
import json
import re

from ..lane import Lane, LaneContext, lane_row
from ..records import Conversation, Message, ToolCall, ToolResult
from ..trees import ConversationTree
from .converters import to_openai, to_sharegpt
from .messages import ConversionStats, convert, pair_problem, result_failed, role_order_problem, settle_turns
from .textsignals import has_pasted_error, is_confirmation, is_correction
from .validate import messages_problem

LANE = "agentic_code"
__all__ = ["emit", "result_failed", "is_test_call", "synthesize_tools", "tool_call_kind", "is_code_call",
           "CODE_KINDS", "judge_outcome", "test_output_verdict"]

#: Kinds of tool call that make a trajectory "code": running code, a shell command, editing a file.
CODE_KINDS = frozenset({"code", "shell", "file_edit"})
_CODE_NAMES = frozenset({"python", "python_user_visible", "code_interpreter", "jupyter", "ipython", "repl",
                         "execute_code", "executecode", "run_code", "code_execution", "execute_python",
                         "run_python", "notebook", "javascript_interpreter"})
_SHELL_NAMES = frozenset({"bash", "shell", "local_shell", "shell_command", "exec_command", "write_stdin",
                          "container.exec", "terminal", "run_command", "run_terminal_cmd", "execute_command",
                          "run_shell_command", "bashoutput", "killshell", "killbash", "powershell"})
_EDIT_NAMES = frozenset({"edit", "multiedit", "write", "notebookedit", "apply_patch", "str_replace_editor",
                         "str_replace_based_edit_tool", "text_editor", "create_file", "write_file", "edit_file",
                         "write_to_file", "replace_in_file", "insert_edit_into_file", "search_replace",
                         "edit_notebook", "patch"})
_READ_NAMES = frozenset({"read", "glob", "grep", "ls", "view", "read_file", "list_dir", "list_files",
                         "search_files", "file_search", "codebase_search", "notebookread", "view_image",
                         "read_many_files", "find"})
_WEB_NAMES = frozenset({"browser", "web", "web.run", "web_search", "websearch", "webfetch", "search", "fetch",
                        "browse", "read_link", "tool_search", "tool_open", "file_search.msearch", "deep_research",
                        "internet_search", "google_search"})
_IMAGE_NAMES = frozenset({"image_gen", "image_gen_tool", "image_generation", "video_gen", "text2im"})
_MEMORY_NAMES = frozenset({"bio", "memory", "update_plan", "todowrite", "todoread", "task", "exit_plan_mode",
                           "exitplanmode"})
#: Artifact / canvas document types that are code (claude.ai ``artifacts``, ChatGPT ``canmore``).
_CODE_DOC_TYPES = ("application/vnd.ant.code", "application/vnd.ant.react", "text/html", "code/")
_PATCH_TEXT = re.compile(r"^\*\*\* Begin Patch|^--- a/.*\n\+\+\+ b/|^diff --git ", re.MULTILINE)


def _base_name(name: str) -> str:
    """``mcp__server__Tool`` -> ``tool``; ``functions.shell`` -> ``shell``; lower case."""
    low = (name or "").strip().lower()
    if low.startswith("mcp__"):
        low = low.rsplit("__", 1)[-1]
    for prefix in ("functions.", "multi_tool_use.", "default_api."):
        if low.startswith(prefix):
            low = low[len(prefix):]
    return low


def _args_text(arguments: Any, *keys: str) -> str:
    if isinstance(arguments, dict):
        return " ".join(str(arguments[k]) for k in keys if isinstance(arguments.get(k), (str, list)))
    return arguments if isinstance(arguments, str) else ""


def tool_call_kind(name: str, arguments: Any) -> str:
    """What a tool call does: ``code``, ``shell``, ``file_edit`` (the :data:`CODE_KINDS`), or ``file_read``,
    ``web``, ``image``, ``memory``, ``document``, ``plugin``, ``other``.

    By the tool's name first (case-insensitive, MCP ``mcp__server__`` and ``functions.`` prefixes
    dropped), with the argument shape deciding where the name alone does not: an editor tool's ``view``
    command reads; claude.ai ``artifacts`` and ChatGPT ``canmore`` documents are file edits only when
    their type is code (``application/vnd.ant.code``/``react``, ``text/html``, ``code/<lang>``) or they
    name a language. An unknown name counts as code only when its arguments leave no doubt (a patch
    text, an argv list under ``command``/``cmd``, or ``code`` next to ``language``); otherwise it is a
    ``plugin`` (a dotted ``namespace.operation`` name, as ChatGPT plugins/actions) or ``other``.
    """
    base = _base_name(name)
    args = arguments if isinstance(arguments, dict) else {}
    if base in ("str_replace_editor", "str_replace_based_edit_tool", "text_editor") and args.get("command") == "view":
        return "file_read"
    if base in _CODE_NAMES:
        return "code"
    if base in _SHELL_NAMES:
        return "shell"
    if base in _EDIT_NAMES:
        return "file_edit"
    if base in _READ_NAMES:
        return "file_read"
    if base == "artifacts" or base.startswith("canmore."):
        if base in ("canmore.comment_textdoc",):
            return "document"
        kind = str(args.get("type") or "").lower()
        if kind.startswith(_CODE_DOC_TYPES) or (isinstance(args.get("language"), str) and args["language"].strip()):
            return "file_edit"
        return "document"
    if base in _WEB_NAMES or base.startswith(("browser.", "web.", "file_search.")):
        return "web"
    if base in _IMAGE_NAMES or base.startswith(("dalle.", "image_gen.", "image_gen_tool.")):
        return "image"
    if base in _MEMORY_NAMES:
        return "memory"
    # An unknown name: only an unmistakable argument shape makes it code.
    if _PATCH_TEXT.search(_args_text(arguments, "patch", "diff", "input")):
        return "file_edit"
    command = args.get("command", args.get("cmd"))
    if isinstance(command, list) and command and all(isinstance(x, str) for x in command):
        return "shell"
    if isinstance(args.get("code"), str) and isinstance(args.get("language"), str):
        return "code"
    return "plugin" if "." in base else "other"


def is_code_call(name: str, arguments: Any) -> bool:
    """True when the call runs code or a shell command or edits a file (:func:`tool_call_kind`)."""
    return tool_call_kind(name, arguments) in CODE_KINDS


_TESTS_FAILED = re.compile(r"\b[1-9]\d* (?:failed|errors?|failing)\b|^FAILED\b|^FAIL\b|test result: FAILED|"
                           r"^Tests:.*\b[1-9]\d* failed", re.MULTILINE | re.IGNORECASE)
_TESTS_PASSED = re.compile(r"\b[1-9]\d* passed\b|^OK(?: \(|$)|test result: ok\.|^ok\s+\S+\s+[0-9.]+s$|"
                           r"^PASS\b|\b[1-9]\d* passing\b", re.MULTILINE)


def test_output_verdict(text: str) -> bool | None:
    """What a test runner's output says: True (all passed), False (something failed), None (no summary)."""
    if not text:
        return None
    if _TESTS_FAILED.search(text):
        return False
    if _TESTS_PASSED.search(text):
        return True
    return None
_TEST_COMMAND = re.compile(r"\b(?:pytest|py\.test|python -m (?:pytest|unittest)|npm (?:run )?test|yarn test|"
                           r"pnpm test|cargo test|go test|mvn test|gradle test|make test|jest|vitest|tox|nox|ctest)\b")


def is_test_call(arguments: Any) -> bool:
    """True when a call's arguments run a test suite (a shell command naming a test runner)."""
    if isinstance(arguments, dict):
        text = " ".join(str(v) for k, v in arguments.items() if k in ("command", "cmd", "input", "code", "script"))
    else:
        text = str(arguments or "")
    return bool(_TEST_COMMAND.search(text))


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def synthesize_tools(messages: list[dict]) -> str:
    """A JSON string of OpenAI/TRL tool schemas, one per tool name seen in ``messages``' calls.

    Each parameter's type is the type seen in the calls (``string`` when it
    varies); parameters present in every call are ``required``.
    """
    seen: dict[str, list[dict]] = {}
    for m in messages:
        for call in m.get("tool_calls") or []:
            try:
                args = json.loads(call["function"]["arguments"])
            except (ValueError, TypeError):
                args = {}
            seen.setdefault(call["function"]["name"], []).append(args if isinstance(args, dict) else {})
    tools = []
    for name in sorted(seen):
        calls = seen[name]
        props: dict[str, dict[str, str]] = {}
        for args in calls:
            for key, value in args.items():
                kind = _json_type(value)
                if key in props and props[key]["type"] != kind:
                    kind = "string"
                props[key] = {"type": kind}
        required = sorted(k for k in props if all(k in a for a in calls))
        tools.append({"type": "function", "function": {
            "name": name, "description": f"Tool '{name}' as observed in the conversation (schema synthesised).",
            "parameters": {"type": "object", "properties": dict(sorted(props.items())), "required": required}}})
    return json.dumps(tools, ensure_ascii=False, sort_keys=True)


def _loop_detected(records: list[Message]) -> bool:
    """Three identical calls (same tool, same arguments) in a row."""
    last, run = None, 0
    for m in records:
        for call in m.tool_calls:
            key = (call.name, json.dumps(call.arguments, sort_keys=True, default=str))
            run = run + 1 if key == last else 1
            last = key
            if run >= 3:
                return True
    return False


def _runs(records: list[Message]) -> list[tuple[ToolCall, ToolResult]]:
    """``(call, result)`` in branch order: a result goes to the call its ``call_id`` names, else to the
    nearest call before it (for outcome evidence only; the messages keep the stored pairing)."""
    calls: dict[str, ToolCall] = {}
    last: ToolCall | None = None
    runs = []
    for m in records:
        for call in m.tool_calls:
            if call.call_id:
                calls[call.call_id] = call
            last = call
        for result in m.tool_results:
            call = calls.get(result.call_id) if result.call_id else last
            if call is not None:
                runs.append((call, result))
    return runs


def _how(result: ToolResult) -> str:
    if result.is_error is not None:
        return f"is_error={str(bool(result.is_error)).lower()}"
    return f"status={result.status}"


def judge_outcome(records: list[Message], trailing: list[dict]) -> tuple[str, str | None, list[str]]:
    """``(outcome, outcome_source, outcome_evidence)`` of a trajectory, conservatively.

    Evidence: the code runs (calls of a :data:`CODE_KINDS` kind) and how each ended as recorded
    (``is_error``, ``status``; Codex sets ``is_error`` from the exit code), test runs (a test
    command, :func:`is_test_call`) with what their output says (:func:`test_output_verdict`), and
    the user's turn after the last answer (``trailing``). First rule that holds:

    1. ``failed`` / ``user_pushback``: the user's next turn corrects or pastes an error;
    2. ``resolved`` / ``tests_passed``: the last test run passed (output summary, else its record)
       and no code run after it failed;
    3. ``failed`` / ``tests_failed``: the last test run failed and no code run after it succeeded;
       ``failed`` / ``tool_error``: the last code run with a recorded ending failed;
    4. ``resolved`` / ``user_confirmed``: the user's next turn confirms ("works, thanks");
    5. ``resolved`` / ``exit_code``: the last code run with a recorded ending succeeded;
    6. ``unknown`` / null: nothing recorded says how it ended (a plain follow-up question is not evidence).
    """
    evidence: list[str] = []
    runs = [(c, r, result_failed(r)) for c, r in _runs(records) if is_code_call(c.name, c.arguments)]
    known = [i for i, (_, _, failed) in enumerate(runs) if failed is not None]
    errors = sum(1 for _, _, failed in runs if failed)
    if runs:
        evidence.append(f"code_runs={len(runs)} recorded={len(known)} failed={errors}")
    test_verdict, test_index = None, -1
    for i, (call, result, failed) in enumerate(runs):
        if is_test_call(call.arguments):
            verdict = test_output_verdict(result.content or "")
            test_verdict = verdict if verdict is not None else (None if failed is None else not failed)
            test_index = i
    if test_index >= 0:
        result = runs[test_index][1]
        evidence.append("last_test_run:no_verdict" if test_verdict is None else
                        f"last_test_run:{'passed' if test_verdict else 'failed'}"
                        f"({'output' if test_output_verdict(result.content or '') is not None else _how(result)})")
    after_test = [runs[i][2] for i in known if i > test_index] if test_index >= 0 else []
    if known:
        call, result, failed = runs[known[-1]]
        evidence.append(f"last_code_run:{'failed' if failed else 'ok'}({call.name} {_how(result)})")
    user = [m["content"] for m in trailing if m["role"] == "user"]
    pushback = next((t for t in user if is_correction(t) or has_pasted_error(t)), None)
    confirmed = any(is_confirmation(t) for t in user)
    if pushback is not None:
        evidence.append("next_user_turn:" + ("corrected" if is_correction(pushback) else "pasted_error"))
    elif confirmed:
        evidence.append("next_user_turn:confirmed")
    elif user:
        evidence.append("next_user_turn:continued")
    if pushback is not None:
        return "failed", "user_pushback", evidence
    if test_verdict is True and not any(after_test):
        return "resolved", "tests_passed", evidence
    if test_verdict is False and not (after_test and after_test[-1] is False):
        return "failed", "tests_failed", evidence
    if known and runs[known[-1]][2]:
        return "failed", "tool_error", evidence
    if confirmed:
        return "resolved", "user_confirmed", evidence
    if known:
        return "resolved", "exit_code", evidence
    return "unknown", None, evidence


def emit(conversation: Conversation, ctx: LaneContext) -> list[dict[str, Any]]:
    tree = ConversationTree(conversation)
    if not tree.active_path:
        return []
    records = tree.messages(tree.active_path)
    n_calls = sum(len(m.tool_calls) for m in records)
    results = [r for m in records for r in m.tool_results]
    if n_calls == 0 or not (results or any(m.role == "tool" and m.text.strip() for m in records)):
        return []
    stats = ConversionStats()
    msgs = convert(records, reasoning_policy=ctx.settings.reasoning_policy, include_tools=True,
                   max_tool_output_chars=ctx.settings.max_tool_output_chars, stats=stats)
    msgs = settle_turns(msgs, stats)
    # The trajectory ends on the last assistant message; a trailing user turn is outcome evidence.
    end = len(msgs)
    while end and msgs[end - 1]["role"] != "assistant":
        end -= 1
    msgs, trailing = msgs[:end], msgs[end:]
    if not msgs or not any(m["tool_calls"] for m in msgs):
        return []
    n_errors = sum(1 for r in results if result_failed(r))
    users = [m for m in records if m.role == "user" and not m.hidden and m.text.strip()]
    interventions = sum(1 for m in users[1:] if is_correction(m.text))
    retries = sum(1 for result in results[:-1] if result_failed(result))
    test_runs = [(call, res) for call, res in _runs(records) if is_test_call(call.arguments)]
    outcome, source, evidence = judge_outcome(records, trailing)
    # Assistant steps whose call failed, or that the user then corrected, are kept but weighted 0.
    weights = []
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        failed = any(c["id"] in stats.failed_calls for c in m["tool_calls"] or [])
        follow = msgs[i + 1] if i + 1 < len(msgs) else None
        corrected = follow is not None and follow["role"] == "user" and is_correction(follow["content"])
        weights.append(0 if failed or corrected else 1)
    flags = []
    if n_calls < 2:
        flags.append("single_tool_call")
    if outcome == "failed":
        flags.append("failed_outcome")
    loop = _loop_detected(records)
    if loop:
        flags.append("tool_loop")
    if stats.leading_turns_cut:
        flags.append("leading_turns_cut")
    kinds = [tool_call_kind(c.name, c.arguments) for m in records for c in m.tool_calls]
    languages = sorted({str(m.metadata.get("language")) for m in records if m.metadata.get("language")})
    columns = {
        "outcome": outcome,
        "outcome_source": source,
        "outcome_evidence": evidence,
        "assistant_turn_weights": weights,
        "tools_synthesized": True,
        "n_tool_calls": n_calls,
        "n_code_calls": sum(1 for k in kinds if k in CODE_KINDS),
        "tool_kinds": sorted(set(kinds)),
        "n_tool_results": len(results),
        "n_tool_errors": n_errors,
        "n_retries": retries,
        "n_test_runs": len(test_runs),
        "n_user_interventions": interventions,
        "n_unpaired_results": stats.unpaired_results,
        "max_tool_output_chars": ctx.settings.max_tool_output_chars,
        "tool_outputs_truncated": stats.tool_outputs_truncated,
        "loop_detected": loop,
        "tool_names": sorted({c.name for m in records for c in m.tool_calls}),
        "languages": languages,
        "reasoning_kind": stats.reasoning_kind(),
        "merged_messages": stats.merged_messages,
        "models": stats.models,
        "lane_flags": flags,
    }
    payload = {"messages": msgs, "tools": synthesize_tools(msgs)}
    return [lane_row(LANE, conversation, [], "active", payload, columns)]


def validate(row: dict[str, Any]) -> str | None:
    """The agentic shape: user first, assistant last, strict role order, at least one code call,
    ``tools`` as a JSON string."""
    problem = messages_problem(row.get("messages"))
    if problem:
        return problem
    msgs = row["messages"]
    if msgs[0]["role"] not in ("system", "user") or msgs[-1]["role"] != "assistant":
        return "must_start_user_end_assistant"
    if not any(m["tool_calls"] for m in msgs):
        return "no_tool_calls"
    if not isinstance(row.get("tools"), str):
        return "tools_not_json_string"
    problem = pair_problem(msgs) or role_order_problem(msgs)
    if problem:
        return problem
    if not any(is_code_call(c["function"]["name"], _decoded(c["function"]["arguments"]))
               for m in msgs for c in m["tool_calls"] or []):
        return "no_code_tool_call"   # plugins, browsing, image tools only: not a code trajectory
    return None


def _decoded(arguments: str) -> Any:
    try:
        args = json.loads(arguments)
    except (ValueError, TypeError):
        return arguments
    if isinstance(args, dict) and set(args) == {"input"} and isinstance(args["input"], str):
        return args["input"]   # text arguments were wrapped as {"input": text}
    return args


LANE_SPEC = Lane(
    name=LANE,
    title="Agentic code trajectories (messages + tools)",
    payload_columns=("messages", "tools"),
    emit=emit,
    validate=validate,
    quality=lambda row: {"resolved": 1.0, "unknown": 0.3}.get(row.get("outcome") or "", 0.0),
    count_columns=("outcome", "reasoning_kind"),
    converters={"openai": partial(to_openai, LANE), "sharegpt": partial(to_sharegpt, LANE)},
    loading="from trl import SFTConfig, SFTTrainer\ntrainer = SFTTrainer(model=model, train_dataset=ds[\"train\"],\n"
            "                     args=SFTConfig(output_dir=\"out\", assistant_only_loss=True))",
)
