"""The GRPO lane: rows every shipped reward function can score, code runs left out with their reason unless
they can be (and, with verify_code, were) reproduced, and short answers the user accepted."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import distill_fixtures as fx  # noqa: E402

from moonshine_core.distill import distill, grpo  # noqa: E402
from moonshine_core.distill.code_runs import STATIC_PROBLEMS  # noqa: E402
from moonshine_core.lane import LaneContext  # noqa: E402
from moonshine_core.plugins import make_plugin_manager  # noqa: E402
from moonshine_core.records import Conversation, Feedback, ToolCall, ToolResult  # noqa: E402
from moonshine_core.rewards import REWARD_FUNCS, accuracy_reward  # noqa: E402
from moonshine_core.workspace import LaneSettings  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs" / "lanes.md"


def context(cid="c", verify=False, feedback=()):
    return LaneContext(provider="chatgpt", provider_run_id="chatgpt_20260101_000000", conversation_id=cid,
                       conversation_uid="u", raw_sha256=None, feedback=list(feedback),
                       settings=LaneSettings(verify_code=verify))


def python_session(cid, cells, final="Here is what the code printed.", follow=None, prompt="Compute it in Python.",
                   tool="python"):
    """A ChatGPT code-interpreter turn: one hidden call + result per cell (metadata language 'unknown', as
    ChatGPT writes it), then a visible answer and, optionally, the user's next turn."""
    messages = [fx.msg("u1", "user", prompt)]
    parent = "u1"
    for i, (code, output, ok) in enumerate(cells):
        messages.append(fx.msg(f"c{i}", "assistant", "", parent, hidden=True, metadata={"language": "unknown"},
                               tool_calls=[ToolCall(name=tool, arguments=code)]))
        status = "success" if ok else "failed_with_in_kernel_exception"
        messages.append(fx.msg(f"r{i}", "tool", "", f"c{i}", hidden=True,
                               tool_results=[ToolResult(content=output, is_error=not ok, status=status)]))
        parent = f"r{i}"
    messages.append(fx.msg("a1", "assistant", final, parent))
    if follow:
        messages.append(fx.msg("u2", "user", follow, "a1"))
    return Conversation(conversation_id=cid, current_leaf_id=messages[-1].message_id, messages=messages)


def answer_conversation(cid, question, answer, follow=None):
    messages = [fx.msg("q1", "user", question), fx.msg("a1", "assistant", answer, "q1")]
    if follow:
        messages.append(fx.msg("q2", "user", follow, "a1"))
    return Conversation(conversation_id=cid, current_leaf_id=messages[-1].message_id, messages=messages)


def one_row(conversation, verify=False, feedback=()):
    rows = grpo.emit(conversation, context(conversation.conversation_id, verify, feedback))
    assert len(rows) == 1, rows
    return rows[0]


def info(row):
    return json.loads(row["verification_info"])


SQUARES = [("nums = list(range(1, 11))", "", True), ("sum(n * n for n in nums)", "385", True)]


def test_a_stateful_python_run_keeps_its_setup_cells_and_says_python():
    row = one_row(python_session("c-py", SQUARES))
    got = info(row)
    assert row["task"] == "code" and got["language"] == "python" and got["tool"] == "python"
    assert got["setup_cells"] == ["nums = list(range(1, 11))"] and got["reference_code"] == "sum(n * n for n in nums)"
    assert got["expected_output"] == "385" and got["n_runs"] == 2


def test_code_rows_are_left_out_unless_verification_is_on():
    off = one_row(python_session("c-py", SQUARES))
    assert grpo.validate(off) == "code_not_verified" and off["tests_validated"] is False
    on = one_row(python_session("c-py", SQUARES), verify=True)
    assert grpo.validate(on) is None and on["tests_validated"] is True
    wrong_log = [SQUARES[0], ("sum(n * n for n in nums)", "386", True)]
    assert grpo.validate(one_row(python_session("c-py", wrong_log), verify=True)) == "not_reproduced"


