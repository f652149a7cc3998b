"""Lane rows rendered with real chat templates (Qwen 2.5, Qwen 3, Llama 3.1, Mistral, Gemma 3).

The templates are the models' own (tests/data/chat_templates/SOURCES.md), set on a tiny byte-level
tokenizer built offline, and rendered with ``transformers``' ``apply_chat_template``. Rows come from
the conversational and agentic_code lanes: synthetic conversations with parallel calls, text beside
calls, unanswered calls, raw reasoning, a system turn and consecutive same-role turns, and (marked
``real_exports``) rows distilled from ../shared/real-exports.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import attrs
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import distill_fixtures as fx  # noqa: E402

from moonshine_core.chat import (  # noqa: E402
    PROFILES,
    TemplateProfile,
    probe_profile,
    render_row,
    template_dataset,
    template_messages,
    template_tools,
)
from moonshine_core.records import Conversation, ToolCall, ToolResult  # noqa: E402

TEMPLATES = Path(__file__).resolve().parent / "data" / "chat_templates"
FAMILIES = {
    "qwen2.5": "qwen2.5-instruct.jinja",
    "qwen3": "qwen3.jinja",
    "llama3.1": "llama3.1-instruct.jinja",
    "mistral": "mistral-7b-instruct-v0.3.jinja",
    "gemma3": "gemma3-it.jinja",
}
NEEDS_TRANSFORMERS = "rendering chat templates needs transformers and tokenizers (pip install transformers)"


# --- synthetic lane rows -----------------------------------------------------------------------

def coding_session(cid="c-chat-tools"):
    """A code session with every shape the templates disagree on (written for this test)."""
    m = fx.msg
    return Conversation(conversation_id=cid, current_leaf_id="k14", created_at=7000.0, messages=[
        m("k0", "system", "Answer tersely; show the commands you run."),
        m("k1", "user", "The CSV loader breaks on accented names.", "k0"),
        m("k2", "user", "File: loader.py, sample row: 'Zoë,Ångström'.", "k1"),
        # text said beside a call, and text arguments (code) that become {"input": ...}
        m("k3", "assistant", "Let me reproduce it first.", "k2", model="claude-sonnet-4",
          tool_calls=[ToolCall(name="python", arguments="open('s.csv').read().split(',')", call_id="p1")]),
        m("k4", "tool", "", "k3", tool_results=[ToolResult(content="['Zoë', 'Ångström']", call_id="p1",
                                                             status="success")]),
        m("k5", "assistant", "Reading works; the writer must be the problem.", "k4", model="claude-sonnet-4"),
        # parallel calls whose results come back in the other order
        m("k6", "assistant", "", "k5", model="claude-sonnet-4", tool_calls=[
            ToolCall(name="Bash", arguments={"command": "grep -n encoding loader.py"}, call_id="b1"),
            ToolCall(name="Edit", arguments={"path": "loader.py", "old": "ascii", "new": "utf-8"}, call_id="b2")]),
        m("k7", "tool", "", "k6", tool_results=[
            ToolResult(content="ok: 1 replacement", call_id="b2", is_error=False),
            ToolResult(content="12: open(path, encoding='ascii')", call_id="b1", is_error=False)]),
        m("k8", "assistant", "Fixed: loader.py now writes UTF-8.", "k7", model="claude-sonnet-4",
          reasoning="The writer hard-codes ascii; utf-8 keeps the accents.", reasoning_kind="raw"),
        m("k9", "user", "Also run the tests please.", "k8"),
        # a call the user answered before any result arrived
        m("k10", "assistant", "", "k9", model="claude-sonnet-4",
          tool_calls=[ToolCall(name="Bash", arguments={"command": "pytest -q"}, call_id="b3")]),
        m("k11", "user", "Never mind, I ran them: 4 passed.", "k10"),
        m("k12", "assistant", "Good, then it is done.", "k11", model="claude-sonnet-4"),
        m("k13", "user", "Commit it.", "k12"),
        # the row ends on two parallel calls that got no result
        m("k14", "assistant", "Committing.", "k13", model="claude-sonnet-4", tool_calls=[
            ToolCall(name="Bash", arguments={"command": "git add loader.py"}, call_id="b4"),
            ToolCall(name="Bash", arguments={"command": "git commit -m 'utf-8 writer'"}, call_id="b5")]),
    ])


def chat_with_reasoning(cid="c-chat-plain"):
    m = fx.msg
    return Conversation(conversation_id=cid, current_leaf_id="q5", created_at=7100.0, messages=[
        m("q0", "system", "You are a patient maths tutor."),
        m("q1", "user", "Is 91 prime?", "q0"),
        m("q2", "user", "I think it is.", "q1"),
        m("q3", "assistant", "No: 91 = 7 × 13.", "q2", model="deepseek-r1",
          reasoning="Try small primes: 91 / 7 = 13.", reasoning_kind="raw"),
        m("q4", "user", "And 97?", "q3"),
        m("q5", "assistant", "97 is prime.", "q4", model="deepseek-r1",
          reasoning="No prime up to 9 divides 97.", reasoning_kind="raw"),
    ])


def same_role_row():
    """Messages in the lane's form with runs of same-role messages, as real agentic rows have them
    (``u a aC t a aC u``: an answer, then a call in a message of its own; a call the user cut short)."""
    from moonshine_core.distill.agentic import synthesize_tools
    from moonshine_core.distill.messages import message, tool_call_dict

    messages = [
        message("user", "Plot the sales file."),
        message("user", "It is sales.csv, columns month and total."),
        message("assistant", "Sure, loading it."),
        message("assistant", tool_calls=[tool_call_dict("call_1", "python", "df = pd.read_csv('sales.csv')")]),
        message("tool", "   month  total\n0  jan    10", tool_call_id="call_1", name="python"),
        message("assistant", "Loaded 12 rows."),
        message("assistant", "Now the plot.", tool_calls=[tool_call_dict("call_2", "python", "df.plot()")]),
        message("user", "Stop, use a bar chart instead."),
        message("assistant", "Bar chart it is.", reasoning_content="The user wants bars, not lines."),
    ]
    return {"messages": messages, "tools": synthesize_tools(messages)}


@pytest.fixture(scope="module")
def synthetic_workspace(tmp_path_factory):
    """A mash of the two conversations above, distilled into the agentic_code and conversational lanes."""
    from moonshine_core.distill import distill

    ws = fx.make_mash(tmp_path_factory.mktemp("chat-templates"),
                      {"claude": [coding_session()], "deepseek": [chat_with_reasoning()]},
                      settings='[lanes]\nreasoning_policy = "keep_raw"\neval_fraction = 0.0\n')
    distill(ws, lanes=["agentic_code", "conversational"], run_id="distill_chat")
    return ws


@pytest.fixture(scope="module")
def synthetic_rows(synthetic_workspace):
    ws = synthetic_workspace
    rows = {lane: fx.lane_rows(ws, lane, "distill_chat") for lane in ("agentic_code", "conversational")}
    assert len(rows["agentic_code"]) == 1 and len(rows["conversational"]) == 2
    rows["same_role"] = [same_role_row()]
    return rows


# --- rendering helpers -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tokenizers():
    """One offline tokenizer per template family (bytes as tokens, so any text tokenizes)."""
    pytest.importorskip("transformers", reason=NEEDS_TRANSFORMERS)
    pytest.importorskip("tokenizers", reason=NEEDS_TRANSFORMERS)
    return {family: byte_tokenizer((TEMPLATES / name).read_text()) for family, name in FAMILIES.items()}


def byte_tokenizer(chat_template: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {char: i for i, char in enumerate(pre_tokenizers.ByteLevel.alphabet())}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>",
                                        pad_token="<pad>")
    tokenizer.chat_template = chat_template
    return tokenizer


def calls_of(row):
    return [c for m in row["messages"] for c in m["tool_calls"] or []]


def assert_rendered_faithfully(row, text, family, *, exact_counts=True):
    """Every message's text is in ``text``, and every call's arguments are there as a JSON object, never
    as a JSON-encoded string."""
    for m in row["messages"]:
        content = m["content"].strip()
        if not content:
            continue
        # Llama 3.1 writes tool output through `tojson` (a string is `iterable` in Jinja): escaped, but all there
        as_json = family == "llama3.1" and m["role"] == "tool" and json.dumps(m["content"], ensure_ascii=False) in text
        assert content in text or as_json, f"{family}: {m['role']} text missing: {content[:80]!r}"
    expected = {}
    for call in calls_of(row):
        obj = json.dumps(json.loads(call["function"]["arguments"]), ensure_ascii=False)
        expected[obj] = expected.get(obj, 0) + 1
        doubled = json.dumps(call["function"]["arguments"], ensure_ascii=False)
        assert doubled not in text, f"{family}: arguments double-encoded: {doubled[:80]}"
    for obj, n in expected.items():
        found = text.count(obj)
        assert (found == n) if exact_counts else (found >= n), f"{family}: {obj[:60]} appears {found}x, want {n}"


# --- the rewrite on its own (no transformers needed) ---------------------------------------------

def _row_messages(synthetic_rows):
    return synthetic_rows["agentic_code"][0]["messages"]


def test_arguments_become_objects_null_keys_go_and_the_input_is_untouched(synthetic_rows):
    messages = _row_messages(synthetic_rows)
    before = json.dumps(messages, sort_keys=True)
    out = template_messages(messages, "qwen2.5")
    assert json.dumps(messages, sort_keys=True) == before
    assert all(None not in m.values() for m in out)
    assert [c["function"]["arguments"] for m in out for c in m.get("tool_calls", [])][:2] == [
        {"input": "open('s.csv').read().split(',')"}, {"command": "grep -n encoding loader.py"}]
    assert [m["role"] for m in out] == [m["role"] for m in messages]   # Qwen 2.5 needs nothing else


def test_parallel_calls_become_single_steps_each_followed_by_its_own_result(synthetic_rows):
    out = template_messages(_row_messages(synthetic_rows), "llama3.1")
    assert all(len(m.get("tool_calls", [])) <= 1 for m in out)
    steps = [(m["role"], m["tool_calls"][0]["function"]["name"] if m.get("tool_calls") else m.get("tool_call_id"))
             for m in out if m["role"] == "tool" or m.get("tool_calls")]
    ids = {m["tool_calls"][0]["id"]: m["tool_calls"][0]["function"]["name"] for m in out if m.get("tool_calls")}
    # Bash then its grep result, Edit then its edit result: the stored results came back Edit first
    bash, edit = [i for i, n in ids.items() if n in ("Bash", "Edit")][:2]
    assert steps[2:6] == [("assistant", "Bash"), ("tool", bash), ("assistant", "Edit"), ("tool", edit)]
    # the two unanswered calls at the end stay two steps
    assert [m["tool_calls"][0]["function"]["arguments"]["command"] for m in out[-2:]] == [
        "git add loader.py", "git commit -m 'utf-8 writer'"]


def test_text_beside_calls_becomes_its_own_message_just_before_the_call(synthetic_rows):
    out = template_messages(_row_messages(synthetic_rows), "llama3.1")
    i = next(i for i, m in enumerate(out) if m["content"] == "Let me reproduce it first.")
    assert "tool_calls" not in out[i] and out[i + 1]["tool_calls"][0]["function"]["name"] == "python"
    assert out[i + 1]["content"] == ""


def test_strict_alternation_merges_turns_without_losing_text(synthetic_rows):
    messages = _row_messages(synthetic_rows)
    out = template_messages(messages, "mistral")
    talk = [m["role"] for m in out if not (m["role"] == "tool" or m.get("tool_calls"))]
    assert talk == ["user", "assistant"] * (len(talk) // 2) + ["user"] * (len(talk) % 2)
    first = out[0]
    assert first["role"] == "user" and first["content"].startswith("Answer tersely")   # system folded in
    assert "Zoë,Ångström" in first["content"]                                           # consecutive users merged
    # the turn's texts follow its tool steps, in their order
    closing = next(m for m in out if m["content"].startswith("Let me reproduce"))
    assert closing["content"].split("\n\n") == ["Let me reproduce it first.",
                                               "Reading works; the writer must be the problem.",
                                               "Fixed: loader.py now writes UTF-8."]
    assert closing["reasoning_content"].startswith("The writer hard-codes")
    # the call the user interrupted is closed by an empty assistant turn, not by invented text
    interrupted = next(i for i, m in enumerate(out) if m.get("tool_calls")
                       and m["tool_calls"][0]["function"]["arguments"] == {"command": "pytest -q"})
    assert out[interrupted + 1] == {"role": "assistant", "content": ""}
    assert out[interrupted + 2]["content"] == "Never mind, I ran them: 4 passed."
    texts = " ".join(m["content"] for m in out)
    assert all(m["content"].strip() in texts for m in messages if m["role"] != "tool")


def test_runs_of_same_role_messages_alternate_for_strict_templates(synthetic_rows):
    messages = synthetic_rows["same_role"][0]["messages"]
    mistral = template_messages(messages, "mistral")
    assert [(m["role"], bool(m.get("tool_calls"))) for m in mistral] == [
        ("user", False), ("assistant", True), ("tool", False), ("assistant", True),
        ("assistant", False), ("user", False), ("assistant", False)]
    assert mistral[0]["content"] == "Plot the sales file.\n\nIt is sales.csv, columns month and total."
    assert mistral[4]["content"] == "Sure, loading it.\n\nLoaded 12 rows.\n\nNow the plot."
    gemma = template_messages(messages, "gemma3")
    assert [m["role"] for m in gemma] == ["user", "assistant", "user", "assistant", "user", "assistant"]
    assert gemma[3]["content"].startswith("Loaded 12 rows.\n\nNow the plot.\n\n```tool_call\n")
    assert gemma[-1]["reasoning_content"] == "The user wants bars, not lines."


def test_fixed_length_ids_match_between_calls_and_results(synthetic_rows):
    out = template_messages(_row_messages(synthetic_rows), "mistral")
    call_ids = [c["id"] for m in out for c in m.get("tool_calls", [])]
    answered = [m["tool_call_id"] for m in out if m["role"] == "tool"]
    assert call_ids[:2] == ["call00001", "call00002"] and len(set(call_ids)) == len(call_ids)
    assert all(len(i) == 9 and i.isalnum() for i in call_ids) and set(answered) <= set(call_ids)


def test_without_native_tools_calls_and_results_become_text_in_alternating_turns(synthetic_rows):
    out = template_messages(_row_messages(synthetic_rows), "gemma3")
    roles = [m["role"] for m in out]
    assert roles[0] == "system" and all(a != b for a, b in zip(roles[1:], roles[2:]))
    assert set(roles) == {"system", "user", "assistant"} and not any(m.get("tool_calls") for m in out)
    text = "\n".join(m["content"] for m in out)
    edit = '{"name": "Edit", "arguments": {"new": "utf-8", "old": "ascii", "path": "loader.py"}}'
    assert f"```tool_call\n{edit}\n```" in text
    assert "```tool_output\n12: open(path, encoding='ascii')\n```" in text


def test_fences_outgrow_backticks_inside_tool_output():
    messages = [{"role": "user", "content": "go"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "Read", "arguments": "{}"}}]},
                {"role": "tool", "content": "```python\nx = 1\n```", "tool_call_id": "call_1"}]
    out = template_messages(messages, "gemma3")
    assert out[-1]["content"] == "````tool_output\n```python\nx = 1\n```\n````"


def test_strict_profiles_refuse_a_conversation_that_starts_with_the_assistant():
    with pytest.raises(ValueError, match="starts with an assistant turn"):
        template_messages([{"role": "assistant", "content": "hi"}], "mistral")
    assert template_messages([{"role": "assistant", "content": "hi"}], "qwen3") == [
        {"role": "assistant", "content": "hi"}]


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(ValueError, match="qwen2.5"):
        template_messages([], "qwen9")


def test_tools_decode_from_the_lane_json_string(synthetic_rows):
    row = synthetic_rows["agentic_code"][0]
    tools = template_tools(row["tools"])
    assert {t["function"]["name"] for t in tools} == {"python", "Bash", "Edit"}
    assert template_tools(None) is None and template_tools("[]") is None


# --- rendered with the real templates ------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_probing_a_template_finds_its_profile(tokenizers, family):
    assert probe_profile(tokenizers[family]) == PROFILES[family]


def test_rows_as_stored_break_these_templates(tokenizers, synthetic_rows):
    """The reported problem, on the templates themselves: what template_messages exists to fix."""
    row = synthetic_rows["agentic_code"][0]
    tools = template_tools(row["tools"])

    def raw(family):
        return tokenizers[family].apply_chat_template(row["messages"], tools=tools, tokenize=False)

    stored = calls_of(row)[1]["function"]["arguments"]
    assert json.dumps(stored, ensure_ascii=False) in raw("qwen2.5")   # double-encoded
    with pytest.raises(Exception, match="single tool-calls"):
        raw("llama3.1")
    with pytest.raises(Exception, match="must alternate"):
        raw("mistral")
    with pytest.raises(Exception, match="must alternate"):
        raw("gemma3")


@pytest.mark.parametrize("family", ["llama3.1", "mistral", "gemma3"])
def test_every_workaround_of_a_profile_is_needed(tokenizers, synthetic_rows, family):
    """Undo any one of a profile's workarounds and the template raises or loses text."""
    row = synthetic_rows["agentic_code"][0]
    profile, default = PROFILES[family], TemplateProfile()
    undone = [name for name in attrs.fields_dict(TemplateProfile) if getattr(profile, name) != getattr(default, name)]
    assert undone
    for name in undone:
        weaker = attrs.evolve(profile, **{name: getattr(default, name)})
        with pytest.raises(Exception):   # a template error, or a missing text / arguments
            text = tokenizers[family].apply_chat_template(template_messages(row["messages"], weaker),
                                                          tools=template_tools(row["tools"]), tokenize=False)
            assert_rendered_faithfully(row, text, family)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("lane", ["agentic_code", "conversational", "same_role"])
