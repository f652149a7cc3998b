import hashlib

from hypothesis import given
from hypothesis import strategies as st

from moonshine_core.ids import conversation_uid, message_uid

ident = st.text(min_size=0, max_size=40)


def test_message_uid_is_the_documented_recipe():
    expected = hashlib.sha256("chatgpt\x1fconv-1\x1fmsg-9".encode()).hexdigest()
    assert message_uid("chatgpt", "conv-1", "msg-9") == expected
    assert conversation_uid("claude", "c") == hashlib.sha256("claude\x1fc".encode()).hexdigest()


@given(ident, ident, ident)
def test_message_uid_is_stable(provider, conversation, message):
    assert message_uid(provider, conversation, message) == message_uid(provider, conversation, message)
    assert len(message_uid(provider, conversation, message)) == 64


@given(st.tuples(ident.filter(lambda s: "\x1f" not in s), ident.filter(lambda s: "\x1f" not in s),
                 ident.filter(lambda s: "\x1f" not in s)),
       st.tuples(ident.filter(lambda s: "\x1f" not in s), ident.filter(lambda s: "\x1f" not in s),
                 ident.filter(lambda s: "\x1f" not in s)))
def test_message_uid_is_distinct_for_distinct_keys(a, b):
    if a != b:
        assert message_uid(*a) != message_uid(*b)


@given(ident, ident)
def test_conversation_and_message_uids_never_collide(provider, conversation):
    assert conversation_uid(provider, conversation) != message_uid(provider, conversation, "")
