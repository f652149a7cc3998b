"""Synthetic conversation trees for the distillation tests (written by us, modelled on docs/formats/).

Each builder returns records with a known answer: which answer is chosen,
which is rejected, which prompt has a checkable signal. ``make_mash`` writes
them into a workspace's mash through :meth:`Store.write`, one provider run
per provider.
"""

from __future__ import annotations

from pathlib import Path

from moonshine_core.records import (
    Comparison,
    Conversation,
    Feedback,
    Message,
    SideRecord,
    ToolCall,
    ToolResult,
)
from moonshine_core.provider import regeneration_comparisons
from moonshine_core.store import Provenance, Store
from moonshine_core.workspace import Workspace

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


def msg(mid, role, text="", parent=None, **kw):
    return Message(message_id=mid, role=role, text=text, parent_id=parent, created_at=kw.pop("t", None), **kw)


def thumbs_conversation(cid="c-thumbs"):
    """Two sibling answers: a1 thumbs down, a2 thumbs up and continued."""
    conv = Conversation(conversation_id=cid, current_leaf_id="a3", created_at=1000.0, messages=[
        msg("u1", "user", "Convert 3 km to miles.", t=1000.0),
        msg("a1", "assistant", "3 km is 4.83 miles.", "u1", model="gpt-4o", t=1001.0),
        msg("a2", "assistant", "3 km is about 1.86 miles.", "u1", model="gpt-4o", t=1002.0),
        msg("u2", "user", "And 5 km?", "a2", t=1003.0),
        msg("a3", "assistant", "5 km is about 3.11 miles.", "u2", model="gpt-4o", t=1004.0),
    ])
    feedback = [Feedback(feedback_id="f1", rating="thumbs_down", conversation_id=cid, message_id="a1",
                         text="wrong!", created_at=1005.0),
                Feedback(feedback_id="f2", rating="thumbs_up", conversation_id=cid, message_id="a2", created_at=1006.0)]
    return [conv, *feedback]


def side_by_side_conversation(cid="c-sbs"):
    """A paragen-style explicit choice: b2 chosen over b1, though b1 is on the active branch."""
    conv = Conversation(conversation_id=cid, current_leaf_id="b1", created_at=2000.0, messages=[
        msg("s0", "system", "You are ChatGPT.", hidden=True, hidden_reason="system"),
        msg("p1", "user", "Name a prime number above 10.", "s0"),
        msg("b1", "assistant", "Eleven is prime; so is 13 and 17 too.", "p1", model="gpt-4o"),
        msg("b2", "assistant", "13 is a prime number above 10.", "p1", model="gpt-4o-mini"),
    ])
    comp = Comparison(comparison_id="paragen:1", source="paragen", conversation_id=cid, prompt_message_id="p1",
                      chosen_message_ids=["b2"], rejected_message_ids=["b1"], candidate_message_ids=["b1", "b2"],
                      rating="chosen")
    return [conv, comp]


def regeneration_conversation(cid="c-regen"):
    """Three regenerated answers; r3 is on the active branch and was continued."""
    conv = Conversation(conversation_id=cid, current_leaf_id="r4", created_at=3000.0, messages=[
        msg("q1", "user", "Write a haiku about rain."),
        msg("r1", "assistant", "Rain falls on the roof\nsoft drums in the quiet night\nthe garden drinks deep", "q1"),
        msg("r2", "assistant", "Grey clouds gather slow\nwater threads the window pane\nstreets shine like rivers", "q1"),
        msg("r3", "assistant", "Drops tap the tin roof\na slow song for sleeping cats\nmorning smells of earth", "q1"),
        msg("q2", "user", "Lovely, now one about snow.", "r3"),
        msg("r4", "assistant", "White hush on the pines\nfootprints fill before dawn comes\nthe world holds its breath", "q2"),
    ])
    return [conv]