def test_lane_rows_render_with_every_template(tokenizers, synthetic_rows, family, lane):
    for row in synthetic_rows[lane]:
        text = render_row(tokenizers[family], row, family)
        assert_rendered_faithfully(row, text, family)
        if family == "qwen3":   # Qwen 3 renders reasoning for the turns after the last user message
            last = [m for m in row["messages"] if m["role"] == "assistant"][-1]
            if last["reasoning_content"]:
                assert last["reasoning_content"] in text


def test_render_row_probes_the_profile_when_none_is_given(tokenizers, synthetic_rows):
    row = synthetic_rows["agentic_code"][0]
    assert render_row(tokenizers["mistral"], row) == render_row(tokenizers["mistral"], row, "mistral")


# --- datasets and TRL ----------------------------------------------------------------------------

def _lane_dataset(synthetic_rows, tmp_path):
    datasets = pytest.importorskip("datasets")
    if not hasattr(datasets, "Json"):
        pytest.skip("template_dataset needs datasets >= 4.7 (the Json feature type)")
    path = tmp_path / "train.claude.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in synthetic_rows["agentic_code"]))
    return datasets.load_dataset("json", data_files=str(path), split="train")


def test_template_dataset_keeps_each_message_its_own_keys_and_object_arguments(synthetic_rows, tmp_path):
    ds = _lane_dataset(synthetic_rows, tmp_path)
    out = template_dataset(ds, "llama3.1")
    messages = out[0]["messages"]
    assert messages == template_messages(synthetic_rows["agentic_code"][0]["messages"], "llama3.1")
    assert out[0]["tools"] == ds[0]["tools"]   # still the JSON string SFTTrainer decodes
    # why Json: decoding in place through Arrow gives every call every other call's keys, as nulls
    def decode(row):
        for m in row["messages"]:
            for call in m["tool_calls"] or []:
                call["function"]["arguments"] = json.loads(call["function"]["arguments"])
        return row
    struct_args = [c["function"]["arguments"] for m in ds.map(decode)[0]["messages"] for c in m["tool_calls"] or []]
    assert None in struct_args[1].values()


