"""Regeneration and paragen comparisons: the core's one rule (``regeneration_forks``) on ChatGPT trees."""

from __future__ import annotations

from moonshine_chatgpt import synthetic as syn
from moonshine_chatgpt.plugin import plugin
from moonshine_core.records import Comparison, Conversation, RawRecord
from moonshine_core.trees import check_tree

CID = "77000000-0000-4000-8000-0000000000aa"


def _tree() -> syn.TreeBuilder:
    t = syn.TreeBuilder()
    t.add("u1", t.root_id, "user", syn.text("Name a colour."))
    return t


def _normalize(t: syn.TreeBuilder, current: str) -> tuple[Conversation, list[Comparison]]:
    data = {"id": CID, "title": "t", "mapping": t.mapping, "current_node": current}
    records = plugin.moonshine_normalize(provider="chatgpt", raw=RawRecord(kind="conversation", data=data))
    conversation = records[0]
    assert isinstance(conversation, Conversation) and check_tree(conversation.messages) == []
    return conversation, [r for r in records[1:] if isinstance(r, Comparison)]


def _regen(comparisons: list[Comparison]) -> dict[str, Comparison]:
    return {c.prompt_message_id: c for c in comparisons if c.source == "regeneration"}


def test_retry_of_an_answer():
    t = _tree()
    t.add("a1", "u1", "assistant", syn.text("Red."))
    t.add("a2", "u1", "assistant", syn.text("Blue."))
    t.add("u2", "a2", "user", syn.text("Why?"))
    t.add("a3", "u2", "assistant", syn.text("Because."))
    _, comparisons = _normalize(t, "a3")
    regen = _regen(comparisons)
    assert list(regen) == ["u1"]
    c = regen["u1"]
    assert c.comparison_id == f"regen:{CID}:u1" and c.candidate_message_ids == ["a1", "a2"]
    assert c.chosen_message_ids == ["a2"] and c.rejected_message_ids == ["a1"] and c.chosen_is_inferred
    assert c.created_at == t.mapping["a2"]["message"]["create_time"]


def test_retry_after_a_tool_step_forks_at_the_tool_result():
    t = _tree()
    t.add("call", "u1", "assistant", syn.text('{"q": "colours"}'), recipient="web.run")
    t.add("res", "call", "tool", syn.text("red, blue"), name="web.run")
    t.add("f1", "res", "assistant", syn.text("Red."))
    t.add("f2", "res", "assistant", syn.text("Blue."))
    _, comparisons = _normalize(t, "f1")
    regen = _regen(comparisons)
    # The user asked again after the search: the alternatives hang from the tool result, not the prompt.
    assert list(regen) == ["res"]
    assert regen["res"].candidate_message_ids == ["f1", "f2"] and regen["res"].chosen_message_ids == ["f1"]


def test_nested_retries_are_one_comparison_per_fork():
    t = _tree()
    t.add("x1", "u1", "assistant", syn.text("Thinking aloud."), channel="commentary")
    t.add("f1", "x1", "assistant", syn.text("Red."), channel="final")
    t.add("f2", "x1", "assistant", syn.text("Green."), channel="final")
    t.add("x2", "u1", "assistant", syn.text("Blue."))
    _, comparisons = _normalize(t, "f1")
    regen = _regen(comparisons)
    assert set(regen) == {"u1", "x1"}
    # At the prompt each alternative counts once, by its final answer (the active one under x1).
    assert regen["u1"].candidate_message_ids == ["f1", "x2"] and regen["u1"].chosen_message_ids == ["f1"]
    assert regen["x1"].candidate_message_ids == ["f1", "f2"] and regen["x1"].rejected_message_ids == ["f2"]


def test_no_alternative_on_the_active_branch_infers_no_choice():
    t = _tree()
    t.add("a1", "u1", "assistant", syn.text("Red."))
    t.add("a2", "u1", "assistant", syn.text("Blue."))
    _, comparisons = _normalize(t, "u1")
    c = _regen(comparisons)["u1"]
    assert c.candidate_message_ids == ["a1", "a2"]
    assert c.chosen_message_ids == [] and c.rejected_message_ids == []


def test_hidden_and_empty_alternatives_are_not_answers():
    t = _tree()
    t.add("a1", "u1", "assistant", syn.text(""))  # an empty placeholder
    t.add("a2", "u1", "assistant", syn.text("Blue."))
    t.add("a3", "u1", "assistant", syn.text("Green."), channel="analysis")
    _, comparisons = _normalize(t, "a2")
    assert _regen(comparisons) == {}


def test_paragen_behind_a_hidden_node_uses_that_fork_and_gets_no_regeneration():
    t = _tree()
    t.add("a1", "u1", "assistant", syn.text("Red."))
    t.add("u2", "a1", "user", syn.text("Another?"), metadata={"paragen_variant_choice": "pv2"})
    t.add("rb", "u2", "system", syn.text(""), metadata={"rebase_system_message": True})
    t.add("pv1", "rb", "assistant", syn.text("Blue."))
    t.add("pv2", "rb", "assistant", syn.text("Green."))
    conversation, comparisons = _normalize(t, "pv1")
    paragen = [c for c in comparisons if c.source == "paragen"]
    assert len(paragen) == 1 and paragen[0].comparison_id == f"paragen:{CID}:u2"
    assert paragen[0].candidate_message_ids == ["pv1", "pv2"]
    assert paragen[0].chosen_message_ids == ["pv2"] and paragen[0].rejected_message_ids == ["pv1"]
    assert paragen[0].metadata["choice_on_active_branch"] is False
    assert _regen(comparisons) == {}


def test_paragen_choice_outside_the_tree_is_kept_as_named():
    t = _tree()
    t.add("a1", "u1", "assistant", syn.text("Red."), metadata={"paragen_variant_choice": "gone"})
    _, comparisons = _normalize(t, "a1")
    (paragen,) = comparisons
    assert paragen.prompt_message_id == "u1" and paragen.candidate_message_ids == ["gone"]
    assert paragen.chosen_message_ids == ["gone"] and paragen.rejected_message_ids == []
