"""The SQL merge path: exact counts and rows against a reference in Python, the incremental records
digest, the no-op re-merge, tamper detection by the change counter, the hard-linked archive."""

import itertools
import json
import os

import apsw
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moonshine_core.archive import archive_run
from moonshine_core.ingest import ingest
from moonshine_core.mash import records_check
from moonshine_core.merge import merge_run
from moonshine_core.plugins import make_plugin_manager
from moonshine_core.records import Conversation, Message
from moonshine_core.store import Provenance, Store, history
from moonshine_core.store.schema import RECORD_TABLES
from moonshine_core.store.transfer import detach_all, upsert_run
from moonshine_core.workspace import Workspace

counter = itertools.count()

# One export: conversations from a small pool, each with an answer text, an answer time and an update time.
exports = st.lists(
    st.lists(st.tuples(st.sampled_from(["c1", "c2", "c3"]), st.sampled_from(["a", "b", "c"]),
                       st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=3, unique_by=lambda t: t[0]),
    min_size=1, max_size=4)


def run_db(folder, n, items):
    path = folder / f"run{n}.db"
    prov = Provenance(provider="p", provider_run_id=f"p_{n}", source_file_sha256=str(n) * 64,
                      source_path=f"/exports/{n}", ingested_at="t")
    store = Store(path)
    store.write([Conversation(conversation_id=cid, updated_at=float(10 + upd), current_leaf_id="m2", messages=[
        Message(message_id="m1", role="user", text=f"question {cid}", created_at=0.0),
        Message(message_id="m2", role="assistant", parent_id="m1", text=text, created_at=float(when))])
        for cid, text, when, upd in items], prov)
    store.seal()
    return path


def rows_of(conn, table, schema="main"):
    cols = [c for c in history.columns_of(conn, table, schema) if c != "rev"]
    return {r[0]: dict(zip(cols, r)) for r in conn.execute(f"SELECT {', '.join(cols)} FROM {schema}.{table}")}


def reference_merge(ref, run):
    """The merge rule in Python: insert new uids; replace a row whose content changed unless the run's
    is older (source_time, then the conversation's updated_at on a tie). Returns counts."""
    counts = {}
    before_convs = dict(ref["conversations"])
    for table in RECORD_TABLES:
        ins = upd = 0
        for uid, new in run[table].items():
            old = ref[table].get(uid)
            if old is None:
                ref[table][uid] = new
                ins += 1
                continue
            if new["content_sha256"] == old["content_sha256"]:
                continue
            older = False
            if new["source_time"] is not None and old["source_time"] is not None:
                if new["source_time"] < old["source_time"]:
                    older = True
                elif new["source_time"] == old["source_time"]:
                    if table == "conversations":
                        a, b = new["updated_at"], old["updated_at"]
                    elif table in ("messages", "tool_events"):
                        a = run["conversations"][new["conversation_uid"]]["updated_at"]
                        b = before_convs[old["conversation_uid"]]["updated_at"]
                    else:
                        a = b = None
                    older = a is not None and b is not None and a < b
            if not older:
                ref[table][uid] = new
                upd += 1
        counts[table] = (ins, upd, len(run[table]) - ins - upd)
    return counts


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(exports, st.randoms(use_true_random=False))
def test_sql_merge_matches_the_reference_in_any_order(tmp_path_factory, runs, rnd):
    folder = tmp_path_factory.mktemp(f"s{next(counter)}")
    paths = [run_db(folder, n, items) for n, items in enumerate(runs)]
    order = list(range(len(paths))) * 2  # every run twice: the second time is a re-merge or a stale one
    rnd.shuffle(order)
    mash = Store(folder / "mash.db")
    with mash.conn:
        history.install_digest(mash.conn)
    ref = {t: {} for t in RECORD_TABLES}
    for i in order:
        reader = apsw.Connection(str(paths[i]), flags=apsw.SQLITE_OPEN_READONLY)
        run = {t: rows_of(reader, t) for t in RECORD_TABLES}
        reader.close()
        expected = reference_merge(ref, run)
        with mash.conn:
            counts = upsert_run(mash.conn, paths[i])
        detach_all(mash.conn)
        assert {t: (c.inserted, c.updated, c.skipped) for t, c in counts.items()} == expected
        for table in RECORD_TABLES:
            assert rows_of(mash.conn, table) == ref[table]
        # the digest kept by the merges equals the one computed from every row
        assert history.digest_of(mash.conn, history.stored_sums(mash.conn)) == history.records_sha256(mash.conn, 2)
    # merging the last run again writes nothing at all
    before = mash.conn.total_changes()
    with mash.conn:
        counts = upsert_run(mash.conn, paths[order[-1]])
    assert all(c.inserted == 0 and c.updated == 0 for c in counts.values())
    assert mash.conn.total_changes() == before
    mash.close()


# -- the whole lifecycle, on the toy provider ----------------------------------------------------------
def conv(cid, text="answer", at=1700000000):
    return {"id": cid, "title": cid, "turns": [
        {"id": "q", "parent": None, "who": "user", "said": f"question {cid}", "at": at},
        {"id": "a", "parent": "q", "who": "assistant", "said": text, "at": at + 1}]}


def merged_workspace(tmp_path, toy_plugin):
    pm = make_plugin_manager(load_entrypoints=False, extra=[("toy", toy_plugin.plugin)])
    ws = Workspace.open(tmp_path / "ws")
    path = tmp_path / "toy_export_a.json"
    path.write_text(json.dumps([conv("c1"), conv("c2")]))
    run = ingest(path, workspace=ws, pm=pm).run_id
    archive_run(ws, run)
    merge_run(ws, run)
    return ws, run


def test_a_no_op_remerge_leaves_the_mash_file_untouched(tmp_path, toy_plugin):
    ws, run = merged_workspace(tmp_path, toy_plugin)
    before = (ws.mash_path.read_bytes(), os.stat(ws.mash_path).st_mtime_ns)
    again = merge_run(ws, run)
    assert again.entry["action"] == "remerge" and not again.failed_gates
    assert all(c["inserted"] == 0 and c["updated"] == 0 for c in again.entry["counts"].values())
    assert (ws.mash_path.read_bytes(), os.stat(ws.mash_path).st_mtime_ns) == before
    assert again.entry["mash_sha256_after"] == again.entry["mash_sha256_before"]


def test_the_change_counter_vouches_and_an_sql_edit_is_caught(tmp_path, toy_plugin):
    ws, _run = merged_workspace(tmp_path, toy_plugin)
    check = records_check(ws)
    assert check["status"] == "ok" and check["method"] == "change counter"
    assert records_check(ws, deep=True)["status"] == "ok"
    conn = apsw.Connection(str(ws.mash_path))
    conn.execute("UPDATE messages SET text = 'edited' WHERE role = 'assistant' AND conversation_id = 'c1'")
    conn.close()
    check = records_check(ws)
    assert check["status"] == "mismatch" and check["method"] == "every row"


def test_an_edit_that_drops_the_triggers_is_still_caught(tmp_path, toy_plugin):
    ws, _run = merged_workspace(tmp_path, toy_plugin)
    conn = apsw.Connection(str(ws.mash_path))
    for (name,) in list(conn.execute("SELECT name FROM sqlite_schema WHERE type = 'trigger' AND name LIKE 'records_digest_%'")):
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("UPDATE conversations SET title = 'edited'")
    conn.close()
    assert records_check(ws)["status"] == "mismatch"


def test_an_edit_undone_is_not_a_mismatch(tmp_path, toy_plugin):
    ws, _run = merged_workspace(tmp_path, toy_plugin)
    conn = apsw.Connection(str(ws.mash_path))
    title = conn.execute("SELECT title FROM conversations WHERE conversation_id = 'c1'").get
    conn.execute("UPDATE conversations SET title = 'x' WHERE conversation_id = 'c1'")
    conn.execute("UPDATE conversations SET title = ? WHERE conversation_id = 'c1'", (title,))
    conn.close()
    check = records_check(ws)
    assert check["status"] == "ok" and check["method"] == "every row"


def test_the_archived_run_db_is_the_sealed_file_linked_and_read_only(tmp_path, toy_plugin):
    ws, run = merged_workspace(tmp_path, toy_plugin)
    live = ws.run_db_path("toy", run)
    archived = ws.archive_run_dir("toy", run) / live.name
    assert os.path.samefile(live, archived)
    assert not os.stat(archived).st_mode & 0o222