@pytest.mark.slow
def test_sft_trainer_trains_on_template_dataset_rows(synthetic_rows, tmp_path, tokenizers):
    pytest.importorskip("torch", reason="needs torch")
    pytest.importorskip("trl", reason="needs trl")
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl import SFTConfig, SFTTrainer

    ds = template_dataset(_lane_dataset(synthetic_rows, tmp_path), "qwen2.5").select_columns(["messages", "tools"])
    tokenizer = tokenizers["qwen2.5"]
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=8192))
    args = SFTConfig(output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=1,
                     assistant_only_loss=True, max_length=8192, use_cpu=True, save_strategy="no", report_to=[])
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer)
    tokenized = trainer.train_dataset[0]
    text = tokenizer.decode(tokenized["input_ids"])
    assert_rendered_faithfully(synthetic_rows["agentic_code"][0], text, "qwen2.5")
    assert any(label != -100 for label in tokenized["labels"])   # assistant tokens carry the loss
    assert math.isfinite(trainer.train().training_loss)


def test_the_docs_example_runs_as_written(tokenizers, synthetic_workspace, monkeypatch, capsys):
    """docs/lanes.md, "Chat templates and tool calls", up to the trainer (which would fetch an 8B model)."""
    pytest.importorskip("trl", reason="the example imports trl")
    import re

    import transformers

    section = (Path(__file__).resolve().parents[1] / "docs" / "lanes.md").read_text().split(
        "### Chat templates and tool calls", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    setup, trainer_line, _ = block.partition("trainer = ")
    assert trainer_line
    folder = synthetic_workspace.distill_dir("agentic_code", "distill_chat")
    setup = setup.replace("reports/distillations/agentic_code/<run_id>", str(folder))
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **kw: tokenizers["llama3.1"])
    scope: dict = {}
    exec(compile(setup, "docs/lanes.md", "exec"), scope)
    assert scope["profile"] == PROFILES["llama3.1"]
    assert all(len(m.get("tool_calls", [])) <= 1 for m in scope["train"][0]["messages"])
    assert '"parameters": {"command": "grep -n encoding loader.py"}' in capsys.readouterr().out