def test_a_verified_row_rewards_a_right_program_and_not_a_wrong_one():
    row = one_row(python_session("c-py", SQUARES), verify=True)
    completions = [[{"role": "assistant", "content": "```python\nsum(n ** 2 for n in nums)\n```"}],
                   [{"role": "assistant", "content": "```python\nsum(nums)\n```"}]]
    assert accuracy_reward(completions=completions, task=[row["task"]] * 2, solution=[row["solution"]] * 2,
                           verification_info=[row["verification_info"]] * 2) == [1.0, 0.0]


def test_a_kernel_reset_starts_the_setup_again():
    cells = [("data = open('/mnt/data/upload.csv').read()", "", True),
             ("x = 1", "Code execution state reset.", False),
             ("base = 40", "", True), ("base + 2", "42", True)]
    row = one_row(python_session("c-reset", cells), verify=True)
    assert info(row)["setup_cells"] == ["base = 40"]   # the upload read before the reset no longer matters
    assert grpo.validate(row) is None and row["tests_validated"] is True


@pytest.mark.parametrize("code, output, reason", [
    ("import pandas as pd\npd.read_csv('/mnt/data/sales.csv').shape", "(10, 3)", "needs_user_files"),
    ("open('notes.txt').read()", "'hello'", "needs_user_files"),
    ("open('/home/me/notes.txt').read()", "'hello'", "needs_user_files"),
    ("import requests\nrequests.get('https://example.org').status_code", "200", "needs_network"),
    ("import json\njson.load(__import__('urllib.request').request.urlopen('https://example.org/x.json'))",
     "{}", "needs_network"),
    ("import numpy as np\nplt.plot([1, 2])", "\n<<ImageDisplayed>>", "image_output"),
    ("x = ''\nx", "''", "empty_output"),
    ("import warnings\nwarnings.warn('careful')",
     "/home/sandbox/ipykernel_1/2.py:2: UserWarning: careful\n  warnings.warn('careful')\n", "warning_only_output"),
    ("import moonshine_no_such_module\nmoonshine_no_such_module.f()", "1", "module_unavailable"),
    ("!pip install foo\nimport foo", "ok", "not_plain_python"),
])
def test_runs_that_cannot_be_reproduced_say_why(code, output, reason):
    row = one_row(python_session("c-x", [(code, output, True)]), verify=True)
    assert grpo.validate(row) == reason and reason in row["lane_flags"] and row["tests_validated"] is False


def test_a_file_the_code_writes_first_is_not_an_upload():
    cells = [("open('notes.txt', 'w').write('hello')", "5", True), ("open('notes.txt').read()", "'hello'", True)]
    row = one_row(python_session("c-own", cells), verify=True)
    assert grpo.validate(row) is None and row["tests_validated"] is True


def test_non_python_runs_are_left_out_and_file_edits_are_not_runs():
    shell = fx.tool_conversation("c-shell")[0]
    row = one_row(shell)
    assert info(row)["language"] == "bash" and grpo.validate(row) == "language_not_run"
    js = python_session("c-js", [("console.log(1 + 1)", "2", True)], tool="repl")
    assert info(one_row(js))["language"] == "javascript"
    edit = python_session("c-art", [({"command": "create", "type": "application/vnd.ant.code", "language": "python",
                                      "content": "print(1)"}, "OK", True)], tool="artifacts")
    assert grpo.emit(edit, context("c-art")) == []


def test_user_accepted_short_answers_that_math_verify_parses():
    row = one_row(answer_conversation("c-acc", "What is the expected value of a fair die roll?",
                                      "Each face has probability 1/6, so the expected value is \\( \\frac{7}{2} \\).",
                                      follow="Nice. Now explain the variance."))
    assert row["task"] == "math" and row["solution"] == "\\frac{7}{2}" and row["answer_source"] == "user_accepted"
    assert row["gold_parseable"] is True and grpo.validate(row) is None
    assert json.loads(row["ground_truth"]) == {"answer": "\\frac{7}{2}", "match": "math_verify"}


@pytest.mark.parametrize("follow", [None, "No, that's wrong.", "Are you sure? Please double-check.",
                                    "Non. 3", "What is 12 squared?", "Traceback (most recent call last):\n  x"])
