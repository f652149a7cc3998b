"""#12 item 5: an older export never overwrites newer content, also when message times tie."""

from moonshine_core.records import Conversation, Message
from moonshine_core.store import Provenance, Store
from moonshine_core.store.transfer import detach_all, upsert_run


def export_db(folder, name, text, updated_at):
    """A run DB of one conversation whose answer says ``text``; the answer's time never changes
    (an edit in place), only the conversation's update time does."""
    path = folder / f"{name}.db"
    prov = Provenance(provider="p", provider_run_id=f"p_{name}", source_file_sha256=name[0] * 64,
                      source_path=f"/exports/{name}", ingested_at="t")
    store = Store(path)
    store.write([Conversation(conversation_id="c1", updated_at=updated_at, current_leaf_id="m2", messages=[
        Message(message_id="m1", role="user", text="question", created_at=100.0),
        Message(message_id="m2", role="assistant", parent_id="m1", text=text, created_at=200.0)])], prov)
    store.seal()
    return path


def merge(mash, path):
    with mash.conn:
        counts = upsert_run(mash.conn, path)
    detach_all(mash.conn)
    return counts


def test_the_older_export_loses_a_message_time_tie(tmp_path):
    newer = export_db(tmp_path, "newer", "edited answer", updated_at=300.0)
    older = export_db(tmp_path, "older", "first answer", updated_at=250.0)
    mash = Store(tmp_path / "mash.db")
    merge(mash, newer)
    counts = merge(mash, older)
    assert counts["messages"].updated == 0 and counts["conversations"].updated == 0
    assert counts["messages"].skipped == 2
    assert mash.get_conversation("p", "c1").messages[1].text == "edited answer"
    mash.close()


def test_the_newer_export_wins_a_message_time_tie(tmp_path):
    newer = export_db(tmp_path, "newer", "edited answer", updated_at=300.0)
    older = export_db(tmp_path, "older", "first answer", updated_at=250.0)
    mash = Store(tmp_path / "mash.db")
    merge(mash, older)
    counts = merge(mash, newer)
    assert counts["messages"].updated == 1 and counts["conversations"].updated == 1
    assert mash.get_conversation("p", "c1").messages[1].text == "edited answer"
    mash.close()


def test_equal_times_everywhere_still_update(tmp_path):
    # Nothing says which is older: the later merge wins, as before.
    first = export_db(tmp_path, "first", "one answer", updated_at=300.0)
    second = export_db(tmp_path, "second", "another answer", updated_at=300.0)
    mash = Store(tmp_path / "mash.db")
    merge(mash, first)
    counts = merge(mash, second)
    assert counts["messages"].updated == 1
    assert mash.get_conversation("p", "c1").messages[1].text == "another answer"
    mash.close()