def correction_conversation(cid="c-correct"):
    """The user corrects k2, accepts k3."""
    conv = Conversation(conversation_id=cid, current_leaf_id="k4", created_at=4000.0, messages=[
        msg("v1", "user", "Write a Python function that reverses a string."),
        msg("k2", "assistant", "def rev(s):\n    return s.reverse()", "v1"),
        msg("v3", "user", "No, that's wrong: str has no reverse method, it raises AttributeError.", "k2"),
        msg("k3", "assistant", "You're right. Use slicing:\n\ndef rev(s):\n    return s[::-1]", "v3"),
        msg("v4", "user", "Great, thanks. Can you add a docstring?", "k3"),
        msg("k4", "assistant", 'def rev(s):\n    """Return s reversed."""\n    return s[::-1]', "v4"),
    ])
    return [conv]


def tool_conversation(cid="c-tools"):
    """A Claude-Code-like session: a failing test run, a fix, a passing run, a final answer."""
    conv = Conversation(conversation_id=cid, current_leaf_id="x6", created_at=5000.0, messages=[
        msg("x1", "user", f"Fix the failing test in utils.py. My key is {AWS_KEY}, do not print it."),
        msg("x2", "assistant", "Let me run the tests.", "x1", model="claude-sonnet-4",
            tool_calls=[ToolCall(name="Bash", arguments={"command": "pytest -q"}, call_id="tu1")]),
        msg("x3", "tool", "", "x2", tool_results=[ToolResult(content="FAILED test_utils.py::test_slug - AssertionError\n" + "x" * 9000,
                                                              call_id="tu1", is_error=True)]),
        msg("x4", "assistant", "", "x3", model="claude-sonnet-4",
            tool_calls=[ToolCall(name="Edit", arguments={"path": "utils.py", "old": "a", "new": "b"}, call_id="tu2"),
                        ToolCall(name="Bash", arguments={"command": "pytest -q"}, call_id="tu3")]),
        msg("x5", "tool", "", "x4", tool_results=[ToolResult(content="ok", call_id="tu2", is_error=False),
                                                   ToolResult(content="3 passed in 0.1s", call_id="tu3", is_error=False)]),
        msg("x6", "assistant", "Fixed: the slug helper now lower-cases its input; all 3 tests pass.", "x5",
            model="claude-sonnet-4", reasoning="The test expects lower case.", reasoning_kind="raw"),
    ])
    return [conv]


def math_conversation(cid="c-math"):
    conv = Conversation(conversation_id=cid, current_leaf_id="m4", created_at=6000.0, messages=[
        msg("m1", "user", "What is 17 * 23?"),
        msg("m2", "assistant", "17 * 23 = 391", "m1"),
        msg("m3", "user", "Correct, thanks!", "m2"),
        msg("m4", "assistant", "You're welcome.", "m3"),
    ])
    return [conv]


def plain_conversation(cid="c-plain", text="Tell me about the history of tea in England and its customs."):
    """No checkable signal, no tools, no branches."""
    conv = Conversation(conversation_id=cid, current_leaf_id="z2", created_at=7000.0, messages=[
        msg("z1", "user", text + " Contact me at jane.doe@example.org, I am Jane Doe."),
        msg("z2", "assistant", "Tea arrived in England in the 17th century and became a daily ritual with "
                               "afternoon tea popularised by the Duchess of Bedford.", "z1"),
    ])
    return [conv]


def apology_correction_conversation(cid="c-apology"):
    """A correction pair whose later answer opens by apologising for the corrected one; what follows
    the apology still points back at it ("the corrected answer"), so stripping cannot save the pair."""
    conv = Conversation(conversation_id=cid, current_leaf_id="w6", created_at=4500.0, messages=[
        msg("w1", "user", "What is the capital of Australia?"),
        msg("w2", "assistant", "The capital of Australia is Sydney.", "w1"),
        msg("w3", "user", "No, that's wrong.", "w2"),
        msg("w4", "assistant", "I apologize for the confusion in my previous answer. Here is the corrected answer: "
                               "Canberra is the capital of Australia.", "w3"),
        msg("w5", "user", "Thanks!", "w4"),
        msg("w6", "assistant", "You're welcome.", "w5"),
    ])
    return [conv]