# --- real exports --------------------------------------------------------------------------------

#: Exports with tool traffic (parallel Claude Code calls, code-interpreter runs, claude.ai artifacts)
#: and plain chats.
REAL_PICKS = {
    "chatgpt": ["chatgpt/realazthat__chatgpt2graph__examples__conversations.json",
                "chatgpt/yoonchoonkoon__chatgpt-archive__DERIVED_selected_conversations.json"],
    "claude": ["claude/Superkikim__nexus-ai-chat-importer__local_resources__Claude.json",
               "claude_code/marot__spotter__test__fixtures__transcripts__tool_heavy.jsonl",
               "claude_code/marot__spotter__test__fixtures__transcripts__short.jsonl"],
    "deepseek": ["deepseek/ceyaima__deepseek-exporter__samples__DeepSeek_-_sample_2025-05-21T17-13-38__at_commit_179ac78.json"],
}


@pytest.fixture(scope="module")
def real_rows(tmp_path_factory):
    from moonshine_core.distill import distill
    from moonshine_core.plugins import make_plugin_manager
    from real_fixtures import merged_real_workspace

    pm = make_plugin_manager()
    ws, _ = merged_real_workspace(tmp_path_factory.mktemp("real-chat-templates") / "ws", REAL_PICKS,
                                  settings='[lanes]\nreasoning_policy = "keep_raw"\n')
    distill(ws, lanes=["agentic_code", "conversational"], pm=pm, run_id="distill_real_chat")
    rows = [r for lane in ("agentic_code", "conversational") for r in fx.lane_rows(ws, lane, "distill_real_chat")]
    if not any(calls_of(r) for r in rows):
        pytest.skip("the picked real exports gave no row with tool calls")
    return rows


@pytest.mark.real_exports
@pytest.mark.parametrize("family", FAMILIES)
def test_real_export_rows_render_with_every_template(tokenizers, real_rows, family):
    # a real tool output may quote its call's arguments, so counts are lower bounds here
    for row in real_rows:
        text = render_row(tokenizers[family], row, family)
        assert_rendered_faithfully(row, text, family, exact_counts=False)
    assert any(len(m["tool_calls"] or []) > 1 for r in real_rows for m in r["messages"]), \
        "the picks should include parallel calls"
