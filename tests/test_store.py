import apsw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moonshine_core.errors import StoreError
from moonshine_core.records import Comparison, Conversation, Feedback, Message, SideRecord, ToolCall, ToolResult
from moonshine_core.store import Provenance, Store, schema
from moonshine_core.store.db import connect, schema_version

PROV = Provenance(provider="test", provider_run_id="test_20260101_000000", source_file_sha256="0" * 64,
                  source_path="/exports/x.json", ingested_at="2026-01-01T00:00:00Z")


def conversation(cid="c1", text="answer", updated=10.0):
    return Conversation(
        conversation_id=cid, title="t", updated_at=updated, current_leaf_id="m3", raw={"id": cid},
        messages=[
            Message(message_id="m1", role="user", text="question", created_at=1.0),
            Message(message_id="m2", role="assistant", parent_id="m1", text=text, created_at=2.0,
                    tool_calls=[ToolCall(name="python", arguments="print(1)", call_id="t1")]),
            Message(message_id="m3", role="tool", parent_id="m2", created_at=3.0,
                    tool_results=[ToolResult(content="1", call_id="t1", is_error=False)]),
        ])


def test_schema_is_created_with_version_and_provenance_columns(tmp_path):
    store = Store(tmp_path / "a.db")
    assert schema_version(store.conn) == schema.SCHEMA_VERSION
    for table in schema.RECORD_TABLES:
        cols = {r[1] for r in store.conn.execute(f"pragma table_info({table})")}
        assert set(schema.PROVENANCE_COLUMNS) <= cols, table
    assert store.conn.execute("pragma journal_mode").get == "wal"
    assert store.conn.execute("pragma foreign_keys").get == 1
    store.close()


def test_forward_migration_runs_each_missing_step(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    Store(path).close()
    extra = "ALTER TABLE runs ADD COLUMN note TEXT;"
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS + [extra])
    import moonshine_core.store.db as db
    monkeypatch.setattr(db, "MIGRATIONS", schema.MIGRATIONS)
    monkeypatch.setattr(db, "SCHEMA_VERSION", len(schema.MIGRATIONS))
    conn = connect(path)
    assert schema_version(conn) == len(schema.MIGRATIONS)
    assert "note" in {r[1] for r in conn.execute("pragma table_info(runs)")}
    conn.close()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.db"
    Store(path).close()
    conn = apsw.Connection(str(path))
    conn.execute(f"pragma user_version = {schema.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this moonshine-core"):
        Store(path)


def test_foreign_database_is_refused(tmp_path):
    path = tmp_path / "foreign.db"
    conn = apsw.Connection(str(path))
    conn.execute("create table x(y)")
    conn.close()
    with pytest.raises(StoreError, match="not a Moonshine database"):
        Store(path)


def test_batched_upsert_counts_inserted_updated_skipped(tmp_path):
    store = Store(tmp_path / "a.db")
    first = store.write([conversation(), Feedback(feedback_id="f1", rating="thumbs_up")], PROV)
    assert first["conversations"].inserted == 1 and first["messages"].inserted == 3
    assert first["tool_events"].inserted == 2 and first["feedback"].inserted == 1
    again = store.write([conversation(), Feedback(feedback_id="f1", rating="thumbs_up")], PROV)
    assert all(c.inserted == 0 and c.updated == 0 for c in again.values())
    assert again["messages"].skipped == 3
    changed = store.write([conversation(text="better answer", updated=11.0), conversation("c2")], PROV)
    assert changed["conversations"].to_dict() == {"inserted": 1, "updated": 1, "skipped": 0}
    assert changed["messages"].to_dict() == {"inserted": 3, "updated": 1, "skipped": 2}
    store.close()


def test_older_source_never_overwrites_newer(tmp_path):
    store = Store(tmp_path / "a.db")
    store.write([conversation(text="new", updated=20.0)], PROV)
    old = conversation(text="old", updated=5.0)
    old.messages[1].created_at = 0.5
    counts = store.write([old], PROV)
    assert counts["conversations"].updated == 0 and counts["messages"].updated == 0
    assert store.get_conversation("test", "c1").messages[1].text == "new"
    store.close()


def test_rows_read_back_equal_records(tmp_path):
    store = Store(tmp_path / "a.db")
    records = [conversation(), Feedback(feedback_id="f", rating="thumbs_down", message_id="m2"),
               Comparison(comparison_id="k", source="paragen", chosen_message_ids=["m2"]),
               SideRecord(kind="user", record_id="u", personal=True, data={"email": "x"})]
    store.write(records, PROV)
    (_, back), = list(store.iter_conversations())
    assert back == records[0]
    assert store.feedback() == [records[1]]
    assert store.comparisons() == [records[2]]
    assert store.side_records() == [records[3]]
    events = list(store.rows("SELECT kind, paired_uid FROM tool_events ORDER BY kind"))
    assert all(e["paired_uid"] for e in events)
    active = [r["message_id"] for r in store.rows("SELECT message_id FROM messages WHERE on_active_branch = 1")]
    assert sorted(active) == ["m1", "m2", "m3"]
    store.close()


texts = st.text(max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["c1", "c2", "c3"]), texts), min_size=1, max_size=8))
def test_writing_the_same_batch_twice_changes_nothing(tmp_path_factory, batch):
    store = Store(tmp_path_factory.mktemp("db") / "a.db")
    records = {cid: conversation(cid, text) for cid, text in batch}
    store.write(list(records.values()), PROV)
    before = store.conn.total_changes()
    counts = store.write(list(records.values()), PROV)
    assert store.conn.total_changes() == before
    assert all(c.inserted == 0 and c.updated == 0 for c in counts.values())
    store.close()
