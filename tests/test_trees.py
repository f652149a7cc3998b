from hypothesis import given
from hypothesis import strategies as st

from moonshine_core.records import Message
from moonshine_core.trees import (
    check_tree, choose_active_leaf, latest_leaf, link_by_time, path_to_root, repair_tree,
)


def msgs(pairs, times=None):
    return [Message(message_id=i, parent_id=p, role="user", created_at=(times or {}).get(i)) for i, p in pairs]


def test_dangling_parent_and_cycle_are_repaired():
    m = msgs([("a", "x"), ("b", "c"), ("c", "b"), ("d", "d")])
    assert len(check_tree(m)) >= 3
    repairs = repair_tree(m)
    assert repairs and check_tree(m) == []
    assert m[0].metadata["dangling_parent"] == "x"


def test_duplicate_ids_are_renamed():
    m = msgs([("a", None), ("a", "a")])
    repair_tree(m)
    assert [x.message_id for x in m] == ["a", "a#2"]
    assert check_tree(m) == []


def test_active_leaf_pointer_and_fallback():
    m = msgs([("r", None), ("x", "r"), ("y", "r")], {"x": 5.0, "y": 3.0})
    assert choose_active_leaf(m, "y") == ("y", False)
    assert choose_active_leaf(m, None) == ("x", True)
    assert choose_active_leaf(m, "gone") == ("x", True)
    assert path_to_root(m, "y") == ["r", "y"]


def test_latest_leaf_ties_go_to_the_later_message():
    m = msgs([("r", None), ("x", "r"), ("y", "r")])
    assert latest_leaf(m) == "y"


def test_link_by_time_is_stable():
    m = msgs([("b", None), ("a", None), ("c", None)], {"a": 1.0, "b": 1.0, "c": 0.5})
    link_by_time(m)
    assert [x.message_id for x in m] == ["c", "b", "a"]
    assert [x.parent_id for x in m] == [None, "c", "b"]


ids = st.sampled_from(list("abcdefgh"))


@given(st.lists(st.tuples(ids, st.none() | ids | st.just("zz")), max_size=12))
def test_repair_always_yields_a_sound_forest(pairs):
    m = msgs(pairs)
    repair_tree(m)
    assert check_tree(m) == []
    if m:
        leaf, _ = choose_active_leaf(m, None)
        assert path_to_root(m, leaf)[-1] == leaf