def test_no_acceptance_without_a_next_turn_that_moves_on(follow):
    conv = answer_conversation("c-no", "What is 12 squared?", "12 squared is \\( 144 \\).", follow=follow)
    assert grpo.emit(conv, context("c-no")) == []


def test_acceptance_needs_a_short_answer_and_no_thumbs_down():
    long_answer = "The answer is " + "a very long explanation of what the result might be " * 2
    assert grpo.emit(answer_conversation("c-long", "What is the result?", long_answer, "ok next"), context()) == []
    conv = answer_conversation("c-down", "What is 12 squared?", "12 squared is \\( 144 \\).", "Thanks, next one.")
    assert one_row(conv)["answer_source"] == "user_confirmed"   # "Thanks" confirms
    conv.messages[2].text = "Next: 13 squared?"
    assert one_row(conv)["answer_source"] == "user_accepted"
    down = [Feedback(feedback_id="f", rating="thumbs_down", conversation_id="c-down", message_id="a1")]
    assert grpo.emit(conv, context("c-down", feedback=down)) == []


def test_a_tool_turn_with_an_accepted_answer_is_an_answer_task():
    cells = [("from fractions import Fraction\nFraction(1, 3)", "Fraction(1, 3)", True)]
    conv = python_session("c-tool-answer", cells, prompt="What is the average distance of two U(0,1) variables?",
                          final="The average distance is \\( \\frac{1}{3} \\).", follow="Now simulate it.")
    row = one_row(conv)
    assert row["task"] == "math" and row["answer_source"] == "user_accepted" and grpo.validate(row) is None


def test_every_row_gets_a_float_from_every_reward(tmp_path):
    records = [*fx.math_conversation(), python_session("c-py", SQUARES),
               python_session("c-img", [("plt.plot([1])", "<<ImageDisplayed>>", True)]),
               answer_conversation("c-acc", "How many sides has a hexagon?", "A hexagon has **6** sides... "
                                   "so the answer is 6.", "And an octagon?")]
    ws = fx.make_mash(tmp_path, {"chatgpt": records})
    result = distill(ws, pm=make_plugin_manager(load_entrypoints=False), run_id="r", lanes=["grpo"], verify_code=True)
    assert result.lanes["grpo"].left_out == {"invalid_row:image_output": 1}
    rows = fx.lane_rows(ws, "grpo", "r")
    assert Counter(r["answer_source"] for r in rows) == {"user_confirmed": 1, "execution": 1, "user_accepted": 1}
    assert_every_reward_scores(rows)
    manifest = json.loads((ws.distill_dir("grpo", "r") / "manifest.json").read_text())
    assert manifest["settings"]["verify_code"] is True


def test_the_cli_says_how_to_verify_and_the_flag_does(tmp_path):
    from click.testing import CliRunner

    from moonshine_core.cli.main import cli

    ws = fx.make_mash(tmp_path, {"chatgpt": [python_session("c-py", SQUARES)]})
    plain = CliRunner().invoke(cli, ["--workspace", str(ws.root), "distill", "--lanes", "grpo", "--run-id", "a"])
    assert plain.exit_code == 0, plain.output
    assert "1 code rows left out unverified: add --verify-code" in plain.output
    verified = CliRunner().invoke(cli, ["--workspace", str(ws.root), "--json", "distill", "--lanes", "grpo",
                                        "--run-id", "b", "--verify-code"])
    assert verified.exit_code == 0, verified.output
    lane = json.loads(verified.output)["lanes"]["grpo"]
    assert lane["rows"] == 1 and lane["left_out"] == {}
    assert [r["tests_validated"] for r in fx.lane_rows(ws, "grpo", "b")] == [True]


