"""Built-in scorers (moonshine_score) and the text signals behind them."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import distill_fixtures as fx  # noqa: E402

from moonshine_core.distill.dedup import NearDupIndex, exact_groups  # noqa: E402
from moonshine_core.distill.textsignals import (  # noqa: E402
    Redactor,
    detect_language,
    find_sensitive,
    is_confirmation,
    is_correction,
    is_refusal,
)
from moonshine_core.plugins import make_plugin_manager  # noqa: E402
from moonshine_core.records import Conversation, Message  # noqa: E402


def scores_of(conversation):
    return {s.name: s for s in make_plugin_manager(load_entrypoints=False).score(conversation)}


def test_hook_score_quality_scorers_mark_corrections_tools_and_secrets():
    tools = scores_of(fx.tool_conversation()[0])
    assert tools["tool_errors"].value == 1.0 and tools["tool_errors"].detail["tool_calls"] == 3
    assert "secret:aws_access_key" in tools["sensitive"].flags
    correct = scores_of(fx.correction_conversation()[0])
    assert correct["corrections"].value == 1.0 and correct["corrections"].detail["message_ids"] == ["v3"]
    plain = scores_of(fx.plain_conversation()[0])
    assert plain["corrections"].value == 0.0 and plain["tool_errors"].value == 0.0
    # the operators' ranking: debugging and correction work above small talk
    assert tools["interaction_value"].value > plain["interaction_value"].value
    assert correct["interaction_value"].value > plain["interaction_value"].value
    assert plain["language"].detail["language"] == "en"


def test_scorers_read_only_the_active_branch_and_skip_hidden_text():
    conv = Conversation(conversation_id="c", current_leaf_id="a2", messages=[
        Message(message_id="s", role="system", text="I'm sorry, but I can't help with that.", hidden=True),
        Message(message_id="u", role="user", text="hi", parent_id="s"),
        Message(message_id="a1", role="assistant", text="I'm sorry, but I cannot help with that.", parent_id="u"),
        Message(message_id="a2", role="assistant", text="Hello! How can I help?", parent_id="u")])
    scores = scores_of(conv)
    assert scores["refusal"].value == 0.0 and scores["refusal"].flags == []


def test_refusal_correction_confirmation_detectors():
    assert is_refusal("I'm sorry, but I can't help with that request.")
    assert not is_refusal("Sure, here is the code you asked for.")
    assert is_correction("No, that's wrong: it returns None.")
    assert is_correction("It still doesn't work.\nTraceback (most recent call last):\n  File x")
    assert not is_correction("Now can you add tests?")
    assert is_confirmation("Correct, thanks!") and not is_confirmation("Thanks, but it still fails")


def test_sensitive_detection_validates_before_flagging():
    found = find_sensitive("mail bob@example.com, card 4539 1488 0343 6467, ip 10.0.0.1, ip 8.8.8.8, "
                           "key ghp_" + "a" * 36 + " and 1234 5678 9012 3456")
    assert found["pii:email"] == 1 and found["pii:credit_card"] == 1   # the second number fails Luhn
    assert found["pii:ipv4"] == 1 and found["secret:github_token"] == 1   # private IPs are not PII
    redactor = Redactor(["Jane Doe"])
    assert redactor.redact("Hi jane doe, key AKIAIOSFODNN7EXAMPLE") == "Hi [REDACTED_PERSONAL], key [REDACTED_AWS_ACCESS_KEY]"
    assert redactor.pii == 1 and redactor.secrets == 1


def test_language_detection_on_prose_not_code():
    assert detect_language("Bonjour, je voudrais savoir comment faire une tarte avec des pommes.")[0] == "fr"
    assert detect_language("こんにちは、元気ですか。今日は天気がいいですね。")[0] == "ja"
    assert detect_language("你好，今天天气很好，我们去公园散步吧。")[0] == "zh"
    assert detect_language("```python\nimport os\n```")[0] == "und"


def test_near_duplicates_cluster_across_providers_and_exact_groups():
    index = NearDupIndex()
    text = " ".join(f"word{i}" for i in range(60))
    index.add("claude\x1fb", text + " extra")
    index.add("chatgpt\x1fa", text)
    index.add("qwen\x1fc", " ".join(f"other{i}" for i in range(60)))
    clusters = index.clusters()
    assert clusters == {"claude\x1fb": "chatgpt\x1fa", "chatgpt\x1fa": "chatgpt\x1fa"}
    assert exact_groups([("u2", "h"), ("u1", "h"), ("u3", "k")]) == {"u1": "u1", "u2": "u1"}