def sbs_apology_conversation(cid="c-sbs-sorry"):
    """The explicit choice of :func:`side_by_side_conversation`, its chosen answer apologising although
    the prompt holds no earlier answer."""
    conv, comp = side_by_side_conversation(cid)
    conv.messages[3].text = "Sorry for the confusion! 13 is a prime number above 10."
    return [conv, comp]


def kto_conversation(cid="c-kto"):
    """KTO edge cases in one tree:

    - ``n2`` (abandoned sibling, thumbs down, no follow-up): label false from the rating;
    - ``n3`` (kept) is followed by a hesitant turn ("Actually, make it shorter"): no label;
    - ``n5`` is a refusal the user pushes back on: no label is inferred for a refusal;
    - ``n7`` got a thumbs up although the next turn corrects it: the rating wins, ``label_conflict``;
    - ``n9`` is the last answer: nothing follows it, no row.
    """
    conv = Conversation(conversation_id=cid, current_leaf_id="n9", created_at=8000.0, messages=[
        msg("n1", "user", "Suggest a name for a bakery.", t=8000.0),
        msg("n2", "assistant", "Bread.", "n1", model="gpt-4o", t=8001.0),
        msg("n3", "assistant", "How about 'The Rolling Pin'? It is friendly and easy to remember.", "n1",
            model="gpt-4o", t=8002.0),
        msg("n4", "user", "Actually, make it shorter.", "n3", t=8003.0),
        msg("n5", "assistant", "I'm sorry, but I can't help with that.", "n4", model="gpt-4o", t=8004.0),
        msg("n6", "user", "No, that's wrong, it is just a name.", "n5", t=8005.0),
        msg("n7", "assistant", "'Crumb' is short and warm.", "n6", model="gpt-4o", t=8006.0),
        msg("n8", "user", "No, that's not what I asked, but fine. Now a slogan?", "n7", t=8007.0),
        msg("n9", "assistant", "'Baked fresh, every morning.'", "n8", model="gpt-4o", t=8008.0),
    ])
    feedback = [Feedback(feedback_id="kf1", rating="thumbs_down", conversation_id=cid, message_id="n2", created_at=8010.0),
                Feedback(feedback_id="kf2", rating="thumbs_up", conversation_id=cid, message_id="n7", created_at=8011.0)]
    return [conv, *feedback]


def personal_side():
    return SideRecord(kind="user", record_id="user:1", personal=True,
                      data={"email": "jane.doe@example.org", "name": "Jane Doe", "id": "user-xyz"})


def provenance(provider, run_id):
    return Provenance(provider=provider, provider_run_id=run_id, source_file_sha256="0" * 64,
                      source_path=f"/exports/{provider}.json", ingested_at="2026-01-01T00:00:00Z")


def default_records():
    return {
        "chatgpt": [*thumbs_conversation(), *side_by_side_conversation(), *regeneration_conversation(),
                    *correction_conversation(), *math_conversation(), *plain_conversation(), personal_side()],
        "claude": [*tool_conversation(), *plain_conversation("c-plain-claude"),
                   *correction_conversation("c-correct-claude")],
    }


def make_mash(root: Path, records_by_provider=None, settings: str = "") -> Workspace:
    """A workspace at ``root`` whose mash holds ``records_by_provider`` (default: :func:`default_records`)."""
    root.mkdir(parents=True, exist_ok=True)
    if settings:
        (root / "moonshine.toml").write_text(settings)
    ws = Workspace.open(root)
    ws.mash_path.parent.mkdir(parents=True, exist_ok=True)
    with Store(ws.mash_path) as store:
        for provider, records in sorted((records_by_provider or default_records()).items()):
            store.write(with_regenerations(records), provenance(provider, f"{provider}_20260101_000000"))
    return ws


def with_regenerations(records: list) -> list:
    """``records`` plus the regeneration comparisons a provider plugin derives with the toolkit."""
    have = {r.comparison_id for r in records if isinstance(r, Comparison)}
    extra = [c for r in records if isinstance(r, Conversation)
             for c in regeneration_comparisons(r) if c.comparison_id not in have]
    return list(records) + extra