def test_verify_code_from_moonshine_toml_and_its_limits_checked(tmp_path):
    from moonshine_core.distill import DistillError

    pm = make_plugin_manager(load_entrypoints=False)
    ws = fx.make_mash(tmp_path / "on", {"chatgpt": [python_session("c-py", SQUARES)]},
                      settings="[lanes]\nverify_code = true\nsandbox_timeout_s = 20\n")
    assert distill(ws, pm=pm, run_id="r", lanes=["grpo"]).lanes["grpo"].rows == 1
    assert json.loads(fx.lane_rows(ws, "grpo", "r")[0]["verification_info"])["timeout_s"] == 20
    # the call's argument wins over the file
    assert distill(ws, pm=pm, run_id="s", lanes=["grpo"], verify_code=False).lanes["grpo"].left_out == \
        {"invalid_row:code_not_verified": 1}
    bad = fx.make_mash(tmp_path / "bad", {"chatgpt": [python_session("c-py", SQUARES)]},
                       settings="[lanes]\nsandbox_memory_mb = 1\n")
    with pytest.raises(DistillError, match="sandbox_memory_mb"):
        distill(bad, pm=pm, run_id="r", lanes=["grpo"])


def assert_every_reward_scores(rows):
    completions = [[{"role": "assistant", "content": text}] for text in
                   ("The answer is 6.", "```python\nprint(385)\n```", "I do not know.")]
    for row in rows:
        n = len(completions)
        columns = {k: [v] * n for k, v in row.items() if k != "prompt"}
        for func in REWARD_FUNCS:
            values = func(prompts=[row["prompt"]] * n, completions=completions, completion_ids=[[0]] * n, **columns)
            assert len(values) == n and all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in values), \
                (func.__name__, row["record_uid"], values)


def test_every_left_out_reason_is_documented():
    text = DOCS.read_text(encoding="utf-8")
    assert set(grpo.LEFT_OUT_REASONS) == {*STATIC_PROBLEMS, "code_not_verified", "not_reproduced"}
    for reason in grpo.LEFT_OUT_REASONS:
        assert f"`{reason}`" in text, reason


# -- real exports ------------------------------------------------------------------------------
#: Code-interpreter sessions (realazthat: a U(0,1) question and plots; yoonchoonkoon: uploads, plots,
#: warnings) and a Claude Code session whose runs are shell commands.
REAL_PICKS = {"chatgpt": ["chatgpt/realazthat__chatgpt2graph__examples__conversations.json",
                          "chatgpt/yoonchoonkoon__chatgpt-archive__DERIVED_selected_conversations.json"],
              "claude": ["claude_code/marot__spotter__test__fixtures__transcripts__tool_heavy.jsonl"]}


@pytest.fixture(scope="module")
def real_grpo(tmp_path_factory):
    from real_fixtures import merged_real_workspace

    pm = make_plugin_manager()
    ws, _ = merged_real_workspace(tmp_path_factory.mktemp("real-grpo") / "ws", REAL_PICKS, require_all=True)
    off = distill(ws, pm=pm, run_id="off", lanes=["grpo"])
    on = distill(ws, pm=pm, run_id="on", lanes=["grpo"], verify_code=True)
    return ws, off, on


@pytest.mark.real_exports
def test_real_exports_reasons_are_counted_and_every_row_is_rewardable(real_grpo):
    ws, off, on = real_grpo
    print("real-export GRPO left out:", off.lanes["grpo"].left_out, "rows:", off.lanes["grpo"].by_provider)
    # Before this lane change these exports gave 38 code rows, none checkable: plots, uploads and one
    # shell command. Now: the U(0,1) answer the user accepted; everything else is counted.
    expected = {"invalid_row:image_output": 13, "invalid_row:needs_user_files": 23, "invalid_row:language_not_run": 1}
    for result in (off, on):   # nothing here gets as far as a re-run
        assert result.lanes["grpo"].left_out == expected
        assert result.lanes["grpo"].by_provider == {"chatgpt": 1}
    rows = fx.lane_rows(ws, "grpo", "off")
    assert [(r["task"], r["answer_source"], r["solution"], r["gold_parseable"]) for r in rows] == \
        [("math", "user_accepted", "\\frac{1}{3}", True)]
    for row in rows:
        assert "unknown" not in (row.get("verification_info") or "")
    assert_every_reward_scores(rows + fx.lane_rows(ws, "grpo", "on"))
