"""``moonshine show``: finding a conversation by id, prefix or --latest, and drawing it (moonshine_core.show)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from distill_fixtures import make_mash, msg, tool_conversation  # noqa: E402
from moonshine_core.cli.main import cli  # noqa: E402
from moonshine_core.convert import record_from_dict  # noqa: E402
from moonshine_core.errors import MoonshineError  # noqa: E402
from moonshine_core.records import Attachment, Conversation, ToolCall, ToolResult  # noqa: E402
from moonshine_core.show import (  # noqa: E402
    AmbiguousConversation,
    ConversationNotFound,
    find_conversation,
    load_conversation,
    pair_tool_results,
    render,
)
from moonshine_core.trees import ConversationTree  # noqa: E402
from moonshine_core.workspace import Workspace  # noqa: E402


def branching_conversation(cid="abc-1"):
    """u1 has two answers (a1 abandoned, a2 continued); u2 under a2 has two answers again (b2 active)."""
    return Conversation(conversation_id=cid, title="Branches", current_leaf_id="b2", created_at=1_700_000_000.0,
                        updated_at=1_700_000_900.0, model="gpt-4o", messages=[
        msg("u1", "user", "First question", t=1_700_000_000.0),
        msg("a1", "assistant", "Abandoned answer", "u1", model="gpt-4o", t=1_700_000_010.0),
        msg("a2", "assistant", "Kept answer", "u1", model="gpt-4o", t=1_700_000_020.0,
            reasoning="Let me think about the kept answer carefully.", reasoning_kind="raw"),
        msg("u2", "user", "Second question", "a2", t=1_700_000_030.0,
            attachments=[Attachment(kind="image", name="chart.png", mime_type="image/png", size_bytes=2048)]),
        msg("b1", "assistant", "Old retry", "u2", t=1_700_000_040.0),
        msg("b2", "assistant", "New retry", "u2", t=1_700_000_050.0),
    ])


def plain(cid, title, updated, text="hello"):
    return Conversation(conversation_id=cid, title=title, current_leaf_id="r", created_at=updated - 10,
                        updated_at=updated, messages=[msg("q", "user", text), msg("r", "assistant", "reply", "q")])


@pytest.fixture
def ws(tmp_path):
    return make_mash(tmp_path / "ws", {
        "chatgpt": [branching_conversation(), plain("abc-12", "Twelve", 1_700_000_100.0),
                    plain("xyz-9", "Only one", 1_700_001_000.0)],
        "claude": [plain("abc-1", "Same id, other provider", 1_700_000_300.0), *tool_conversation("tools-1"),
                   plain("def-7", "Newest", 1_800_000_000.0)],
    })


def invoke(ws, *args):
    return CliRunner().invoke(cli, ["-w", str(ws.root), "show", *args])


# -- finding ------------------------------------------------------------------------------------
def test_a_unique_prefix_finds_the_conversation(ws):
    ref = find_conversation(ws, "xyz")
    assert (ref.provider, ref.conversation_id, ref.title) == ("chatgpt", "xyz-9", "Only one")


def test_an_ambiguous_prefix_lists_every_candidate(ws):
    with pytest.raises(AmbiguousConversation) as err:
        find_conversation(ws, "abc")
    found = {(c.provider, c.conversation_id) for c in err.value.candidates}
    assert found == {("chatgpt", "abc-1"), ("chatgpt", "abc-12"), ("claude", "abc-1")}
    message = str(err.value)
    for part in ("abc-12 (chatgpt, \"Twelve\")", "abc-1 (claude, \"Same id, other provider\")", "--provider"):
        assert part in message


def test_the_same_id_in_two_providers_is_ambiguous_until_provider_narrows_it(ws):
    with pytest.raises(AmbiguousConversation) as err:
        find_conversation(ws, "abc-1")
    assert {c.provider for c in err.value.candidates} == {"chatgpt", "claude"}
    # An exact id wins over the longer id it is a prefix of (abc-12).
    assert find_conversation(ws, "abc-1", provider="chatgpt").title == "Branches"
    assert find_conversation(ws, "abc-1", provider="claude").title == "Same id, other provider"


def test_an_unknown_id_is_an_error(ws):
    with pytest.raises(ConversationNotFound, match="nope"):
        find_conversation(ws, "nope")
    with pytest.raises(ConversationNotFound):
        find_conversation(ws, "xyz", provider="claude")


def test_latest_is_the_conversation_updated_last(ws):
    assert find_conversation(ws, latest=True).conversation_id == "def-7"
    assert find_conversation(ws, latest=True, provider="chatgpt").conversation_id == "xyz-9"
    with pytest.raises(MoonshineError):
        find_conversation(ws, "xyz", latest=True)


def test_a_workspace_without_a_mash_says_so(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "moonshine.toml").write_text("")
    with pytest.raises(MoonshineError, match="no mash"):
        find_conversation(Workspace.open(tmp_path / "empty"), latest=True)


# -- drawing ------------------------------------------------------------------------------------
def test_the_header_and_the_active_branch(ws):
    lines = render(load_conversation(ws, find_conversation(ws, "abc-1", provider="chatgpt")))
    text = "\n".join(lines)
    assert lines[0] == "Branches"
    assert "created   2023-11-14T22:13:20Z" in text and "updated   2023-11-14T22:28:20Z" in text
    assert "chatgpt · run chatgpt_20260101_000000" in text
    assert "6 stored · 4 on the active branch · 2 branch points" in text
    headers = [line for line in lines if line.startswith("#")]
    assert [h.split(" · ")[0] for h in headers] == ["#1 user", "#3 assistant", "#4 user", "#6 assistant"]
    assert "Abandoned answer" not in text and "Old retry" not in text
    assert "⑂ 2 branches after #1; this is branch 2" in text
    assert "attachment: chart.png (image, image/png, 2.0 KB)" in text


def test_reasoning_is_folded_unless_asked_for(ws):
    found = load_conversation(ws, find_conversation(ws, "abc-1", provider="chatgpt"))
    folded = "\n".join(render(found))
    assert "[reasoning: 45 chars]" in folded and "carefully" not in folded
    assert "carefully" in "\n".join(render(found, reasoning=True))


def test_all_branches_draws_every_message_and_every_branch_point(ws):
    found = load_conversation(ws, find_conversation(ws, "abc-1", provider="chatgpt"))
    lines = render(found, all_branches=True)
    text = "\n".join(lines)
    for n, m in enumerate(found.conversation.messages, start=1):
        assert re.search(rf"^[│ ├└─]*#{n} {m.role}\b", text, re.MULTILINE), f"#{n} not drawn"
        assert m.text in text
    assert "⑂ 2 branches after #1" in text and "⑂ 2 branches after #4" in text
    assert text.count("branch 1/2") == 2 and text.count("branch 2/2 (active)") == 2
    # The abandoned answer hangs under the first branch of #1, one step in; the rest of the
    # conversation under the second.
    abandoned = next(line for line in lines if "#2 assistant" in line)
    assert abandoned.startswith("│  #2")
    assert next(line for line in lines if "#4 user" in line).startswith("   #4")


def test_ascii_only_draws_no_box_characters(ws):
    found = load_conversation(ws, find_conversation(ws, "abc-1", provider="chatgpt"))
    text = "\n".join(render(found, all_branches=True, ascii_only=True))
    assert not set(text) & set("├└│→←⑂·")
    assert "|- branch 1/2" in text and "`- branch 2/2 (active)" in text


def test_tool_calls_and_their_results_carry_the_same_label(ws):
    text = "\n".join(render(load_conversation(ws, find_conversation(ws, "tools-1"))))
    assert "→ call [1] Bash (tu1)" in text and "← result [1] Bash (tu1) · error" in text
    assert "→ call [2] Edit (tu2)" in text and "← result [2] Edit (tu2) · ok" in text
    assert "→ call [3] Bash (tu3)" in text and "← result [3] Bash (tu3) · ok" in text
    assert '"command": "pytest -q"' in text
    # The 9000-character test output is cut (the default), and shown whole on request.
    assert "more chars)" in text
    full = "\n".join(render(load_conversation(ws, find_conversation(ws, "tools-1")), tool_chars=None))
    assert "x" * 9000 in full and "more chars)" not in full


def test_pairing_follows_the_path_and_the_oldest_waiting_call():
    conv = Conversation(conversation_id="p", current_leaf_id="r2", messages=[
        msg("u", "user", "go"),
        msg("c", "assistant", "", "u", tool_calls=[ToolCall(name="a"), ToolCall(name="b", call_id="B")]),
        # One branch answers b by id, then a (no id: the oldest call still waiting) ...
        msg("r1", "tool", "", "c", tool_results=[ToolResult(content="b out", call_id="B"),
                                                 ToolResult(content="a out")]),
        # ... another answers without ids: a first, then b.
        msg("r2", "tool", "", "c", tool_results=[ToolResult(content="1"), ToolResult(content="2")]),
        msg("u2", "user", "new turn", "r2"),
        msg("r3", "tool", "", "u2", tool_results=[ToolResult(content="late")]),
    ])
    pairs = pair_tool_results(ConversationTree(conv))
    assert pairs[("r1", 0)] == ("c", 1) and pairs[("r1", 1)] == ("c", 0)
    assert pairs[("r2", 0)] == ("c", 0) and pairs[("r2", 1)] == ("c", 1)
    assert ("r3", 0) not in pairs  # a user turn came between: nothing waits for it


def test_control_characters_from_an_export_are_made_visible(tmp_path):
    ws = make_mash(tmp_path / "ws", {"chatgpt": [plain("esc", "\x1b]0;owned\x07", 1.0, text="red \x1b[31mtext")]})
    text = "\n".join(render(load_conversation(ws, find_conversation(ws, "esc"))))
    assert "\x1b" not in text and "\x07" not in text
    assert "red \\x1b[31mtext" in text and "\\x1b]0;owned\\x07" in text


# -- the command --------------------------------------------------------------------------------
def test_cli_prints_the_active_branch_without_colour_in_a_pipe(ws):
    result = invoke(ws, "abc-1", "--provider", "chatgpt")
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.output
    assert "Kept answer" in result.output and "Abandoned answer" not in result.output


def test_cli_all_branches_and_latest(ws):
    result = invoke(ws, "abc-1", "-p", "chatgpt", "--all-branches")
    assert result.exit_code == 0, result.output
    assert "Abandoned answer" in result.output and "Old retry" in result.output
    latest = invoke(ws, "--latest")
    assert latest.exit_code == 0 and latest.output.startswith("Newest\n")


def test_cli_json_round_trips_to_the_stored_conversation(ws):
    result = invoke(ws, "tools", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["provider"], data["provider_run_id"]) == ("claude", "claude_20260101_000000")
    stored = load_conversation(ws, find_conversation(ws, "tools-1")).conversation
    assert record_from_dict(data) == stored
    assert stored.messages[1].tool_calls[0].call_id == "tu1"


def test_cli_errors(ws):
    ambiguous = invoke(ws, "abc")
    assert ambiguous.exit_code == 1
    assert "matches 3 conversations" in ambiguous.output and "abc-12 (chatgpt" in ambiguous.output
    unknown = invoke(ws, "nope", "--json")
    assert unknown.exit_code == 1
    assert json.loads(unknown.output.strip().splitlines()[-1])["kind"] == "ConversationNotFound"
    assert invoke(ws).exit_code == 2
    assert invoke(ws, "abc", "--latest").exit_code == 2
