import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moonshine_core.errors import TokenizerError
from moonshine_core.records import Message, ToolCall, ToolResult
from moonshine_core.tokens import (
    TokenCounter,
    TokenCounts,
    counted_texts,
    default_encoding_file,
    load_encoding,
    verify_encoding_file,
)

SAMPLES = ["", "hello world", "Ünïcödé ✓ 你好世界 مرحبا", "def f(x):\n    return x ** 2\n",
           "quoted <|endoftext|> and <|endofprompt|> stay text", "  \n\n\t trailing  ", "🙂" * 50,
           "a" * 5000]


def test_counts_equal_tiktoken_exactly(tiktoken_reference):
    counter = TokenCounter()
    expected = [len(tiktoken_reference.encode(t, disallowed_special=())) for t in SAMPLES]
    assert counter.count_many(SAMPLES) == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=200), max_size=8))
def test_counts_equal_tiktoken_on_any_text(tiktoken_reference, texts):
    counter = TokenCounter()
    texts = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]
    assert counter.count_many(texts) == [len(tiktoken_reference.encode(t, disallowed_special=())) for t in texts]


def test_same_text_is_tokenised_once():
    counter = TokenCounter()
    counter.count_many(["one text", "another", "one text"])
    counter.count_many(["one text"])
    assert counter.tokenised == 2
    assert counter.cache_hits == 2


def test_packaged_file_is_verified():
    assert verify_encoding_file(default_encoding_file()) == \
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(TokenizerError, match="not found"):
        load_encoding(tmp_path / "nope.tiktoken")


def test_altered_file_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "o200k_base.tiktoken"
    shutil.copy(default_encoding_file(), bad)
    with open(bad, "ab") as handle:
        handle.write(b"x")
    monkeypatch.setenv("MOONSHINE_TIKTOKEN_FILE", str(bad))
    with pytest.raises(TokenizerError, match="altered"):
        TokenCounter()


def test_count_messages_counts_each_kind_of_each_message(tiktoken_reference):
    messages = [
        Message(message_id="a", role="assistant", text="the answer", reasoning="think first",
                tool_calls=[ToolCall(name="search", arguments={"q": "x"}, call_id="1")],
                tool_results=[ToolResult(content="found it", call_id="1")]),
        Message(message_id="b", role="user", text="hello"),
    ]
    assert counted_texts(messages[0]) == {"text": "the answer", "reasoning": "think first",
                                          "tool": 'search\n{"q":"x"}\nfound it'}

    def count(text):
        return len(tiktoken_reference.encode(text, disallowed_special=()))

    expected = [TokenCounts(**{kind: count(text) for kind, text in counted_texts(m).items()}) for m in messages]
    assert TokenCounter().count_messages(messages) == expected
    assert expected[1] == TokenCounts(text=count("hello"))