def read_jsonl(path: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def lane_rows(ws: Workspace, lane: str, run_id: str, group: str | None = None) -> list[dict]:
    """Every row of a lane folder's data files (train and eval), optionally of one provider/mix group."""
    folder = ws.distill_dir(lane, run_id)
    rows = []
    for path in sorted(folder.glob("*.jsonl")):
        if group is None or path.name.split(".")[1] == group:
            if group is None and path.name.split(".")[1] == "mix":
                continue
            rows.extend(read_jsonl(path))
    return rows


# -- opening turns, uploads and role order (tests/test_opening_turns.py) -------------------------

def upload_first_conversation(cid="c-upload-first"):
    """The first user turn is an upload with no text; hidden plumbing reads it before the first answer."""
    from moonshine_core.records import Attachment

    report = Attachment(kind="file", name="report.pdf", mime_type="application/pdf", pointer="file-123")
    conv = Conversation(conversation_id=cid, current_leaf_id="f6", created_at=9000.0, messages=[
        msg("f0", "system", "", hidden=True, hidden_reason="visually_hidden"),
        msg("f1", "user", "", "f0", attachments=[report]),
        msg("f1t", "tool", "", "f1", hidden=True, hidden_reason="tool_result",
            tool_results=[ToolResult(content="Revenue grew 12% in 2024; costs fell.")]),
        msg("f2", "assistant", "The report says revenue grew 12% in 2024 while costs fell.", "f1t", model="gpt-4o"),
        msg("f3", "user", "What is 15% of 80?", "f2"),
        msg("f4", "assistant", "15% of 80 = 12", "f3", model="gpt-4o"),
        msg("f5", "user", "Correct, thanks! Now summarise the outlook section.", "f4"),
        msg("f6", "assistant", "The outlook section expects stable demand next year.", "f5", model="gpt-4o"),
    ])
    return [conv]


def upload_between_answers_conversation(cid="c-upload-between"):
    """An upload with no text between two answers that have nothing to do with each other."""
    from moonshine_core.records import Attachment

    notes = Attachment(kind="file", name="notes.docx", pointer="file-456")
    conv = Conversation(conversation_id=cid, current_leaf_id="g6", created_at=9100.0, messages=[
        msg("g1", "user", "Can you open https://example.com/share/abc and summarise it?"),
        msg("g2", "assistant", "I am unable to open external links, but you can paste the text here.", "g1"),
        msg("g3", "user", "", "g2", attachments=[notes]),
        msg("g4", "assistant", "I see you uploaded notes.docx. What would you like me to do with it?", "g3"),
        msg("g5", "user", "List the three main points of the document.", "g4"),
        msg("g6", "assistant", "The notes cover planning, budget and staffing.", "g5"),
    ])
    return [conv]


def greeting_first_conversation(cid="c-greeting"):
    """The assistant speaks first (a custom assistant's greeting) before any user turn."""
    conv = Conversation(conversation_id=cid, current_leaf_id="h4", created_at=9200.0, messages=[
        msg("h0", "assistant", "Hello! I am your maths tutor. What shall we work on today?"),
        msg("h1", "user", "What is 17 * 3?", "h0"),
        msg("h2", "assistant", "17 * 3 = 51", "h1"),
        msg("h3", "user", "Correct, thanks! Next: what is a prime number?", "h2"),
        msg("h4", "assistant", "A prime number has exactly two divisors: 1 and itself.", "h3"),
    ])
    return [conv]


def consecutive_users_conversation(cid="c-two-users"):
    """Two user messages in a row (the user hit enter early), then the answer to both."""
    conv = Conversation(conversation_id=cid, current_leaf_id="k5", created_at=9300.0, messages=[
        msg("k1", "user", "I have a question about Python lists."),
        msg("k2", "user", "How do I reverse one in place?", "k1"),
        msg("k3", "assistant", "Call my_list.reverse(); it reverses the list in place and returns None.", "k2"),
        msg("k4", "user", "And without changing the original?", "k3"),
        msg("k5", "assistant", "Use reversed(my_list) or the slice my_list[::-1].", "k4"),
    ])
    return [conv]
